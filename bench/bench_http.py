"""HTTP service benchmark (issue 3): ``llmtrail serve`` on PostgreSQL, 16 concurrent clients.

    .venv/bin/python bench/bench_http.py [--quick] [--clients=16]

One run, one fresh database, fixed-seed data, arms interleaved (see BENCHMARKS.md). The server
is the real ``llmtrail serve`` process (one uvicorn worker, log level WARNING); the clients are
asyncio tasks with one keep-alive connection each (httpx), in this process.

- floor: ``GET /healthz`` — the same server's cheapest route (no auth, no database): the HTTP
  floor every other figure is compared with.
- get: ``GET /api/projects/{id}/audit-trails/{messageId}`` with a project key, random existing
  trails, on a table of ≥ 100,000 trails. Target p99 < 10 ms (the seed asked for < 100 ms).
- lifecycle: the seed's lifecycle per message over HTTP — ``POST`` a pending placeholder, then
  ``PATCH`` its completion (tokens, cost, reasoning, status); messages/s.

The 100,000 trails are loaded before the server starts, through ``store.store_many`` (library).
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import llmtrail
from common import (
    Run,
    bench_args,
    check,
    chunks,
    fresh_database,
    gen_messages,
    latency_summary,
    pooled_percentile,
    print_header,
    print_table,
    rates,
    vacuum_analyze,
)
from llmtrail.model.wire import dumps

PROJECT = "bench-proj-00"
ADMIN = "bench-admin-key"


def load(url: str, n: int, seed: int) -> list[str]:
    """Store ``n`` trails in one project with ``store_many``; their message ids."""
    msgs = gen_messages(n, seed=seed, projects=1)
    started = time.perf_counter()
    with llmtrail.open_store(url) as store:
        for batch in chunks(msgs, 1_000):
            results = store.store_many([m.as_input() for m in batch], PROJECT)
            bad = [r for r in results if isinstance(r, Exception)]
            if bad:
                sys.exit(f"load failed: {bad[0]}")
    secs = time.perf_counter() - started
    print(f"   loaded {n:,} trails with store_many in {secs:.1f} s ({n / secs:,.0f} rows/s)")
    vacuum_analyze(url)
    return [m.message_id for m in msgs]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, port: int) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).parent / "llmtrail"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "AUDIT_TRAIL_ADMIN_KEY": ADMIN,
        "AUDIT_TRAIL_LOG_LEVEL": "WARNING",
        "AUDIT_TRAIL_CLEANUP_CRON": "off",
    }
    proc = subprocess.Popen(
        [str(exe), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    sys.exit("server did not become ready")


async def drive(
    clients: int, total: int, op: Callable[[httpx.AsyncClient, int], Awaitable[int]], base: str
) -> Run:
    """``total`` operations spread over ``clients`` concurrent keep-alive connections."""
    latencies: list[float] = []
    counter = iter(range(total))
    done = 0

    async def worker() -> None:
        nonlocal done
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for i in counter:
                t0 = time.perf_counter()
                ok = await op(client, i)
                done += ok  # (not ``done += await …``: that reads ``done`` before awaiting)
                latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return Run(done, time.perf_counter() - started, latencies)


def main(argv: list[str] | None = None) -> None:
    ap_args = [a for a in (argv or sys.argv[1:]) if not a.startswith("--clients")]
    clients = 16
    for a in argv or sys.argv[1:]:
        if a.startswith("--clients="):
            clients = int(a.split("=", 1)[1])
    args = bench_args(__doc__.splitlines()[0] if __doc__ else "", ap_args)
    table, per_round, rounds = (20_000, 1_000, 3) if args.quick else (100_000, 4_000, 5)
    with fresh_database("bench_http", admin=args.pg) as url:
        print_header(
            "llmtrail HTTP service benchmark (issue 3)",
            url,
            seed=args.seed,
            mode="quick" if args.quick else "full",
            clients=f"{clients} concurrent (asyncio + httpx, keep-alive)",
            server="llmtrail serve, 1 uvicorn worker, log level WARNING",
        )
        ids = load(url, table, args.seed)
        with llmtrail.open_store(url) as store:
            _, key = store.create_api_key(PROJECT)
        port = free_port()
        proc = start_server(url, port)
        try:
            asyncio.run(
                measure(
                    f"http://127.0.0.1:{port}", key, ids, clients, per_round, rounds, args.seed, url
                )
            )
        finally:
            proc.terminate()
            proc.wait(15)


async def measure(
    base: str, key: str, ids: list[str], clients: int, n: int, rounds: int, seed: int, url: str
) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    rng = random.Random(seed)
    trails = f"/api/projects/{PROJECT}/audit-trails"
    fresh = gen_messages(n * rounds // 2, seed=seed + 1, projects=1, prefix="http")
    bad: list[str] = []

    async def floor(c: httpx.AsyncClient, _: int) -> int:
        r = await c.get("/healthz")
        return 1 if r.status_code == 200 else 0

    async def get(c: httpx.AsyncClient, _: int) -> int:
        mid = ids[rng.randrange(len(ids))]
        r = await c.get(f"{trails}/{mid}", headers=auth)
        if r.status_code != 200 or r.json()["messageId"] != mid:
            bad.append(f"GET {mid}: {r.status_code}")
        return 1

    life_offset = 0

    async def lifecycle(c: httpx.AsyncClient, i: int) -> int:
        m = fresh[life_offset + i]
        placeholder = {"messageId": m.message_id, "model": m.model, "status": "pending",
                       "contextLayers": m.context_layers, "timestamp": m.timestamp}  # fmt: skip
        r = await c.post(
            trails, content=dumps(placeholder), headers={**auth, "Content-Type": "application/json"}
        )
        if r.status_code != 201:
            bad.append(f"POST {m.message_id}: {r.status_code} {r.text[:200]}")
        r = await c.patch(
            f"{trails}/{m.message_id}",
            content=dumps(m.completion()),
            headers={**auth, "Content-Type": "application/json"},
        )
        if r.status_code != 200:
            bad.append(f"PATCH {m.message_id}: {r.status_code} {r.text[:200]}")
        return 1

    await drive(clients, 500, floor, base)  # warm-up: connections, caches
    await drive(clients, 500, get, base)
    results: dict[str, list[Run]] = {"floor": [], "get": [], "lifecycle": []}
    life_n = n // 2
    for r in range(rounds):
        order = ["floor", "get", "lifecycle"]
        order = order[r % 3 :] + order[: r % 3]
        for arm in order:
            if arm == "floor":
                results[arm].append(await drive(clients, n, floor, base))
            elif arm == "get":
                results[arm].append(await drive(clients, n, get, base))
            else:
                results[arm].append(await drive(clients, life_n, lifecycle, base))
                life_offset += life_n
    check("no failed request", not bad, "; ".join(bad[:3]))
    lat = {arm: latency_summary(runs) for arm, runs in results.items()}
    rate = {arm: rates(runs) for arm, runs in results.items()}
    rows = []
    for arm, unit in (("floor", "req/s"), ("get", "req/s"), ("lifecycle", "msg/s")):
        rows.append([
            arm, f"{rate[arm].fmt(0)} {unit}", lat[arm][50].fmt(2), lat[arm][99].fmt(2),
            f"{pooled_percentile(results[arm], 99):.2f}",
        ])  # fmt: skip
    print_table(["arm", "throughput (median, min–max)", "p50 ms", "p99 ms", "pooled p99 ms"], rows)
    get_p99 = lat["get"][99].median
    floor_rate = rate["floor"].median
    print(f"   GET p99 {get_p99:.2f} ms: target < 10 ms {'MET' if get_p99 < 10 else 'MISSED'}")
    print(f"   GET p50 / floor p50: {lat['get'][50].median / lat['floor'][50].median:.2f}×")
    print(f"   GET p99 / floor p99: {get_p99 / lat['floor'][99].median:.2f}×")
    print(f"   GET throughput / floor throughput: {rate['get'].median / floor_rate:.2f}×")
    print(
        "   lifecycle requests/s (2 per message) / floor throughput: "
        f"{2 * rate['lifecycle'].median / floor_rate:.2f}×"
    )
    with llmtrail.open_store(url) as store:
        stored = sum(
            1
            for m in fresh[:life_offset]
            if (t := store.get(m.message_id)) and t.status == "completed"
        )
    check(
        "every lifecycle message stored and completed",
        stored == life_offset,
        f"{stored}/{life_offset}",
    )


if __name__ == "__main__":
    main()
