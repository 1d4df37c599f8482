"""The SQL text and value conversions of the PostgreSQL hot paths (``pg_fast.py``).

Statements are plain strings run as prepared statements by psycopg; values are converted
here exactly as the Core column types do (``types.py``): money as exact ``NUMERIC`` (read
back without trailing zeros), instants as UTC ``timestamptz``, JSON columns as JSONB with JSON
``null`` for None (as SQLAlchemy's JSON type stores it), integers typed ``int8`` so every
execution reuses one prepared statement. Usage increments are appended to ``usage_deltas``
(folded into ``usage_rollups`` later by ``usage.fold``); their buckets are 15-minute UTC
``date_bin`` buckets, equal to ``rows.bucket_of``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import localcontext
from typing import Any

from psycopg.types.json import Jsonb
from psycopg.types.numeric import Int8

from llmtrail.ledger.entries import content_hash, written
from llmtrail.model import AuditTrail, Cost, TokenUsage
from llmtrail.model.rules import plain
from llmtrail.store.sql import dialects, usage
from llmtrail.store.sql.rows import bucket_of, same_value, usage_delta
from llmtrail.store.sql.schema import audit_trails

COLUMNS: tuple[str, ...] = tuple(audit_trails.c.keys())
_COLS = ", ".join(f'"{c}"' for c in COLUMNS)
_SUMS = ("prompt_tokens", "completion_tokens", "total_tokens")
_MONEY = ("cost_prompt", "cost_completion", "cost_total")
_ROLLUP_COLS = usage.COLUMNS
# 15-minute UTC buckets, as rows.bucket_of computes them in Python.
_BUCKET = "date_bin('15 minutes', \"timestamp\", TIMESTAMPTZ '2000-01-01 00:00:00+00')"
_INCOMING = "llmtrail_incoming"


_LEDGER_COLS = "txid, project_id, op, message_id, content_hash, trail_timestamp, at"
_TXID = dialects.PG_TXID
# The ledger entries of the trails an INSERT … RETURNING actually inserted: their hashes come
# as two parallel arrays (message ids, SHA-256), see ``ledger_arrays``.
_LEDGER_OF_INS = f"""
, led AS (
    INSERT INTO ledger_entries ({_LEDGER_COLS})
    SELECT {_TXID}, ins.project_id, 'create', ins.message_id, h.hash, ins."timestamp",
        ins.updated_at
    FROM ins JOIN unnest(%s::text[], %s::bytea[]) AS h(mid, hash) ON h.mid = ins.message_id
)"""


def _insert_sql(source: str, ledger: bool) -> str:
    """Insert trails from ``source`` and append the usage (and the ledger entries) of the
    ones actually inserted."""
    return f"""
WITH ins AS (
    INSERT INTO audit_trails ({_COLS}) {source}
    ON CONFLICT (message_id) DO NOTHING
    RETURNING message_id, xmin::text AS version, project_id, "timestamp", model, updated_at,
        {", ".join(_SUMS + _MONEY)}
), rollup AS (
    INSERT INTO usage_deltas ({_ROLLUP_COLS})
    SELECT project_id, {_BUCKET}, model, count(*), {", ".join(f"sum({c})" for c in _SUMS + _MONEY)}
    FROM ins GROUP BY 1, 2, 3
){_LEDGER_OF_INS if ledger else ""}
SELECT message_id, version FROM ins"""


_ROLLUP_ROW = "(" + ", ".join(["%s"] * 10) + ")"
# One entry given as parameters: project, message id, hash, trail timestamp, time.
_LEDGER_ROW = f"""
, led AS (
    INSERT INTO ledger_entries ({_LEDGER_COLS})
    SELECT {_TXID}, %s, %s, %s, %s, %s, %s WHERE EXISTS (SELECT 1 FROM {{src}})
)"""


def _insert_one_sql(ledger: bool) -> str:
    # One trail: its rollup increment comes as parameters (``insert_one_values``), which
    # spares the server an aggregate over the CTE on the hottest write.
    return f"""
WITH ins AS (
    INSERT INTO audit_trails ({_COLS}) VALUES ({", ".join(["%s"] * len(COLUMNS))})
    ON CONFLICT (message_id) DO NOTHING
    RETURNING message_id, xmin::text AS version
), rollup AS (
    INSERT INTO usage_deltas ({_ROLLUP_COLS})
    SELECT * FROM (VALUES {_ROLLUP_ROW}) AS d ({_ROLLUP_COLS})
    WHERE EXISTS (SELECT 1 FROM ins)
){_LEDGER_ROW.format(src="ins") if ledger else ""}
SELECT message_id, version FROM ins"""


@dataclasses.dataclass(frozen=True)
class Statements:
    """The hot-path statements, with or without the ledger's appends."""

    ledger: bool
    insert_one: str
    insert_values: str
    insert_from_incoming: str


@functools.cache
def statements(ledger: bool) -> Statements:
    return Statements(
        ledger,
        _insert_one_sql(ledger),
        _insert_sql(f"VALUES ({', '.join(['%s'] * len(COLUMNS))})", ledger),
        _insert_sql(f"SELECT {_COLS} FROM {_INCOMING}", ledger),
    )


CREATE_INCOMING = (
    f"CREATE TEMP TABLE {_INCOMING} (LIKE audit_trails INCLUDING DEFAULTS) ON COMMIT DROP"
)
# Text COPY: PostgreSQL ingests it while the rows are still being validated and sent (with
# FORMAT BINARY it did not start before the end of the data here: no overlap, ~25 ms more per
# 1,000 rows). The types pick psycopg's dumpers, the same for every row.
COPY_INCOMING = f"COPY {_INCOMING} ({_COLS}) FROM STDIN"
COPY_DIRECT = f"COPY audit_trails ({_COLS}) FROM STDIN"
COPY_TYPES = (
    *("text", "text", "text", "timestamptz", "text", "jsonb", "int4"),
    *("int8", "int8", "int8", "int8", "int8", "int8"),
    *("numeric", "numeric", "numeric", "text", "text", "text", "jsonb"),
    *("timestamptz", "timestamptz", "text", "int8", "timestamptz"),
)
# Binary arrays (%b): half the client and server work of text arrays for a batch's rollups.
ROLLUP_ARRAYS = f"""
INSERT INTO usage_deltas ({_ROLLUP_COLS})
SELECT * FROM unnest(
    %b::text[], %b::timestamptz[], %b::text[], %b::int8[],
    %b::int8[], %b::int8[], %b::int8[], %b::numeric[], %b::numeric[], %b::numeric[]
)"""
# The ledger entries of a COPY's trails (all inserted: a duplicate fails the COPY).
LEDGER_ARRAYS = f"""
INSERT INTO ledger_entries ({_LEDGER_COLS})
SELECT {_TXID}, p, 'create', m, h, ts, at
FROM unnest(%b::text[], %b::text[], %b::bytea[], %b::timestamptz[], %b::timestamptz[])
    AS u(p, m, h, ts, at)"""
SELECT_ONE = f"SELECT {_COLS} FROM audit_trails WHERE message_id = %s"
SELECT_VERSIONED = f"SELECT {_COLS}, xmin::text FROM audit_trails WHERE message_id = %s"
SELECT_MANY = f"SELECT {_COLS} FROM audit_trails WHERE message_id = ANY(%s)"
INSERT_PROJECTS = (
    "INSERT INTO projects (id, name, retention_days, created_at) "
    "SELECT p, p, NULL, %s FROM unnest(%s::text[]) AS p ON CONFLICT DO NOTHING"
)
_SET_INDEXES = tuple(i for i, c in enumerate(COLUMNS) if c != "message_id")  # id too: copy
_UPDATED_AT = COLUMNS.index("updated_at")


@functools.lru_cache(maxsize=512)
def update_sql(changed: tuple[int, ...], deltas: int, ledger: bool = False) -> str:
    """The compare-and-set UPDATE of the ``changed`` columns (indexes into ``COLUMNS``), with
    ``deltas`` usage increments and (``ledger``) the ledger entry appended in the same
    statement if (and only if) it wrote."""
    sets = ", ".join(f'"{COLUMNS[i]}" = %s' for i in changed)
    update = (
        f"UPDATE audit_trails SET {sets} "
        "WHERE id = %s AND xmin::text = %s AND updated_at = %s RETURNING xmin::text AS version"
    )
    if not deltas and not ledger:
        return update
    rollup = f"""
, rollup AS (
    INSERT INTO usage_deltas ({_ROLLUP_COLS})
    SELECT * FROM (VALUES {", ".join([_ROLLUP_ROW] * deltas)}) AS d ({_ROLLUP_COLS})
    WHERE EXISTS (SELECT 1 FROM upd)
)"""
    led = _LEDGER_ROW.format(src="upd")
    return f"""
WITH upd AS ({update}){rollup if deltas else ""}{led if ledger else ""}
SELECT version FROM upd"""


def changed_values(old: AuditTrail, new: AuditTrail) -> tuple[tuple[int, ...], list[Any]]:
    """The columns an update from ``old`` to ``new`` must write (``updated_at`` always; JSON
    compared strictly, so ``1`` → ``true`` is a change) and their typed values."""
    o, n = _raw_values(old), _raw_values(new)
    changed = tuple(
        i
        for i in _SET_INDEXES
        if i == _UPDATED_AT or (o[i] is not n[i] and not same_value(o[i], n[i]))
    )
    return changed, [_typed(i, n[i]) for i in changed]


_JSON_AT = (COLUMNS.index("reasoning"), COLUMNS.index("metadata"))
_INT_AT = (
    *range(COLUMNS.index("context_layers"), COLUMNS.index("reasoning_tokens") + 1),
    COLUMNS.index("cache_write_1h_tokens"),
)


def _typed(i: int, v: Any) -> Any:
    if i in _JSON_AT:
        return Jsonb(v)
    if i in _INT_AT:
        return _int(v)
    return v


def _raw_values(t: AuditTrail) -> tuple[Any, ...]:
    """A trail's column values in ``COLUMNS`` order, untyped (see ``trail_values``)."""
    tk = t.tokens
    cost = t.cost or Cost()
    return (
        *(t.id, t.message_id, t.project_id, t.timestamp, t.model, t.reasoning),
        *(t.context_layers, tk.prompt, tk.completion, tk.total),
        *(tk.cache_read, tk.cache_write, tk.reasoning),
        *(cost.prompt, cost.completion, cost.total, t.cost_source, t.price_version),
        *(t.status, t.metadata, t.created_at, t.updated_at, t.provider, tk.cache_write_1h),
        t.content_redacted_at,
    )


# -- values ---------------------------------------------------------------------------------------


def _int(v: int | None) -> Int8 | None:
    return None if v is None else Int8(v)


def trail_values(t: AuditTrail) -> tuple[Any, ...]:
    """A trail's column values in ``COLUMNS`` order, typed for stable prepared statements.

    JSON columns hold JSON ``null`` for None, as SQLAlchemy's JSON type stores it.
    """
    tk = t.tokens
    cost = t.cost or Cost()
    return (
        t.id,
        t.message_id,
        t.project_id,
        t.timestamp,
        t.model,
        Jsonb(t.reasoning),
        Int8(t.context_layers),
        Int8(tk.prompt),
        Int8(tk.completion),
        _int(tk.total),
        _int(tk.cache_read),
        _int(tk.cache_write),
        _int(tk.reasoning),
        cost.prompt,
        cost.completion,
        cost.total,
        t.cost_source,
        t.price_version,
        t.status,
        Jsonb(t.metadata),
        t.created_at,
        t.updated_at,
        t.provider,
        _int(tk.cache_write_1h),
        t.content_redacted_at,
    )


_JSON_NULL = Jsonb(None)


def copy_values(t: AuditTrail) -> tuple[Any, ...]:
    """``trail_values`` for a text COPY (``COPY_TYPES`` fixes the types)."""
    tk = t.tokens
    cost = t.cost or Cost()
    return (
        t.id,
        t.message_id,
        t.project_id,
        t.timestamp,
        t.model,
        _JSON_NULL if t.reasoning is None else Jsonb(t.reasoning),
        t.context_layers,
        tk.prompt,
        tk.completion,
        tk.total,
        tk.cache_read,
        tk.cache_write,
        tk.reasoning,
        cost.prompt,
        cost.completion,
        cost.total,
        t.cost_source,
        t.price_version,
        t.status,
        _JSON_NULL if t.metadata is None else Jsonb(t.metadata),
        t.created_at,
        t.updated_at,
        t.provider,
        tk.cache_write_1h,
        t.content_redacted_at,
    )


def insert_one_values(t: AuditTrail, ledger: bool) -> tuple[Any, ...]:
    """The parameters of ``Statements.insert_one``: the trail's columns, its rollup increment
    and (``ledger``) its ledger entry."""
    values = (*trail_values(t), *delta_values(usage_delta(t)))
    return (*values, *entry_values(t, "create")) if ledger else values


def entry_values(t: AuditTrail, op: str) -> tuple[Any, ...]:
    """A ``_LEDGER_ROW``'s parameters: the entry of a write that left ``t`` stored."""
    e = written(t, op)
    return (e.project_id, e.op, e.message_id, e.content_hash, e.trail_timestamp, e.at)


def hash_arrays(trails: Sequence[AuditTrail]) -> list[list[Any]]:
    """``_LEDGER_OF_INS``'s parameters: message ids and content hashes."""
    return [[t.message_id for t in trails], [content_hash(t) for t in trails]]


def ledger_arrays(trails: Sequence[AuditTrail]) -> list[list[Any]]:
    """``LEDGER_ARRAYS``' parameters: the create entries of ``trails``."""
    return [
        [t.project_id for t in trails],
        [t.message_id for t in trails],
        [content_hash(t) for t in trails],
        [t.timestamp for t in trails],
        [t.updated_at for t in trails],
    ]


def _utc(d: datetime) -> datetime:
    return d.astimezone(UTC)


def values_to_trail(r: Sequence[Any]) -> AuditTrail:
    """The trail of a row selected as ``COLUMNS`` (same conversions as the Core types)."""
    return AuditTrail(
        id=r[0],
        message_id=r[1],
        project_id=r[2],
        timestamp=_utc(r[3]),
        model=r[4],
        reasoning=r[5],
        context_layers=r[6],
        tokens=TokenUsage(r[7], r[8], r[9], r[10], r[11], r[12], r[23]),
        cost=Cost(plain(r[13]), plain(r[14]), plain(r[15])),
        cost_source=r[16],
        price_version=r[17],
        status=r[18],
        metadata=r[19],
        created_at=_utc(r[20]),
        updated_at=_utc(r[21]),
        provider=r[22],
        content_redacted_at=None if r[24] is None else _utc(r[24]),
    )


def _check_layout() -> None:
    expected = [
        *("id", "message_id", "project_id", "timestamp", "model", "reasoning"),
        *("context_layers", "prompt_tokens", "completion_tokens", "total_tokens"),
        *("cache_read_tokens", "cache_write_tokens", "reasoning_tokens"),
        *("cost_prompt", "cost_completion", "cost_total", "cost_source", "price_version"),
        *("status", "metadata", "created_at", "updated_at"),
        *("provider", "cache_write_1h_tokens", "content_redacted_at"),
    ]
    if list(COLUMNS) != expected:  # pragma: no cover - guards trail_values/values_to_trail
        raise RuntimeError(f"audit_trails columns changed; update pg_statements.py: {COLUMNS}")


_check_layout()


def delta_values(d: dict[str, Any]) -> list[Any]:
    """A combined rollup delta (``rows.combine``) as VALUES parameters."""
    return [
        d["project_id"],
        d["bucket"],
        d["model"],
        Int8(d["messages"]),
        Int8(d["prompt_tokens"]),
        Int8(d["completion_tokens"]),
        Int8(d["total_tokens"]),
        d["cost_prompt"],
        d["cost_completion"],
        d["cost_total"],
    ]


def rollup_arrays(trails: Sequence[AuditTrail]) -> list[list[Any]]:
    """The rollup increments of inserted trails, one array per column of ``ROLLUP_ARRAYS``
    (messages, tokens and exact money summed per project, 15-minute bucket and model)."""
    acc: dict[tuple[Any, ...], list[Any]] = {}
    with localcontext() as ctx:
        ctx.prec = 60  # exact: sums of NUMERIC(38,18) values need more than 28 digits
        for t in trails:
            tk, c = t.tokens, t.cost or Cost()
            assert t.timestamp is not None
            key = (t.project_id, bucket_of(t.timestamp), t.model)
            a = acc.get(key)
            if a is None:
                acc[key] = [1, tk.prompt, tk.completion, tk.total, c.prompt, c.completion, c.total]
            else:
                a[0] += 1
                a[1] += tk.prompt
                a[2] += tk.completion
                a[3] += tk.total
                a[4] += c.prompt
                a[5] += c.completion
                a[6] += c.total
    keys = list(acc)
    sums = list(acc.values())
    return [[k[i] for k in keys] for i in range(3)] + [[v[i] for v in sums] for i in range(7)]
