"""Alembic migrations shipped inside the package: one history for SQLite and PostgreSQL."""
