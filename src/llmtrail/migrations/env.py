"""Alembic environment: runs on the connection llmtrail hands over (see store/sql/migrate.py)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from llmtrail.store.sql.schema import metadata

config = context.config
connection = config.attributes.get("connection")


def _run(conn: object) -> None:
    context.configure(
        connection=conn,  # type: ignore[arg-type]
        target_metadata=metadata,
        render_as_batch=True,  # SQLite needs table rebuilds for most ALTERs
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:  # plain `alembic` command line, for developers writing a new revision
    url = config.get_main_option("sqlalchemy.url") or "sqlite:///llmtrail.db"
    with create_engine(url).connect() as conn:
        _run(conn)
