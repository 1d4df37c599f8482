"""Analytics benchmark (issue 5): llmtrail's rollup-backed analytics vs a naive aggregate over
the raw table, on PostgreSQL, for a project with 1,000,000 trails over 30 days.

    .venv/bin/python bench/bench_analytics.py [--quick]

One fresh database. Load: the raw trails by psycopg ``COPY`` (fixed seed, 6 models, exact
decimal costs, no reasoning text — which keeps the raw table small and so flatters the naive
arm), then their ``usage_rollups`` rows computed by one ``INSERT … SELECT … GROUP BY`` (what
llmtrail's writes would have maintained), then 2,000 more trails written and 300 updated
through llmtrail's public API so the live rollup path is part of the data too.

Arms, interleaved:
- **llmtrail**: ``store.analytics(project, days=30, tz=…)`` through the public API (project
  check, rollup query, the 10 newest trails), every call timed;
- **naive**: the same numbers computed the usual way — one ``GROUP BY day, model`` over the
  raw ``audit_trails`` rows of the window (raw psycopg 3, prepared) plus the 10 newest.

Both arms are checked to give identical totals, per-day and per-model numbers and recent
trails. Targets: llmtrail p50 ≤ 50 ms and ≥ 20× faster (p50) than naive.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

import llmtrail
from common import (
    MODELS,
    PRICES,
    Run,
    bench_args,
    check,
    fresh_database,
    interleave,
    latency_summary,
    pooled_percentile,
    print_header,
    print_table,
    ratio_line,
    vacuum_analyze,
)
from llmtrail.analytics import Analytics, make_window
from llmtrail.ids import uuid7

PROJECT = "bench-analytics"
COLUMNS = (
    "id, message_id, project_id, timestamp, model, reasoning, context_layers, prompt_tokens,"
    " completion_tokens, total_tokens, cost_prompt, cost_completion, cost_total, cost_source,"
    " status, metadata, created_at, updated_at"
)
ROLLUP_REBUILD = """
INSERT INTO usage_rollups (project_id, bucket, model, messages, prompt_tokens,
    completion_tokens, total_tokens, cost_prompt, cost_completion, cost_total)
SELECT project_id, to_timestamp(floor(extract(epoch FROM timestamp) / 900) * 900), model,
       count(*), sum(prompt_tokens), sum(completion_tokens), sum(total_tokens),
       sum(cost_prompt), sum(cost_completion), sum(cost_total)
FROM audit_trails GROUP BY 1, 2, 3
"""
NAIVE = """
SELECT (timestamp AT TIME ZONE %(tz)s)::date AS day, model, count(*), sum(total_tokens),
       sum(cost_total)
FROM audit_trails
WHERE project_id = %(p)s AND timestamp >= %(lo)s AND timestamp < %(hi)s
GROUP BY 1, 2
"""
NAIVE_RECENT = """
SELECT message_id FROM audit_trails
WHERE project_id = %(p)s AND timestamp >= %(lo)s AND timestamp < %(hi)s
ORDER BY timestamp DESC, id DESC LIMIT 10
"""


def raw_rows(n: int, seed: int, now: datetime) -> Iterator[tuple[Any, ...]]:
    """``n`` trails spread over the 30 days before ``now`` (and a little into tomorrow)."""
    rng = random.Random(seed)
    span = 30 * 86_400
    for i in range(n):
        model = MODELS[rng.randrange(len(MODELS))]
        p, c = rng.randint(50, 8_000), rng.randint(10, 2_000)
        pp, cp = PRICES[model]
        ts = now - timedelta(seconds=rng.random() * span)
        yield (
            uuid7(),
            f"an-{seed}-{i:08d}",
            PROJECT,
            ts,
            model,
            None,
            3,
            p,
            c,
            p + c,
            p * pp,
            c * cp,
            p * pp + c * cp,
            "provided",
            "completed",
            None,
            ts,
            ts,
        )


def load(url: str, n: int, seed: int, now: datetime) -> float:
    t0 = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO projects (id, name, created_at) VALUES (%s, %s, %s)",
            (PROJECT, PROJECT, now),
        )
        with conn.cursor() as cur, cur.copy(f"COPY audit_trails ({COLUMNS}) FROM STDIN") as cp:
            for row in raw_rows(n, seed, now):
                cp.write_row(row)
        conn.execute(ROLLUP_REBUILD)
    return time.perf_counter() - t0


def live_writes(store: llmtrail.Store, seed: int, now: datetime) -> None:
    """2,000 trails through ``store_many`` and 300 cost/token updates through ``update``."""
    rng = random.Random(seed + 1)
    items = [
        {
            "messageId": f"live-{i}",
            "model": rng.choice(MODELS),
            "timestamp": now - timedelta(seconds=rng.random() * 3 * 86_400),
            "tokens": {"prompt": rng.randint(1, 900), "completion": rng.randint(1, 90)},
            "cost": {"prompt": Decimal(rng.randint(1, 10**6)).scaleb(-9)},
        }
        for i in range(2_000)
    ]
    for start in range(0, len(items), 1_000):
        store.store_many(items[start : start + 1_000], PROJECT)
    for i in rng.sample(range(2_000), 300):
        store.update(
            f"live-{i}",
            tokens={"prompt": rng.randint(1, 900), "completion": 7},
            cost={"prompt": Decimal(rng.randint(1, 10**6)).scaleb(-12), "completion": "0.5"},
        )


def comparable(a: Analytics) -> dict[str, Any]:
    return {
        "total": (a.total_cost, a.total_tokens, a.message_count),
        "days": {d.date: (d.cost, d.tokens, d.messages) for d in a.cost_by_day if d.messages},
        "models": {m.model: (m.cost, m.tokens, m.messages) for m in a.cost_by_model},
        "recent": [t.message_id for t in a.recent_trails],
    }


def naive(conn: psycopg.Connection[Any], tz: str, lo: datetime, hi: datetime) -> dict[str, Any]:
    params = {"p": PROJECT, "lo": lo, "hi": hi, "tz": tz}
    rows = conn.execute(NAIVE, params, prepare=True).fetchall()
    recent = [r[0] for r in conn.execute(NAIVE_RECENT, params, prepare=True)]
    days: dict[date, list[Any]] = {}
    models: dict[str, list[Any]] = {}
    with localcontext() as ctx:
        ctx.prec = 60
        for day, model, n, tokens, cost in rows:
            for cell in (days.setdefault(day, [0, 0, 0]), models.setdefault(model, [0, 0, 0])):
                cell[0] += cost
                cell[1] += int(tokens)
                cell[2] += n
        total = sum((c[0] for c in days.values()), Decimal(0))
    norm = {k: (Decimal(v[0]).normalize(), v[1], v[2]) for k, v in days.items()}
    return {
        "total": (
            total.normalize(),
            sum(v[1] for v in days.values()),
            sum(v[2] for v in days.values()),
        ),
        "days": norm,
        "models": {k: (Decimal(v[0]).normalize(), v[1], v[2]) for k, v in models.items()},
        "recent": recent,
    }


def normalised(c: dict[str, Any]) -> dict[str, Any]:
    def n(t: tuple[Any, ...]) -> tuple[Any, ...]:
        return (Decimal(t[0]).normalize(), t[1], t[2])

    return {
        "total": n(c["total"]),
        "days": {k: n(v) for k, v in c["days"].items()},
        "models": {k: n(v) for k, v in c["models"].items()},
        "recent": c["recent"],
    }


def main() -> None:
    args = bench_args(__doc__ or "")
    n = 50_000 if args.quick else 1_000_000
    rounds, calls, naive_calls = (3, 10, 2) if args.quick else (5, 40, 4)
    now = datetime.now(UTC)
    with fresh_database("analytics", admin=args.pg) as url:
        print_header(
            "analytics: rollups vs naive aggregate over raw trails",
            url,
            trails=f"{n:,} in one project over 30 days (+2,000 stored and 300 updated via the API)",
            rounds=f"{rounds} interleaved, {calls} llmtrail + {naive_calls} naive calls each",
        )
        secs = load(url, n, args.seed, now)
        print(f"   loaded {n:,} trails by COPY + rollup rebuild in {secs:.1f} s")
        store = llmtrail.open_store(url)
        try:
            live_writes(store, args.seed, now)
            vacuum_analyze(url, "audit_trails", "usage_rollups")
            with psycopg.connect(url) as conn:
                rollups = conn.execute("SELECT count(*) FROM usage_rollups").fetchone()
                print(f"   usage_rollups rows: {rollups[0] if rollups else '?'}\n")
                report_rows = []
                ok_all = True
                for tz in ("UTC", "Europe/Paris"):
                    window = make_window(store.clock(), days=30, tz=tz)

                    def arm_llmtrail(_: int, tz: str = tz) -> Run:
                        lat = []
                        t0 = time.perf_counter()
                        for _i in range(calls):
                            t = time.perf_counter()
                            store.analytics(PROJECT, days=30, tz=tz)
                            lat.append(time.perf_counter() - t)
                        return Run(calls, time.perf_counter() - t0, lat)

                    def arm_naive(_: int, tz: str = tz, w: Any = window) -> Run:
                        lat = []
                        t0 = time.perf_counter()
                        for _i in range(naive_calls):
                            t = time.perf_counter()
                            naive(conn, tz, w.start, w.end)
                            lat.append(time.perf_counter() - t)
                        return Run(naive_calls, time.perf_counter() - t0, lat)

                    got = normalised(comparable(store.analytics(PROJECT, days=30, tz=tz)))
                    want = naive(conn, tz, window.start, window.end)
                    same = got == want
                    ok_all = ok_all and same
                    check(
                        f"identical results ({tz})",
                        same,
                        f"{got['total'][2]:,} messages, ${got['total'][0]} total",
                    )
                    runs = interleave([("llmtrail", arm_llmtrail), ("naive", arm_naive)], rounds)
                    lt, nv = latency_summary(runs["llmtrail"]), latency_summary(runs["naive"])
                    p50_l, p50_n = (
                        pooled_percentile(runs["llmtrail"], 50),
                        pooled_percentile(runs["naive"], 50),
                    )
                    report_rows.append(
                        (
                            f"llmtrail analytics (tz={tz})",
                            f"{p50_l:.2f}",
                            f"{pooled_percentile(runs['llmtrail'], 99):.2f}",
                            lt[50].fmt(2),
                        )
                    )
                    report_rows.append(
                        (
                            f"naive GROUP BY over raw (tz={tz})",
                            f"{p50_n:.2f}",
                            f"{pooled_percentile(runs['naive'], 99):.2f}",
                            nv[50].fmt(2),
                        )
                    )
                    line, _ = ratio_line(
                        f"   speed-up p50 (tz={tz})", p50_n, p50_l, 20, higher_is_better=True
                    )
                    report_rows.append(("", "", "", ""))
                    print(line)
                    print(
                        f"   llmtrail p50 {p50_l:.2f} ms (target ≤ 50 ms) "
                        f"{'MET' if p50_l <= 50 else 'MISSED'}"
                    )
                print()
                print_table(
                    ["arm", "p50 ms", "p99 ms", "per-round p50 median (min–max)"],
                    [r for r in report_rows if r[0]],
                )
                check("all arms identical", ok_all)
        finally:
            store.close()


if __name__ == "__main__":
    main()
