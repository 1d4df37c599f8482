"""The store interface and its backends; ``open_store`` picks one from a URL."""

from __future__ import annotations

import logging
from typing import Any

from llmtrail.config import Settings, load_settings
from llmtrail.errors import ValidationError
from llmtrail.model import Pricer
from llmtrail.store.base import Store
from llmtrail.store.memory import MemoryStore

log = logging.getLogger("llmtrail")


def open_store(
    url: str | None = None,
    *,
    settings: Settings | None = None,
    pricer: Pricer | None = None,
    auto_migrate: bool | None = None,
    **kw: Any,
) -> Store:
    """Open a store: ``sqlite:///path``, ``postgresql://…`` or ``memory://``.

    Without a URL the store is configured from the environment (SPEC §5): the backend from
    ``AUDIT_TRAIL_BACKEND`` and the database from ``DATABASE_URL``. Database backends are
    brought to the current schema first unless ``AUDIT_TRAIL_AUTO_MIGRATE=false``.
    """
    s = settings or load_settings()
    if pricer is None:
        pricer = default_pricer(s)
    common: dict[str, Any] = {
        "pricer": pricer,
        "retention_days": s.retention_days,
        "min_retention_days": s.min_retention_days,
        "access_log_days": s.access_log_days,
        **kw,
    }
    migrate = s.auto_migrate if auto_migrate is None else auto_migrate
    if url is None:
        if s.backend == "memory":
            url = "memory://"
        elif s.backend == "dual":
            dual = _open_dual(s, common, migrate)
            dual.signer_source = lambda: _signer(s)
            return dual
        else:
            url = s.database_url
    if not isinstance(url, str):
        raise ValidationError("must be a database URL string", field="url")
    if url.startswith("memory:"):
        store: Store = MemoryStore(max_entries=s.memory_max_entries, **common)
    else:
        store = _open_sql(url, s, common, migrate)
    store.signer_source = lambda: _signer(s)
    log.info("audit trail store: backend=%s database=%s", store.backend, store.database)
    return store


def _signer(s: Settings) -> Any:
    from llmtrail.ledger.signing import load_signer

    return load_signer(s.signing_key, s.signing_key_file)


def _open_sql(url: str, s: Settings, common: dict[str, Any], migrate: bool) -> Store:
    from sqlalchemy import exc

    from llmtrail.errors import UnavailableError
    from llmtrail.store.sql.dialects import behind_transaction_pooler, make_engine, normalize_url
    from llmtrail.store.sql.migrate import ensure_schema
    from llmtrail.store.sql.store import SQLStore

    sql_url = normalize_url(url)
    pooled = behind_transaction_pooler(sql_url, s.pooler)
    engine = make_engine(sql_url, transaction_pooler=pooled, pool_size=s.pool_size)
    try:
        ensure_schema(engine, auto_migrate=migrate)
    except exc.OperationalError as e:
        engine.dispose()
        reason = str(e.orig or e).strip().splitlines()[0]
        raise UnavailableError(f"cannot reach the database: {reason}") from e
    except Exception:
        engine.dispose()
        raise
    read_engine = None
    if s.read_database_url:
        read_url = normalize_url(s.read_database_url)
        if read_url.get_backend_name() != "postgresql" or engine.dialect.name != "postgresql":
            engine.dispose()
            raise ValidationError(
                "a read replica needs PostgreSQL for both the primary and the replica",
                field="AUDIT_TRAIL_READ_DATABASE_URL",
            )
        pooled_read = behind_transaction_pooler(read_url, s.pooler)
        read_engine = make_engine(read_url, transaction_pooler=pooled_read, pool_size=s.pool_size)
    return SQLStore(
        engine,
        read_engine=read_engine,
        transaction_pooler=pooled,
        rollup_retention_days=s.rollup_retention_days,
        cleanup_batch_size=s.cleanup_batch_size,
        cleanup_pause_ratio=s.cleanup_pause_ratio,
        fold_seconds=s.usage_fold_seconds,
        ledger=s.ledger,
        **common,
    )


def _open_dual(s: Settings, common: dict[str, Any], migrate: bool) -> Store:
    from llmtrail.store import dual

    return dual.open_dual(s, common, migrate)


def default_pricer(s: Settings) -> Pricer | None:
    """The price book: ``AUDIT_TRAIL_PRICE_FILE`` (if set) before the genai-prices dataset."""
    try:
        from llmtrail.pricing import make_pricer
    except ImportError:
        return None
    return make_pricer(s.price_file)


__all__ = ["MemoryStore", "Store", "open_store"]
