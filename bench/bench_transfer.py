"""Migration tooling: how fast ``llmtrail copy`` and ``verify`` move and check trails, and what
dual-write mode costs a writer.

1. copy — N trails (~1 KB reasoning, 1 % large) in a SQLite file, copied into a fresh
   PostgreSQL database per run, interleaved with the limit (raw psycopg ``COPY`` of the same
   rows read straight from SQLite, no rollups maintained). Reported: rows/s and the ratio.
   Then ``verify`` of the last copy (both sides streamed and checksummed): rows/s.
2. dual — the seed's lifecycle (placeholder insert, then the completion update, one commit
   each) through ``AUDIT_TRAIL_BACKEND=database`` on PostgreSQL vs ``dual`` (memory source →
   the same PostgreSQL target), interleaved. Reported: messages/s, p50/p99, and the ratio.

Checks: every arm ends with the same row count and the same exact cost total.

    .venv/bin/python bench/bench_transfer.py            # 100,000 trails, 2,000 lifecycles
    .venv/bin/python bench/bench_transfer.py --quick    # 10,000 trails, 300 lifecycles
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

import llmtrail
from common import (
    Run,
    bench_args,
    check,
    chunks,
    fresh_database,
    gen_messages,
    latency_summary,
    print_header,
    print_table,
    rates,
    ratio_line,
)
from llmtrail.config import load_settings
from llmtrail.transfer import copy_store, verify_stores

ROUNDS = 3
COLUMNS = (
    "id", "message_id", "project_id", "timestamp", "model", "reasoning", "context_layers",
    "prompt_tokens", "completion_tokens", "total_tokens", "cache_read_tokens",
    "cache_write_tokens", "reasoning_tokens", "cost_prompt", "cost_completion", "cost_total",
    "cost_source", "price_version", "status", "metadata", "created_at", "updated_at",
)  # fmt: skip


def pg_totals(url: str) -> tuple[int, Decimal]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*), coalesce(sum(cost_total), 0) FROM audit_trails")
        n, total = row.fetchone()  # type: ignore[misc]
        return int(n), Decimal(total)


def copy_llmtrail(src_url: str, n: int) -> tuple[Run, str]:
    with fresh_database("copy", keep=True) as url:
        source, target = llmtrail.open_store(src_url), llmtrail.open_store(url)
        try:
            t0 = time.perf_counter()
            copy_store(source, target, batch=2_000)
            run = Run(n, time.perf_counter() - t0)
        finally:
            source.close()
            target.close()
        return run, url


def copy_raw(src_path: str, n: int) -> tuple[Run, str]:
    with fresh_database("raw", keep=True) as url:
        t0 = time.perf_counter()
        lite = sqlite3.connect(src_path)
        with psycopg.connect(url) as conn, conn.cursor() as cur:
            with cur.copy("COPY projects (id, name, retention_days, created_at) FROM STDIN") as cp:
                for row in lite.execute(
                    "SELECT id, name, retention_days, created_at FROM projects"
                ):
                    cp.write_row(row)
            cols = ", ".join(COLUMNS)
            rows = lite.execute(f"SELECT {cols} FROM audit_trails")
            with cur.copy(f"COPY audit_trails ({cols}) FROM STDIN") as cp:
                for row in rows:
                    cp.write_row(row)
        lite.close()
        return Run(n, time.perf_counter() - t0), url


def drop(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def lifecycle(store: llmtrail.Store, msgs: list[Any]) -> Run:
    lat: list[float] = []
    t0 = time.perf_counter()
    for m in msgs:
        s = time.perf_counter()
        store.create_placeholder(m.message_id, m.model, m.context_layers, m.project_id)
        store.update(m.message_id, **m.completion())
        lat.append(time.perf_counter() - s)
    return Run(len(msgs), time.perf_counter() - t0, lat)


def main() -> None:
    args = bench_args(__doc__ or "")
    n = 10_000 if args.quick else 100_000
    m = 300 if args.quick else 2_000
    tmp = Path(tempfile.mkdtemp(prefix="llmtrail-bench-"))
    src_path = str(tmp / "source.db")
    src_url = f"sqlite:///{src_path}"
    msgs = gen_messages(n, seed=args.seed)
    store = llmtrail.open_store(src_url)
    for part in chunks(msgs, 5_000):
        store.store_many([x.as_input() for x in part])
    store.close()
    expected = (n, sum((x.cost_total for x in msgs), Decimal(0)))
    with fresh_database("facts") as facts_url:
        print_header("llmtrail copy / verify / dual mode", facts_url, trails=f"{n:,}", lifecycles=m)

    runs: dict[str, list[Run]] = {"llmtrail copy": [], "raw COPY (limit)": []}
    last_url = ""
    for r in range(ROUNDS):
        arms = [("llmtrail copy", copy_llmtrail), ("raw COPY (limit)", copy_raw)]
        for name, fn in arms if r % 2 == 0 else arms[::-1]:
            run, url = fn(src_url if name == "llmtrail copy" else src_path, n)
            got = pg_totals(url)
            check(f"{name} round {r + 1}: count and cost total", got == expected, str(got))
            runs[name].append(run)
            if name == "llmtrail copy":
                if last_url:
                    drop(last_url)
                last_url = url
            else:
                drop(url)
    source, target = llmtrail.open_store(src_url), llmtrail.open_store(last_url)
    t0 = time.perf_counter()
    report = verify_stores(source, target)
    verify_s = time.perf_counter() - t0
    source.close()
    target.close()
    drop(last_url)
    check("verify: no differences", report.ok, str(report.summary()))
    print_table(
        ["arm", "rows/s (median, min–max)"],
        [[k, rates(v).fmt()] for k, v in runs.items()]
        + [["llmtrail verify (both sides)", f"{n / verify_s:,.0f} trails/s ({verify_s:.1f} s)"]],
    )
    line, _ = ratio_line(
        "copy vs raw COPY", rates(runs["llmtrail copy"]).median,
        rates(runs["raw COPY (limit)"]).median, 0.3,
    )  # fmt: skip
    print(line)
    print()

    dual_runs: dict[str, list[Run]] = {
        "database (PostgreSQL)": [],
        "dual (memory → PostgreSQL)": [],
    }
    for r in range(ROUNDS):
        part = gen_messages(m, seed=args.seed + r + 1, prefix=f"life{r}")
        for name in list(dual_runs) if r % 2 == 0 else list(dual_runs)[::-1]:
            with fresh_database("dual") as url:
                if name.startswith("dual"):
                    s = load_settings(
                        backend="dual", DATABASE_URL=url, dual_source_url="memory://",
                        dual_outbox=tmp / f"outbox-{r}.db",
                    )  # fmt: skip
                    st = llmtrail.open_store(settings=s)
                else:
                    st = llmtrail.open_store(url)
                try:
                    dual_runs[name].append(lifecycle(st, part))
                finally:
                    st.close()
                got = pg_totals(url)
                want = (m, sum((x.cost_total for x in part), Decimal(0)))
                check(f"{name} round {r + 1}: target count and cost", got == want, str(got))
    rows = []
    for name, rs in dual_runs.items():
        lat = latency_summary(rs)
        rows.append([name, rates(rs).fmt(), lat[50].fmt(2, " ms"), lat[99].fmt(2, " ms")])
    print_table(["lifecycle (insert + update)", "messages/s", "p50", "p99"], rows)
    line, _ = ratio_line(
        "dual vs database throughput", rates(dual_runs["dual (memory → PostgreSQL)"]).median,
        rates(dual_runs["database (PostgreSQL)"]).median, 0.8,
    )  # fmt: skip
    print(line)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
