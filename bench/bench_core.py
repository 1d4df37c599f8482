"""Core store benchmark (issue 2): llmtrail vs raw psycopg 3 vs the SQLAlchemy ORM, on PostgreSQL.

    .venv/bin/python bench/bench_core.py [--quick]

One run, one fresh database, fixed-seed data, arms interleaved (see BENCHMARKS.md):

1. lifecycle per message — placeholder insert, then completion update, each committed:
   llmtrail (``open_store``/``create_placeholder``/``update``) vs raw psycopg (the same two
   prepared statements) vs the ORM with a session per operation.
   Targets: llmtrail ≥ 0.8× raw, ≥ 3× ORM.
2. bulk: ``store.store_many`` in batches of 1,000 vs raw ``COPY`` of the same batches, each
   batch committed. Target ≥ 0.5× COPY.
3. ``store.get`` latency vs a raw prepared SELECT by message_id, on ≥ 100,000 trails.
   Target p99 ≤ 2× raw.

llmtrail does more per write than the raw arms: validation, the implicit project upsert (cached
after first use) and the ``usage_rollups`` row kept up to date in the same transaction.
"""

from __future__ import annotations

import dataclasses
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import BigInteger, DateTime, Integer, Numeric, String, create_engine, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent))

import llmtrail
from common import (
    Msg,
    bench_args,
    check,
    chunks,
    fresh_database,
    gen_messages,
    interleave_units,
    latency_summary,
    pooled_percentile,
    print_header,
    print_table,
    project_ids,
    rates,
    ratio_line,
    vacuum_analyze,
)
from llmtrail.ids import uuid7

COLS = (
    "id, message_id, project_id, timestamp, model, reasoning, context_layers, prompt_tokens, "
    "completion_tokens, total_tokens, cost_prompt, cost_completion, cost_total, cost_source, "
    "status, metadata, created_at, updated_at"
)
RAW_INSERT = (
    f"INSERT INTO audit_trails ({COLS}) VALUES "
    "(%s, %s, %s, %s, %s, NULL, %s, 0, 0, 0, 0, 0, 0, 'unpriced', 'pending', %s, %s, %s)"
)
RAW_UPDATE = (
    "UPDATE audit_trails SET reasoning = %s, prompt_tokens = %s, completion_tokens = %s, "
    "total_tokens = %s, cost_prompt = %s, cost_completion = %s, cost_total = %s, "
    "cost_source = 'provided', status = 'completed', updated_at = %s WHERE message_id = %s"
)
ALL_COLS = (
    "id, message_id, project_id, timestamp, model, reasoning, context_layers, prompt_tokens, "
    "completion_tokens, total_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, "
    "cost_prompt, cost_completion, cost_total, cost_source, price_version, status, metadata, "
    "created_at, updated_at"
)
RAW_SELECT = f"SELECT {ALL_COLS} FROM audit_trails WHERE message_id = %s"
ZERO = Decimal(0)
SUMMARY: list[str] = []


# Folded rollups plus the increments not folded yet, in one snapshot (issue 13).
USAGE_TOTALS = (
    "SELECT sum(messages), sum(total_tokens), sum(cost_total) FROM ("
    " SELECT messages, total_tokens, cost_total FROM usage_rollups"
    " UNION ALL SELECT messages, total_tokens, cost_total FROM usage_deltas) AS u"
)


def report(
    label: str, value: float, baseline: float, target: float, *, higher_is_better: bool = True
) -> None:
    """Print a ratio against its target and keep it for the summary."""
    line = ratio_line(label, value, baseline, target, higher_is_better=higher_is_better)[0]
    print("   " + line)
    SUMMARY.append(line)


# -- the ORM arm: a declarative model of the same table, as an application would write it -------


class Base(DeclarativeBase):
    pass


class Trail(Base):
    __tablename__ = "audit_trails"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    project_id: Mapped[str] = mapped_column(String(64))
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    model: Mapped[str] = mapped_column(String(200))
    reasoning: Mapped[Any] = mapped_column(JSONB, nullable=True)
    context_layers: Mapped[int] = mapped_column(Integer)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger)
    completion_tokens: Mapped[int] = mapped_column(BigInteger)
    total_tokens: Mapped[int] = mapped_column(BigInteger)
    cost_prompt: Mapped[Decimal] = mapped_column(Numeric(38, 18))
    cost_completion: Mapped[Decimal] = mapped_column(Numeric(38, 18))
    cost_total: Mapped[Decimal] = mapped_column(Numeric(38, 18))
    cost_source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    metadata_: Mapped[Any] = mapped_column("metadata", JSONB, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# -- helpers ---------------------------------------------------------------------------------------


def renamed(msgs: Sequence[Msg], prefix: str) -> list[Msg]:
    """The same messages under an arm's own message ids."""
    return [dataclasses.replace(m, message_id=f"{prefix}-{m.message_id}") for m in msgs]


def arm_totals(conn: psycopg.Connection[Any], prefix: str) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE status = 'completed'), "
        "coalesce(sum(total_tokens), 0), coalesce(sum(cost_total), 0), "
        "coalesce(sum(length(reasoning::text)), 0) FROM audit_trails WHERE message_id LIKE %s",
        (prefix + "-%",),
    ).fetchone()
    assert row is not None
    return tuple(row)


def copy_rows(msgs: Sequence[Msg], now: datetime) -> list[tuple[Any, ...]]:
    return [
        (
            uuid7(),
            m.message_id,
            m.project_id,
            m.timestamp,
            m.model,
            Jsonb(m.reasoning),
            m.context_layers,
            m.prompt_tokens,
            m.completion_tokens,
            m.total_tokens,
            m.cost_prompt,
            m.cost_completion,
            m.cost_total,
            "provided",
            "completed",
            Jsonb(m.metadata),
            now,
            now,
        )
        for m in msgs
    ]


def raw_copy(conn: psycopg.Connection[Any], msgs: Sequence[Msg]) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY audit_trails ({COLS}) FROM STDIN") as cp:
        for row in copy_rows(msgs, datetime.now(UTC)):
            cp.write_row(row)
    conn.commit()


# -- 1. lifecycle --------------------------------------------------------------------------------


def lifecycle(url: str, seed: int, n: int, rounds: int) -> None:
    print(f"-- 1. lifecycle per message: placeholder insert + completion update, {n} × {rounds}")
    base = gen_messages(n * rounds, seed=seed, prefix="life")
    store = llmtrail.open_store(url)
    raw = psycopg.connect(url)
    orm_engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    new_session = sessionmaker(orm_engine)
    # The projects exist (llmtrail would create them implicitly; the raw arms need the rows).
    for pid in project_ids():
        store.create_project(pid)
    raw_ac = psycopg.connect(url, autocommit=True)
    data = {a: renamed(base, a) for a in ("lt", "raw", "orm", "rawac")}

    def lt_unit(k: int) -> None:
        m = data["lt"][k]
        store.create_placeholder(
            m.message_id,
            m.model,
            m.context_layers,
            project_id=m.project_id,
            timestamp=m.timestamp,
            metadata=m.metadata,
        )
        store.update(m.message_id, **m.completion())

    def raw_unit(conn: psycopg.Connection[Any], key: str) -> Callable[[int], None]:
        # commit() is a no-op on an autocommit connection (each statement commits itself)
        def unit(k: int) -> None:
            m = data[key][k]
            now = datetime.now(UTC)
            conn.execute(
                RAW_INSERT,
                (
                    uuid7(),
                    m.message_id,
                    m.project_id,
                    m.timestamp,
                    m.model,
                    m.context_layers,
                    Jsonb(m.metadata),
                    now,
                    now,
                ),
                prepare=True,
            )
            conn.commit()
            conn.execute(
                RAW_UPDATE,
                (
                    Jsonb(m.reasoning),
                    m.prompt_tokens,
                    m.completion_tokens,
                    m.total_tokens,
                    m.cost_prompt,
                    m.cost_completion,
                    m.cost_total,
                    datetime.now(UTC),
                    m.message_id,
                ),
                prepare=True,
            )
            conn.commit()

        return unit

    def orm_unit(k: int) -> None:
        m = data["orm"][k]
        now = datetime.now(UTC)
        with new_session() as sess:
            sess.add(
                Trail(
                    id=uuid7(),
                    message_id=m.message_id,
                    project_id=m.project_id,
                    timestamp=m.timestamp,
                    model=m.model,
                    reasoning=None,
                    context_layers=m.context_layers,
                    prompt_tokens=0,
                    completion_tokens=0,
                    total_tokens=0,
                    cost_prompt=ZERO,
                    cost_completion=ZERO,
                    cost_total=ZERO,
                    cost_source="unpriced",
                    status="pending",
                    metadata_=m.metadata,
                    created_at=now,
                    updated_at=now,
                )
            )
            sess.commit()
        with new_session() as sess:
            t = sess.scalars(select(Trail).where(Trail.message_id == m.message_id)).one()
            t.reasoning = m.reasoning
            t.prompt_tokens = m.prompt_tokens
            t.completion_tokens = m.completion_tokens
            t.total_tokens = m.total_tokens
            t.cost_prompt = m.cost_prompt
            t.cost_completion = m.cost_completion
            t.cost_total = m.cost_total
            t.cost_source = "provided"
            t.status = "completed"
            t.updated_at = datetime.now(UTC)
            sess.commit()

    runs = interleave_units(
        [
            ("llmtrail", lt_unit),
            ("raw psycopg", raw_unit(raw, "raw")),
            ("ORM session/op", orm_unit),
            ("raw, autocommit", raw_unit(raw_ac, "rawac")),
        ],
        rounds,
        n,
    )
    rows = []
    for name, rs in runs.items():
        lat = latency_summary(rs)
        rows.append(
            [
                name,
                rates(rs).fmt(0),
                lat[50].fmt(2),
                lat[99].fmt(2),
                f"{pooled_percentile(rs, 99):.2f}",
            ]
        )
    print_table(
        ["arm", "messages/s (min–max)", "p50 ms (min–max)", "p99 ms (min–max)", "p99 all"], rows
    )
    with psycopg.connect(url) as conn:
        totals = {a: arm_totals(conn, a) for a in data}
        check(
            "lifecycle arms wrote the same data (count, completed, tokens, cost, reasoning)",
            len(set(totals.values())) == 1,
            str(totals["lt"]),
        )
        ru = conn.execute(USAGE_TOTALS).fetchone()
        check(
            "llmtrail's usage aggregates equal its trails",
            ru is not None and tuple(ru) == (totals["lt"][0], totals["lt"][2], totals["lt"][3]),
            str(ru),
        )
    lt, rw, orm, ac = (rates(rs).median for rs in runs.values())
    report("lifecycle: llmtrail / raw psycopg (prepared, commit each)", lt, rw, 0.8)
    report("lifecycle: llmtrail / ORM session per operation", lt, orm, 3.0)
    report("lifecycle: llmtrail / raw autocommit statements", lt, ac, 0.8)
    print(
        f"   (each arm commits twice per message — the WAL flushes alone bound every arm: "
        f"the autocommit arm, 2 round trips + 2 commits, is {ac / orm:.2f}× the ORM)"
    )
    print()
    store.close()
    raw.close()
    raw_ac.close()
    orm_engine.dispose()


# -- 2. bulk -------------------------------------------------------------------------------------


def bulk(url: str, seed: int, n: int, rounds: int, batch: int = 1_000) -> None:
    print(f"-- 2. bulk: store_many vs COPY, {n} rows × {rounds}, batches of {batch} committed")
    base = gen_messages(n * rounds, seed=seed + 1, prefix="bulk")
    data = {a: renamed(base, a) for a in ("ltb", "copy")}
    store = llmtrail.open_store(url)
    raw = psycopg.connect(url)

    def store_unit(k: int) -> None:
        out = store.store_many([m.as_input() for m in data["ltb"][k * batch : (k + 1) * batch]])
        assert all(not isinstance(o, Exception) for o in out), out[:3]

    def copy_unit(k: int) -> None:
        raw_copy(raw, data["copy"][k * batch : (k + 1) * batch])

    runs = interleave_units(
        [("llmtrail store_many", store_unit), ("raw COPY", copy_unit)],
        rounds,
        n // batch,
        items_per_unit=batch,
    )
    rows = []
    for name, rs in runs.items():
        lat = latency_summary(rs)
        rows.append([name, rates(rs).fmt(0), lat[50].fmt(1), lat[99].fmt(1)])
    print_table(["arm", "rows/s (min–max)", "batch p50 ms", "batch p99 ms"], rows)
    with psycopg.connect(url) as conn:
        totals = {a: arm_totals(conn, a) for a in data}
        check(
            "bulk arms wrote the same data (count, completed, tokens, cost, reasoning)",
            len(set(totals.values())) == 1,
            str(totals["copy"]),
        )
        ru = conn.execute(USAGE_TOTALS).fetchone()
        lt = conn.execute(
            "SELECT count(*), sum(total_tokens), sum(cost_total) FROM audit_trails "
            "WHERE message_id LIKE 'lt-%' OR message_id LIKE 'ltb-%'"
        ).fetchone()
        check("llmtrail's usage aggregates equal its trails", ru == lt, str(ru))
    a, b = (rates(rs).median for rs in runs.values())
    report("bulk: store_many / COPY (rows/s)", a, b, 0.5)
    print()
    store.close()
    raw.close()


# -- 3. get --------------------------------------------------------------------------------------


def point_reads(url: str, seed: int, table_rows: int, n: int, rounds: int) -> None:
    with psycopg.connect(url) as conn:
        have = conn.execute("SELECT count(*) FROM audit_trails").fetchone()
        need = table_rows - (have[0] if have else 0)
        conn.execute(
            "INSERT INTO projects (id, name, created_at) SELECT p, p, now() "
            "FROM unnest(%s::text[]) AS p ON CONFLICT DO NOTHING",
            (project_ids(),),
        )
        if need > 0:
            for part in chunks(gen_messages(need, seed=seed + 2, prefix="fill"), 5_000):
                raw_copy(conn, part)
        ids = [r[0] for r in conn.execute("SELECT message_id FROM audit_trails")]
    vacuum_analyze(url, "audit_trails")
    print(f"-- 3. get by message_id: {n} lookups × {rounds} on {len(ids):,} trails")
    rng = random.Random(seed)
    picks = rng.sample(ids, n * rounds)
    store = llmtrail.open_store(url)
    raw = psycopg.connect(url, autocommit=True)
    seen: dict[str, list[tuple[Any, ...]]] = {"llmtrail": [], "raw": []}

    def get_unit(k: int) -> None:
        t = store.get(picks[k])
        assert t is not None
        seen["llmtrail"].append((t.message_id, t.tokens.total, t.cost.total if t.cost else None))

    def raw_unit(k: int) -> None:
        row = raw.execute(RAW_SELECT, (picks[k],), prepare=True).fetchone()
        assert row is not None
        seen["raw"].append((row[1], row[9], row[15]))

    runs = interleave_units(
        [("llmtrail get", get_unit), ("raw prepared SELECT", raw_unit)], rounds, n
    )
    rows = []
    for name, rs in runs.items():
        lat = latency_summary(rs, (50, 90, 99))
        rows.append(
            [
                name,
                rates(rs).fmt(0),
                lat[50].fmt(3),
                lat[90].fmt(3),
                lat[99].fmt(3),
                f"{pooled_percentile(rs, 99):.3f}",
            ]
        )
    print_table(["arm", "gets/s", "p50 ms", "p90 ms", "p99 ms", "p99 all"], rows)
    check("both arms read the same trails", seen["llmtrail"] == seen["raw"])
    lt, rw = (latency_summary(rs)[99].median for rs in runs.values())
    lt50, rw50 = (latency_summary(rs)[50].median for rs in runs.values())
    report("get: p99 / raw prepared SELECT p99", lt, rw, 2.0, higher_is_better=False)
    print(f"   get: p50 / raw p50: {lt50 / rw50:.2f}×")
    print()
    store.close()
    raw.close()


def main(argv: list[str] | None = None) -> None:
    args = bench_args(
        __doc__.splitlines()[0] if __doc__ else "",
        argv,
        extra=[("--only", "comma-separated parts to run: lifecycle,bulk,get (default: all)")],
    )
    life, bulk_size, table, gets = (
        ((60, 3), (2_000, 3), 20_000, (500, 3))
        if args.quick
        else ((500, 7), (10_000, 5), 100_000, (5_000, 7))
    )
    with fresh_database("bench_core", admin=args.pg) as url:
        print_header(
            "llmtrail core store benchmark (issue 2)",
            url,
            seed=args.seed,
            mode="quick" if args.quick else "full",
        )
        started = time.perf_counter()
        parts = set(args.only.split(",")) if args.only else {"lifecycle", "bulk", "get"}
        if "lifecycle" in parts:
            lifecycle(url, args.seed, *life)
        if "bulk" in parts:
            bulk(url, args.seed, *bulk_size)
        if "get" in parts:
            point_reads(url, args.seed, table, *gets)
        print("== summary ==")
        for line in SUMMARY:
            print("   " + line)
        print(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
