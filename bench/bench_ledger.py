"""Tamper evidence: what the ledger costs writers, and how fast sealing and verifying run.

1. **Ledger on vs off**: the seed's lifecycle (placeholder insert, then completion update, each
   committed) by T threads sharing one store, same project and model, with the ledger on (the
   default: one entry appended per write, in the write's statement) and off
   (``AUDIT_TRAIL_LEDGER=off``), interleaved; raw psycopg (T autocommit connections, prepared
   INSERT + UPDATE, no ledger and no aggregates) as the limit. Target: on / off ≥ 0.9×.
2. **Seal**: N trails loaded through the public bulk API (``store_many``: COPY, one ledger
   entry each), then ``store.seal()`` of all N entries — seconds and entries/s.
3. **verify-chain**: ``verify_chain`` over those N trails and entries — trails/s; and once more
   after one row is changed with SQL, which it must name.

Run: ``.venv/bin/python bench/bench_ledger.py [--quick] [--threads 1,32] [--entries 1000000]``
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

import llmtrail
from bench_writers import PROJECT, arm_sums, llmtrail_arm, messages, raw_arm
from common import (
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
from llmtrail.config import load_settings
from llmtrail.ledger.signing import Signer
from llmtrail.ledger.verify import verify_chain


def writers(url: str, ts: list[int], rounds: int, per_total: int, seed: int) -> None:
    on = llmtrail.open_store(url, settings=load_settings(ledger=True))
    off = llmtrail.open_store(url, settings=load_settings(ledger=False))
    on.create_project(PROJECT)
    rows = []
    for threads in ts:
        per = per_total // threads
        runs: dict[str, list[Run]] = {"on": [], "off": [], "raw": []}
        arms = ["on", "off", "raw"]
        for r in range(rounds):
            order = arms[r % 3 :] + arms[: r % 3]
            for arm in order:
                prefix = f"{arm}{threads}r{r}"
                data = messages(threads * per, seed + threads * 100 + r, prefix)
                settle()
                if arm == "raw":
                    runs[arm].append(raw_arm(url, data, threads, per))
                else:
                    runs[arm].append(llmtrail_arm(on if arm == "on" else off, data, threads, per))
                check(
                    f"T={threads} round {r} ledger {arm} wrote every message",
                    arm_sums(url, prefix)[0] == threads * per,
                )
        a, b, raw = rates(runs["on"]), rates(runs["off"]), rates(runs["raw"])
        ratio = a.median / b.median
        rows.append(
            [f"T={threads}", a.fmt(0), b.fmt(0), raw.fmt(0), f"{ratio:.2f}×",
             f"{a.median / raw.median:.2f}×"]
        )  # fmt: skip
        line, _ = ratio_line(f"lifecycle T={threads}: ledger on / off", ratio, 1.0, 0.9)
        print(line)
    print_table(
        ["threads", "ledger on msg/s", "ledger off msg/s", "raw psycopg msg/s", "on/off",
         "on/raw"],
        rows,
    )  # fmt: skip
    with psycopg.connect(url) as conn:
        n = conn.execute("SELECT count(*) FROM ledger_entries WHERE message_id LIKE 'off%'")
        row = n.fetchone()
    check("the ledger-off arm appended no entry", row is not None and row[0] == 0)
    on.close()
    off.close()


def seal_and_verify(url: str, n: int, seed: int) -> None:
    store = llmtrail.open_store(url, settings=load_settings(usage_fold_seconds=0))
    signer = Signer.generate()
    data: list[dict[str, Any]] = [m.as_input() for m in gen_messages(n, seed=seed, prefix="seal")]
    t0 = time.perf_counter()
    for i in range(0, n, 10_000):
        results = store.store_many(data[i : i + 10_000])
        check(f"batch {i} stored", all(not isinstance(r, Exception) for r in results))
    load = time.perf_counter() - t0
    print(f"   loaded {n:,} trails through store_many in {load:.1f} s ({n / load:,.0f}/s)")
    t0 = time.perf_counter()
    report = store.seal(signer)
    sealed = time.perf_counter() - t0
    check("seal folded every new entry", report.entries == n, f"{report.entries} vs {n}")
    t0 = time.perf_counter()
    verified = verify_chain(store, signer)
    took = time.perf_counter() - t0
    check("an untouched database verifies", verified.ok, str(verified.findings[:3]))
    victim = data[n // 2]["messageId"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE audit_trails SET cost_total = 0 WHERE message_id = %s", (victim,))
    tampered = verify_chain(store, signer)
    check(
        "one changed row is named",
        [(f.kind, f.message_id) for f in tampered.findings] == [("changed", victim)],
    )
    done = verified.trails
    print_table(
        ["step", "entries / trails", "seconds", "per second"],
        [
            ["seal", f"{report.entries:,}", f"{sealed:.2f}", f"{report.entries / sealed:,.0f}"],
            ["verify-chain", f"{done:,}", f"{took:.2f}", f"{done / took:,.0f}"],
        ],
    )
    store.close()


def main(argv: list[str] | None = None) -> None:
    args = bench_args(
        __doc__.splitlines()[0],
        argv,
        extra=[
            ("--threads", "comma-separated thread counts (default 1,32)"),
            ("--entries", "trails to seal and verify (default 1,000,000; --quick 50,000)"),
        ],
    )
    ts = [int(x) for x in (args.threads or "1,32").split(",")]
    rounds = 3 if args.quick else 5
    per_total = 640 if args.quick else 1_920
    n = int(args.entries or (50_000 if args.quick else 1_000_000))
    with fresh_database("ledger") as url:
        print_header(
            "Tamper evidence: ledger on vs off, seal, verify-chain",
            url,
            messages_per_arm_and_round=per_total,
            rounds=rounds,
            entries=n,
        )
        writers(url, ts, rounds, per_total, args.seed)
    with fresh_database("ledger-seal") as url:  # only trails written with the ledger on
        seal_and_verify(url, n, args.seed + 7)


if __name__ == "__main__":
    main()
