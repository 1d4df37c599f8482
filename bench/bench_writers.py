"""Concurrent writers: T threads sharing one store, the seed's lifecycle, one project and model.

Each thread writes its own messages (placeholder insert, then completion update, each
committed) for the same project and model, as a real app's request threads do: the case where
every write's usage lands in the same 15-minute aggregate. Arms, interleaved per T:

- **llmtrail**: one ``open_store(url)`` shared by the T threads (the public API);
- **raw psycopg**: T autocommit connections, one per thread, prepared INSERT and UPDATE (no
  aggregates at all: the limit).

Reported: messages/s (median, min–max over rounds) per T, the ratio llmtrail / raw, and whether
llmtrail's throughput rises with T. Afterwards analytics must equal a brute-force sum over the
rows, and both arms must have written the same tokens and cost.

Run: ``.venv/bin/python bench/bench_writers.py [--quick] [--threads 1,8,32]``
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

import llmtrail
from bench_core import RAW_INSERT, RAW_UPDATE
from common import (
    Msg,
    Run,
    bench_args,
    check,
    fresh_database,
    gen_messages,
    print_header,
    print_table,
    rates,
    ratio_line,
    settle,
)
from llmtrail.ids import uuid7

PROJECT = "bench-writers"
MODEL = "gpt-4o"


def threaded(threads: int, per_thread: int, work: Callable[[int, int], None]) -> Run:
    """Run ``work(thread, i)`` for i < per_thread in ``threads`` threads; wall-clock timed."""
    start = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def body(t: int) -> None:
        start.wait()
        try:
            for i in range(per_thread):
                work(t, i)
        except BaseException as e:  # reported after the run: a benchmark must be correct
            errors.append(e)

    pool = [threading.Thread(target=body, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    start.wait()
    t0 = time.perf_counter()
    for th in pool:
        th.join()
    seconds = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return Run(threads * per_thread, seconds)


def messages(n: int, seed: int, prefix: str) -> list[Msg]:
    return [
        replace(m, project_id=PROJECT, model=MODEL)
        for m in gen_messages(n, seed=seed, prefix=prefix)
    ]


def llmtrail_arm(store: llmtrail.Store, data: Sequence[Msg], threads: int, per: int) -> Run:
    def work(t: int, i: int) -> None:
        m = data[t * per + i]
        store.create_placeholder(
            m.message_id, m.model, m.context_layers, project_id=m.project_id, timestamp=m.timestamp
        )
        store.update(m.message_id, **m.completion())

    return threaded(threads, per, work)


def raw_arm(url: str, data: Sequence[Msg], threads: int, per: int) -> Run:
    conns = [psycopg.connect(url, autocommit=True) for _ in range(threads)]

    def work(t: int, i: int) -> None:
        m = data[t * per + i]
        conn = conns[t]
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
                Jsonb({}),
                now,
                now,
            ),
            prepare=True,
        )
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

    try:
        return threaded(threads, per, work)
    finally:
        for c in conns:
            c.close()


def arm_sums(url: str, prefix: str) -> tuple[Any, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*), sum(total_tokens), sum(cost_total) FROM audit_trails "
            "WHERE message_id LIKE %s AND status = 'completed'",
            (prefix + "-%",),
        ).fetchone()
    assert row is not None
    return (row[0], row[1], row[2])


def main(argv: list[str] | None = None) -> None:
    args = bench_args(
        __doc__.splitlines()[0],
        argv,
        extra=[("--threads", "comma-separated thread counts (default 1,8,32)")],
    )
    ts = [int(x) for x in (args.threads or "1,8,32").split(",")]
    rounds = 2 if args.quick else 3
    per_total = 640 if args.quick else 1_920  # messages per arm and round, split over T threads
    with fresh_database("writers") as url:
        print_header(
            "Concurrent writers: one store, T threads, same project and model",
            url,
            messages_per_arm_and_round=per_total,
            rounds=rounds,
        )
        store = llmtrail.open_store(url)
        store.create_project(PROJECT)
        rows = []
        ratios: dict[int, float] = {}
        lt_rates: dict[int, float] = {}
        raw_rates: dict[int, float] = {}
        for threads in ts:
            per = per_total // threads
            runs: dict[str, list[Run]] = {"llmtrail": [], "raw": []}
            for r in range(rounds):
                order = ["llmtrail", "raw"] if r % 2 == 0 else ["raw", "llmtrail"]
                for arm in order:
                    prefix = f"{arm}{threads}r{r}"
                    data = messages(threads * per, args.seed + threads * 100 + r, prefix)
                    settle()
                    if arm == "llmtrail":
                        runs[arm].append(llmtrail_arm(store, data, threads, per))
                    else:
                        runs[arm].append(raw_arm(url, data, threads, per))
                    check(
                        f"T={threads} round {r} {arm} wrote every message",
                        arm_sums(url, prefix)[0] == threads * per,
                    )
            lt, raw = rates(runs["llmtrail"]), rates(runs["raw"])
            ratios[threads] = lt.median / raw.median
            lt_rates[threads] = lt.median
            raw_rates[threads] = raw.median
            rows.append([f"T={threads}", lt.fmt(0), raw.fmt(0), f"{ratios[threads]:.2f}×"])
        print_table(["threads", "llmtrail msg/s", "raw psycopg msg/s", "ratio"], rows)
        summary = store.analytics(PROJECT, days=366)
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT count(*), coalesce(sum(total_tokens), 0), coalesce(sum(cost_total), 0) "
                "FROM audit_trails WHERE project_id = %s AND message_id LIKE 'llmtrail%%'",
                (PROJECT,),
            ).fetchone()
        assert row is not None
        check(
            "analytics equal a brute-force sum over the rows",
            (summary.message_count, summary.total_tokens, summary.total_cost)
            == (row[0], row[1], Decimal(row[2])),
            f"{summary.message_count} {summary.total_tokens} {summary.total_cost} vs {tuple(row)}",
        )
        store.close()
        top = max(ts)
        line, _ = ratio_line(f"lifecycle at T={top}: llmtrail / raw", ratios[top], 1.0, 0.6)
        print(line)
        rising = all(lt_rates[a] < lt_rates[b] for a, b in itertools.pairwise(ts))
        print(f"llmtrail throughput rising with T: {'yes' if rising else 'NO'}")
        for a, b in itertools.pairwise(ts):
            # on a machine with few cores raw psycopg plateaus too: compare the two gains
            gain, raw_gain = lt_rates[b] / lt_rates[a] - 1, raw_rates[b] / raw_rates[a] - 1
            print(f"   T={a}→{b}: llmtrail {gain:+.0%}, raw psycopg {raw_gain:+.0%}")


if __name__ == "__main__":
    main()
