"""Settings: the one place that reads the environment (and a ``.env`` file), SPEC §5."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pydantic
from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmtrail.errors import FieldError, ValidationError


class Settings(BaseSettings):
    """Every knob of llmtrail, read from ``AUDIT_TRAIL_*``/``DATABASE_URL`` and ``.env``."""

    model_config = SettingsConfigDict(
        env_prefix="AUDIT_TRAIL_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    backend: Literal["database", "memory", "dual"] = "database"
    database_url: str = Field("sqlite:///llmtrail.db", validation_alias="DATABASE_URL")
    #: PostgreSQL: a streaming replica for list, export, analytics and the dashboard (writes
    #: and look-ups by messageId stay on the primary: they must see their own writes)
    read_database_url: str | None = None
    #: a floor no retention may go below (the EU AI Act asks for six months: 183); before
    #: ``retention_days``, which is checked against it
    min_retention_days: int = Field(0, ge=0, le=36_500)
    retention_days: int = Field(7, ge=0, le=36_500)
    #: how long the access log (who read which trails) is kept
    access_log_days: int = Field(400, ge=1, le=36_500)
    cleanup_cron: str = "0 2 * * *"
    cleanup_tz: str = "UTC"
    cleanup_batch_size: int = Field(200, ge=1, le=1_000_000)
    # PostgreSQL: after each cleanup batch, pause this many times the batch's duration, so
    # concurrent inserts keep their latency (0 = purge flat out, e.g. in a maintenance window).
    cleanup_pause_ratio: float = Field(6.0, ge=0, le=100)
    auto_migrate: bool = True
    #: PostgreSQL behind a transaction-mode pooler (PgBouncer, Supabase/Neon poolers, RDS
    #: Proxy): ``transaction`` turns prepared statements off; ``auto`` assumes one on ports
    #: 6432/6543 or a host name containing "pooler"; ``none`` never
    pooler: Literal["auto", "none", "transaction"] = "auto"
    admin_key: str | None = None
    max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024)
    #: the request line plus headers of one request, in bytes (over it: 431)
    max_header_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    #: header fields of one request (over it: 431)
    max_headers: int = Field(100, ge=8, le=10_000)
    #: seconds a request head may take to arrive (then 408 and the connection closes)
    header_timeout_seconds: float = Field(10.0, ge=0, le=3600)
    #: how long the server trusts a looked-up project key (revocations through the API
    #: apply at once in every worker; through the CLI or another replica within this many
    #: seconds; 0 = off)
    auth_cache_seconds: float = Field(1.0, ge=0, le=300)
    #: internal: the change counter ``serve --workers N`` shares with its workers
    auth_epoch_file: Path | None = None
    #: batch concurrent POSTs of trails into one transaction (each answered after its commit)
    group_commit: bool = True
    #: store calls the server runs at once (worker threads); keep near the connection pool
    store_threads: int = Field(4, ge=1, le=256)
    rollup_retention_days: int = Field(400, ge=1)
    #: PostgreSQL: connections each process keeps in its pool (and as many again on bursts);
    #: the hot paths keep up to this many checked out in autocommit mode between calls
    pool_size: int = Field(10, ge=1, le=1000)
    #: PostgreSQL: writers append usage deltas; a background thread folds them into the
    #: daily rollups at most this often (0 = never in the background: ``llmtrail fold`` or
    #: the daily cleanup folds them). Analytics are exact either way.
    usage_fold_seconds: float = Field(1.0, ge=0, le=3600)
    memory_max_entries: int = Field(100_000, ge=1)
    #: tamper evidence (SPEC §9): every trail write appends a ledger entry (``off`` only to
    #: measure what it costs: nothing written meanwhile can be verified)
    ledger: bool = True
    #: the Ed25519 key that signs ledger checkpoints (PEM, or the 32-byte seed in base64/hex);
    #: unset: the key file below, generated on first use
    signing_key: str | None = None
    signing_key_file: Path = Path("llmtrail-signing-key.pem")
    #: ``serve`` seals the ledger into a signed checkpoint this often (0 = only ``llmtrail
    #: seal`` and the cleanup do)
    seal_seconds: float = Field(60.0, ge=0, le=86_400)
    #: budget alerts (SPEC §12): where ``serve`` POSTs them (unset: none are sent), the HMAC
    #: secret that signs them, and how often budgets are checked
    alert_webhook_url: str | None = None
    alert_secret: str | None = None
    alert_check_seconds: float = Field(30.0, gt=0, le=86_400)
    dual_source_url: str | None = None
    dual_read: Literal["source", "target"] = "source"
    dual_outbox: Path = Path("llmtrail-outbox.db")
    dual_replay_interval: float = Field(2.0, gt=0, le=3600)
    price_file: Path | None = None
    backup_dir: Path = Path("backups")
    log_level: str = "INFO"
    log_format: Literal["console", "json"] = "console"
    upstream_provider: Literal["anthropic", "openai"] = "anthropic"
    upstream_base_url: str | None = None
    upstream_api_key: str | None = None
    upstream_model: str = "claude-sonnet-4-5"

    @field_validator("backend", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("retention_days")
    @classmethod
    def _retention_above_floor(cls, v: int, info: ValidationInfo) -> int:
        floor = info.data.get("min_retention_days", 0)
        if v < floor:
            raise ValueError(f"is below AUDIT_TRAIL_MIN_RETENTION_DAYS ({floor})")
        return v


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides on top.

    A bad value raises ``llmtrail.ValidationError`` naming the environment variable.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except pydantic.ValidationError as e:
        raise ValidationError(
            [FieldError(_env_name(err["loc"]), err["msg"]) for err in e.errors()]
        ) from None


def _env_name(loc: tuple[int | str, ...]) -> str:
    name = str(loc[0]) if loc else ""
    if name.upper() == "DATABASE_URL":
        return "DATABASE_URL"
    return "AUDIT_TRAIL_" + name.upper()
