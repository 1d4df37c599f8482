"""Retention cleanup on PostgreSQL: how long a 500,000-row purge takes, and whether ingest
notices it.

1,000,000 trails (~1 KB of reasoning each) spread evenly over the last 14 days, stored in
arrival order (as a real system stores them), so half are older than the 7-day retention.
They are loaded with COPY (plus their projects and usage rollups, as the store keeps them).
Then, through llmtrail's public API, one thread keeps inserting trails (one commit each, as the
library does) while:

  1. baseline — nothing else runs (quiet windows interleaved with 2.);
  2. during — ``run_cleanup`` deletes the expired half, as 7 runs of one day each;
  3. after — nothing else runs again (the post-purge state, for reference).

Reported: cleanup duration and rows/s; the inserter's p50/p99 latency in each phase; the
ratio p99 during / p99 baseline (target ≤ 2×). Checks: exactly the expired half deleted,
every trail inserted during the purge still there, usage rollups unchanged.

    .venv/bin/python bench/bench_cleanup.py           # 1,000,000 rows (several minutes)
    .venv/bin/python bench/bench_cleanup.py --quick   # 100,000 rows
    .venv/bin/python bench/bench_cleanup.py --content-days 3   # + content retention (issue 18)

With ``--content-days N`` every project also has a content retention of N days, so each run
also redacts (clears reasoning and metadata of) the trails between N and 7 days old: the same
inserter-latency bound must hold.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg

import llmtrail
from common import (
    MODELS,
    PRICES,
    bench_args,
    check,
    fresh_database,
    percentile,
    print_header,
    print_table,
    project_ids,
    ratio_line,
    vacuum_analyze,
)
from llmtrail.config import load_settings
from llmtrail.retention import run_cleanup

COLUMNS = (
    "id",
    "message_id",
    "project_id",
    "timestamp",
    "model",
    "reasoning",
    "context_layers",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost_prompt",
    "cost_completion",
    "cost_total",
    "cost_source",
    "status",
    "metadata",
    "created_at",
    "updated_at",
)


def load(url: str, n: int, now: datetime, seed: int) -> None:
    """COPY ``n`` trails evenly spread over 14 days before ``now``, oldest first."""
    rng = random.Random(seed)
    words = ("the", "model", "compared", "cost", "of", "each", "answer", "against", "budget")
    reasonings = [
        json.dumps([" ".join(rng.choice(words) for _ in range(rng.randint(30, 60)))] * 4)
        for _ in range(64)
    ]
    pids = project_ids(8)
    span = timedelta(days=14) / n
    start = now - timedelta(days=14)
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO projects (id, name, retention_days, created_at) VALUES (%s,%s,%s,%s)",
                [(p, p, None, start) for p in pids],
            )
            cols = ", ".join(f'"{c}"' for c in COLUMNS)
            with cur.copy(f"COPY audit_trails ({cols}) FROM STDIN") as copy:
                for i in range(n):
                    ts = start + span * i
                    model = MODELS[i % len(MODELS)]
                    prompt, completion = rng.randint(50, 8_000), rng.randint(10, 2_000)
                    pp, cp = PRICES[model]
                    cost_p, cost_c = prompt * pp, completion * cp
                    copy.write_row(
                        (
                            str(uuid.UUID(int=i)),
                            f"bench-{seed}-{i:08d}",
                            pids[i % len(pids)],
                            ts,
                            model,
                            reasonings[i % len(reasonings)],
                            rng.randint(0, 12),
                            prompt,
                            completion,
                            prompt + completion,
                            cost_p,
                            cost_c,
                            cost_p + cost_c,
                            "provided",
                            "completed",
                            f'{{"user": "u{i % 500}"}}',
                            ts,
                            ts,
                        )
                    )
            # the 15-minute usage rollups the store maintains on every write
            cur.execute(
                """
                INSERT INTO usage_rollups
                SELECT project_id, date_bin('15 minutes', timestamp, TIMESTAMPTZ '2000-01-01Z'),
                       model, count(*), sum(prompt_tokens), sum(completion_tokens),
                       sum(total_tokens), sum(cost_prompt), sum(cost_completion), sum(cost_total)
                FROM audit_trails GROUP BY 1, 2, 3
                """
            )
        conn.commit()


def rollup_totals(url: str) -> tuple[int, Decimal]:
    with psycopg.connect(url) as conn:
        # folded rollups plus the increments not folded yet, in one snapshot (issue 13)
        row = conn.execute(
            "SELECT sum(messages), sum(cost_total) FROM (SELECT messages, cost_total FROM"
            " usage_rollups UNION ALL SELECT messages, cost_total FROM usage_deltas) AS u"
        ).fetchone()
    assert row is not None
    return int(row[0] or 0), Decimal(row[1] or 0)


class Inserter(threading.Thread):
    """Stores one trail at a time through the public API, recording each call's latency."""

    def __init__(self, store: llmtrail.Store) -> None:
        super().__init__(daemon=True)
        self.store = store
        self.phase = "warmup"
        self.latencies: dict[str, list[float]] = {}
        self.ids: list[str] = []
        self.errors: list[BaseException] = []
        self.stop = threading.Event()
        self.i = 0

    def run(self) -> None:
        pids = project_ids(8)
        while not self.stop.is_set():
            mid = f"live-{self.i:08d}"
            trail = {
                "messageId": mid,
                "projectId": pids[self.i % len(pids)],
                "model": MODELS[self.i % len(MODELS)],
                "reasoning": ["checked the budget", "answered"],
                "contextLayers": 2,
                "tokens": {"prompt": 1_000, "completion": 200},
                "cost": {"prompt": "0.0025", "completion": "0.002"},
            }
            phase = self.phase
            t0 = time.perf_counter()
            try:
                self.store.store(trail)
            except BaseException as e:  # every failure is reported
                self.errors.append(e)
            else:
                self.latencies.setdefault(phase, []).append(time.perf_counter() - t0)
                self.ids.append(mid)
            self.i += 1


def main() -> None:
    args = bench_args(
        __doc__ or "", extra=(("--content-days", "content retention of every project (days)"),)
    )
    content_days = None if args.content_days is None else int(args.content_days)
    n = 100_000 if args.quick else 1_000_000
    window = 8.0 if args.quick else 20.0
    with fresh_database("cleanup", admin=args.pg) as url:
        print_header(
            "bench_cleanup: retention purge vs concurrent ingest (PostgreSQL)",
            url,
            rows=f"{n:,} over 14 days, {n // 2:,} older than the 7-day retention",
            batch_size=load_settings().cleanup_batch_size,
            pause_ratio=load_settings().cleanup_pause_ratio,
        )
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        load(url, n, now, args.seed)
        vacuum_analyze(url, "audit_trails", "usage_rollups", "projects")
        print(f"   loaded {n:,} rows with COPY in {time.perf_counter() - t0:.1f} s\n")
        rollups_before = rollup_totals(url)

        # The clock is frozen at the load's "now" so the cutoff falls exactly on row n/2
        # (which is kept: only strictly older trails go) however long the run takes.
        store = llmtrail.open_store(url, clock=lambda: now)
        expected = store.cleanup(7, dry_run=True)
        if content_days is not None:
            for p in store.list_projects():
                store.update_project(p.id, contentRetentionDays=content_days)
            to_redact = store.redact_content(dry_run=True)
            print(f"   content retention {content_days} days: {to_redact:,} trails to redact\n")
        ins = Inserter(store)
        ins.start()
        time.sleep(2.0)  # warm-up: connections, caches
        # Interleaved: the purge runs as 7 cleanups (retention 13, 12, … 7 days, one day of
        # trails each), alternating with quiet windows of the same length (quiet first in even
        # rounds, cleanup first in odd ones), so load drift on a shared machine hits both arms.
        results = []
        quiet = 2.0
        for r, days in enumerate(range(13, 6, -1)):
            order = ("baseline", "during") if r % 2 == 0 else ("during", "baseline")
            for phase in order:
                ins.phase = phase
                if phase == "baseline":
                    time.sleep(quiet)
                else:
                    results.append(run_cleanup(store, days))
                    quiet = max(1.0, results[-1].duration_seconds)
        ins.phase = "after"
        time.sleep(window)
        ins.stop.set()
        ins.join(timeout=30)

        def row(label: str, lat: list[float]) -> list[str]:
            return [
                label,
                f"{len(lat):,}",
                f"{percentile(lat, 50) * 1000:.2f}",
                f"{percentile(lat, 99) * 1000:.2f}",
                f"{max(lat) * 1000:.1f}",
            ]

        lat = ins.latencies
        deleted = sum(x.deleted_count for x in results)
        redacted = sum(x.redacted_count for x in results)
        if content_days is not None:
            print(f"   redacted: {redacted:,} trails (reasoning and metadata cleared)")
        seconds = sum(x.duration_seconds for x in results)
        print(
            f"   cleanup: {deleted:,} trails deleted in {seconds:.1f} s ({deleted / seconds:,.0f}"
            f" rows/s), as {len(results)} runs of "
            + ", ".join(f"{x.duration_seconds:.1f}" for x in results)
            + " s\n"
        )
        print_table(
            ["inserter phase", "inserts", "p50 ms", "p99 ms", "max ms"],
            [row(p, lat[p]) for p in ("baseline", "during", "after") if lat.get(p)],
        )
        line, _ = ratio_line(
            "p99 during cleanup / p99 baseline",
            percentile(lat["during"], 99),
            percentile(lat["baseline"], 99),
            2.0,
            higher_is_better=False,
        )
        print("   " + line)
        line, _ = ratio_line(
            "p50 during cleanup / p50 baseline",
            percentile(lat["during"], 50),
            percentile(lat["baseline"], 50),
            2.0,
            higher_is_better=False,
        )
        print("   " + line + "  (reference)\n")

        check("no insert failed", not ins.errors, repr(ins.errors[:3]))
        check(
            "exactly the expired half deleted",
            deleted == expected == n // 2,
            f"{deleted} vs {expected} (dry run) vs {n // 2}",
        )
        remaining = store.count_trails()  # type: ignore[attr-defined]
        check(
            "every live insert kept",
            remaining == n - n // 2 + len(ins.ids),
            f"{remaining} rows, expected {n - n // 2 + len(ins.ids)}",
        )
        missing = [m for m in ins.ids[:: max(1, len(ins.ids) // 500)] if store.get(m) is None]
        check("sampled live inserts readable", not missing, repr(missing[:3]))
        after_messages, after_cost = rollup_totals(url)
        live_cost = Decimal("0.0045") * len(ins.ids)
        check(
            "usage rollups unchanged by the purge (plus the live inserts)",
            after_messages == rollups_before[0] + len(ins.ids)
            and after_cost == rollups_before[1] + live_cost,
            f"{after_messages} vs {rollups_before[0]} + {len(ins.ids)}; "
            f"${after_cost} vs ${rollups_before[1]} + ${live_cost}",
        )
        store.close()


if __name__ == "__main__":
    main()
