"""Shared fixtures: real PostgreSQL databases (from a migrated template) and SQLite files.

PostgreSQL tests need a server (127.0.0.1:5432, trust auth, user postgres by default; set
LLMTRAIL_TEST_PG to change it). Without one they skip loudly on a laptop; with CI=true they
fail, so CI can never go green without exercising PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql

PG_ADMIN = os.environ.get("LLMTRAIL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _pg_base() -> str:
    return PG_ADMIN.rsplit("/", 1)[0]


def missing(what: str, why: str) -> None:
    """Skip on a laptop, fail in CI: a test that needs ``what`` must run there."""
    message = f"{what} is not available ({why})"
    if IN_CI:
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(f"!!! SKIPPED: {message} !!!")


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[psycopg.Connection]:
    try:
        conn = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        missing("PostgreSQL", str(e).strip().splitlines()[0])
        raise
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def pg_template(pg_admin: psycopg.Connection) -> Iterator[str]:
    """A migrated database used as the template of every test database (fast to copy)."""
    from llmtrail.store.sql.dialects import make_engine, normalize_url
    from llmtrail.store.sql.migrate import upgrade

    name = f"llmtrail_tpl_{uuid.uuid4().hex[:10]}"
    pg_admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    engine = make_engine(normalize_url(f"{_pg_base()}/{name}"))
    upgrade(engine)
    engine.dispose()
    yield name
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
    pg_admin.execute(drop.format(sql.Identifier(name)))


@pytest.fixture
def pg_database(pg_admin: psycopg.Connection, pg_template: str) -> Iterator[Callable[..., str]]:
    """A factory of fresh PostgreSQL databases; returns their plain ``postgresql://`` URLs.

    ``pg_database()`` copies the migrated template; ``pg_database(empty=True)`` is blank.
    """
    made: list[str] = []

    def make(empty: bool = False) -> str:
        name = f"llmtrail_test_{uuid.uuid4().hex[:12]}"
        if empty:
            pg_admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        else:
            pg_admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(pg_template)
                )
            )
        made.append(name)
        return f"{_pg_base()}/{name}"

    yield make
    for name in made:
        pg_admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def pg_url(pg_database: Callable[..., str]) -> str:
    """One fresh, migrated PostgreSQL database for this test."""
    return pg_database()


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    """A fresh SQLite file for this test."""
    return f"sqlite:///{tmp_path}/llmtrail.db"  # type: ignore[str-bytes-safe]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    """No test reads the developer's .env or environment by accident."""
    for key in list(os.environ):
        if key.startswith("AUDIT_TRAIL_") or key == "DATABASE_URL":
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _structlog_as_it_was() -> Iterator[None]:
    """A CLI command run in-process configures structlog (loggers cached on first use); put
    the configuration back, or a later test's ``capture_logs`` sees nothing."""
    import structlog

    before = structlog.get_config()
    yield
    structlog.configure(**before)


_PG_FIXTURES = frozenset(
    {"pg_admin", "pg_template", "pg_database", "pg_url", "module_pg_url", "pgbouncer", "pooled_url"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that reaches PostgreSQL ``postgres`` (``-m "not postgres"`` runs the
    rest on a laptop without one): by its fixtures, or by a backend parameter."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        params = callspec.params.values() if callspec is not None else ()
        if names & _PG_FIXTURES or any(p in ("postgresql", "dual") for p in params):
            item.add_marker(pytest.mark.postgres)
