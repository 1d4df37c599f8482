"""Serverless cold start: a fresh process imports, opens and writes once (issue 13).

Arms, each a brand-new Python process timed from its first line to the first committed write,
interleaved round by round (the OS page cache is warm for both, as on a warm Lambda host):

- raw psycopg: ``import psycopg`` + ``connect`` + one ``INSERT`` (autocommit);
- llmtrail: ``import llmtrail`` + ``open_store(url)`` on an already-migrated database + one
  ``store(...)`` (validation, pricing, rollups included);
- llmtrail (SQLite): the same on the embedded default, for orientation.

Reported: median and min–max in ms, the ratio llmtrail / raw (target ≤ 2×), and which heavy
modules a library user's process loaded (Alembic, FastAPI, Typer and uvicorn must not be).

    .venv/bin/python bench/bench_cold_start.py            # 15 rounds
    .venv/bin/python bench/bench_cold_start.py --quick    # 5 rounds
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import llmtrail
from common import Spread, bench_args, check, fresh_database, print_header, print_table, ratio_line

RAW = """
import time, uuid
t0 = time.perf_counter()
import psycopg
conn = psycopg.connect({url!r}, autocommit=True)
conn.execute("INSERT INTO raw_cold (id, v) VALUES (%s, %s)", (uuid.uuid4().hex, "v"))
print(1000 * (time.perf_counter() - t0))
"""
LIBRARY = """
import sys, time, uuid
t0 = time.perf_counter()
import llmtrail
store = llmtrail.open_store({url!r})
store.store({{"messageId": uuid.uuid4().hex, "model": "gpt-4o",
             "tokens": {{"prompt": 100, "completion": 20}}}}, "cold")
ms = 1000 * (time.perf_counter() - t0)
heavy = sorted(m for m in ("alembic", "fastapi", "typer", "uvicorn") if m in sys.modules)
print(ms, ",".join(heavy))
"""


def _run(code: str) -> tuple[float, str]:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    return float(out[0]), (out[1] if len(out) > 1 else "")


def main() -> None:
    args = bench_args(__doc__ or "", extra=())
    rounds = 5 if args.quick else 15
    with fresh_database("cold") as url, tempfile.TemporaryDirectory() as tmp:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE raw_cold (id text PRIMARY KEY, v text)")
        sqlite_url = f"sqlite:///{Path(tmp) / 'cold.db'}"
        llmtrail.open_store(sqlite_url).close()  # migrated once, like the PostgreSQL one
        print_header("cold start: fresh process → first committed write", url, rounds=rounds)
        arms = {
            "raw psycopg (import + connect + INSERT)": RAW.format(url=url),
            "llmtrail PostgreSQL (import + open_store + store)": LIBRARY.format(url=url),
            "llmtrail SQLite (import + open_store + store)": LIBRARY.format(url=sqlite_url),
        }
        times: dict[str, list[float]] = {name: [] for name in arms}
        heavy: set[str] = set()
        names = list(arms)
        for r in range(rounds):
            for name in names[r % 3 :] + names[: r % 3]:
                ms, loaded = _run(arms[name])
                times[name].append(ms)
                heavy.update(x for x in loaded.split(",") if x)
        rows = [(name, Spread.of(v).fmt(0, " ms")) for name, v in times.items()]
        print_table(["arm", "median (min–max)"], rows)
        raw = Spread.of(times[names[0]]).median
        lib = Spread.of(times[names[1]]).median
        line, _ = ratio_line("llmtrail / raw psycopg", lib, raw, 2.0, higher_is_better=False)
        print("   " + line)
        with psycopg.connect(url) as conn:
            n = conn.execute("SELECT count(*) FROM audit_trails").fetchone()
        check("every llmtrail write committed", n is not None and n[0] == rounds)
        check("no server/CLI/migration modules loaded", not heavy, ",".join(sorted(heavy)))
        print(json.dumps({"raw_ms": raw, "llmtrail_ms": lib, "ratio": lib / raw}))


if __name__ == "__main__":
    main()
