"""Alembic migrations shipped inside the package: one history for SQLite and PostgreSQL."""

#: The newest revision of ``versions/``. Opening a store compares the database with this
#: constant (one ``SELECT``) instead of loading Alembic and every migration script, so a
#: serverless cold start on a current schema does no migration work. A new revision must
#: update it; ``tests/migrations`` checks that it equals Alembic's head.
HEAD = "0006"
