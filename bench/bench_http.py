"""HTTP service benchmark (issue 3): ``llmtrail serve`` on PostgreSQL, 16 concurrent clients.

    .venv/bin/python bench/bench_http.py [--quick] [--clients=16] [--workers=1]

One run, one fresh database, fixed-seed data, arms interleaved (see BENCHMARKS.md): first the
read arms (saturated, then paced), then the write arm, whose updates leave work for autovacuum
that would otherwise land in the middle of the read measurements. The server
is the real ``llmtrail serve`` process (one uvicorn worker unless ``--workers``, log level
WARNING, group commit on as shipped). The clients are asyncio tasks in this process, each
with one keep-alive HTTP/1.1 connection, written on raw asyncio streams so the client costs
far less CPU than the server it measures (both share this machine's cores).

Arms, each compared with the HTTP floor of the same server:

- floor: ``GET /healthz`` — the server's cheapest route (no auth, no database).
- get: ``GET /api/projects/{id}/audit-trails/{messageId}`` with a project key, random existing
  trails, on a table of ≥ 100,000 trails. Target p99 < 10 ms (the seed asked for < 100 ms).
- lifecycle: the seed's lifecycle per message — ``POST`` a pending placeholder, then ``PATCH``
  its completion (tokens, cost, reasoning, status); messages/s.

Two load shapes:

- saturated (closed loop): each client sends its next request as soon as the previous one is
  answered. Latency there is mostly queueing: by Little's law ≈ clients / throughput.
- paced (open loop): the same 16 clients together offer a fixed rate (half the GET route's
  saturated throughput); latency is measured from each request's scheduled send time, so a
  stall is not hidden (no coordinated omission). This is the latency an app sees under load
  the server can sustain.

The 100,000 trails are loaded before the server starts, through ``store.store_many``.
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
from typing import Any

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
from llmtrail.model.wire import dumps, loads

PROJECT = "bench-proj-00"
ADMIN = "bench-admin-key"


class Conn:
    """One keep-alive HTTP/1.1 connection on raw asyncio streams (Content-Length bodies)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(
        self, method: str, path: str, headers: bytes = b"", body: bytes = b""
    ) -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + headers + b"\r\n" + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        length = 0
        for line in raw.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length) if length else b""

    def close(self) -> None:
        self.writer.close()


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


def start_server(url: str, port: int, workers: int = 1) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).parent / "llmtrail"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "AUDIT_TRAIL_ADMIN_KEY": ADMIN,
        "AUDIT_TRAIL_LOG_LEVEL": "WARNING",
        "AUDIT_TRAIL_CLEANUP_CRON": "off",
    }
    proc = subprocess.Popen(
        [str(exe), "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("the server exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit("server did not start")


Op = Callable[[Conn, int], Awaitable[int]]


async def saturated(port: int, clients: int, total: int, op: Op) -> Run:
    """``total`` operations over ``clients`` connections, each sending as soon as it can."""
    latencies: list[float] = []
    counter = iter(range(total))
    done = 0
    conns = [await Conn.open(port) for _ in range(clients)]

    async def worker(conn: Conn) -> None:
        nonlocal done
        for i in counter:
            t0 = time.perf_counter()
            ok = await op(conn, i)
            done += ok
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - started
    for c in conns:
        c.close()
    return Run(done, elapsed, latencies)


async def paced(port: int, clients: int, total: int, rate: float, op: Op) -> Run:
    """``total`` operations offered at ``rate``/s overall; latency from the scheduled time."""
    latencies: list[float] = []
    conns = [await Conn.open(port) for _ in range(clients)]
    per_client = total // clients
    interval = clients / rate
    start = time.perf_counter() + 0.05
    done = 0

    async def worker(k: int, conn: Conn) -> None:
        nonlocal done
        offset = start + k * interval / clients
        for j in range(per_client):
            due = offset + j * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            ok = await op(conn, k * per_client + j)
            done += ok
            latencies.append(time.perf_counter() - due)

    await asyncio.gather(*(worker(k, c) for k, c in enumerate(conns)))
    elapsed = time.perf_counter() - start
    for c in conns:
        c.close()
    return Run(done, elapsed, latencies)


def main(argv: list[str] | None = None) -> None:
    raw = list(sys.argv[1:] if argv is None else argv)
    clients, workers = 16, 1
    for a in raw:
        if a.startswith("--clients="):
            clients = int(a.split("=", 1)[1])
        if a.startswith("--workers="):
            workers = int(a.split("=", 1)[1])
    args = bench_args(
        __doc__.splitlines()[0] if __doc__ else "",
        [a for a in raw if not a.startswith(("--clients", "--workers"))],
    )
    table, per_round, rounds = (20_000, 1_600, 3) if args.quick else (100_000, 4_000, 5)
    with fresh_database("bench_http", admin=args.pg) as url:
        print_header(
            "llmtrail HTTP service benchmark (issue 3)",
            url,
            seed=args.seed,
            mode="quick" if args.quick else "full",
            clients=f"{clients} concurrent keep-alive connections (asyncio, raw HTTP/1.1)",
            server=f"llmtrail serve --workers {workers}, log level WARNING, group commit on",
        )
        ids = load(url, table, args.seed)
        with llmtrail.open_store(url) as store:
            _, key = store.create_api_key(PROJECT)
        port = free_port()
        proc = start_server(url, port, workers)
        try:
            asyncio.run(measure(port, key, ids, clients, per_round, rounds, args.seed, url))
        finally:
            proc.terminate()
            proc.wait(15)


async def measure(
    port: int, key: str, ids: list[str], clients: int, n: int, rounds: int, seed: int, url: str
) -> None:
    auth = f"Authorization: Bearer {key}\r\n".encode()
    json_auth = auth + b"Content-Type: application/json\r\n"
    rng = random.Random(seed)
    trails = f"/api/projects/{PROJECT}/audit-trails"
    life_n = n // 4
    fresh = gen_messages(life_n * rounds, seed=seed + 1, projects=1, prefix="http")
    bad: list[str] = []

    async def floor(c: Conn, _: int) -> int:
        status, _body = await c.request("GET", "/healthz")
        return 1 if status == 200 else 0

    async def get(c: Conn, _: int) -> int:
        mid = ids[rng.randrange(len(ids))]
        status, body = await c.request("GET", f"{trails}/{mid}", auth)
        if status != 200 or loads(body)["messageId"] != mid:
            bad.append(f"GET {mid}: {status}")
        return 1

    life_offset = 0

    async def lifecycle(c: Conn, i: int) -> int:
        m = fresh[life_offset + i]
        placeholder = {"messageId": m.message_id, "model": m.model, "status": "pending",
                       "contextLayers": m.context_layers, "timestamp": m.timestamp}  # fmt: skip
        status, body = await c.request("POST", trails, json_auth, dumps(placeholder).encode())
        if status != 201:
            bad.append(f"POST {m.message_id}: {status} {body[:200]!r}")
        path = f"{trails}/{m.message_id}"
        status, body = await c.request("PATCH", path, json_auth, dumps(m.completion()).encode())
        if status != 200:
            bad.append(f"PATCH {m.message_id}: {status} {body[:200]!r}")
        return 1

    await saturated(port, clients, 500, floor)  # warm-up: connections, caches, plans
    await saturated(port, clients, 500, get)
    sat: dict[str, list[Run]] = {"floor": [], "get": [], "lifecycle": []}
    # phase 1: reads, saturated (floor and get interleaved)
    for r in range(rounds):
        for arm in ["floor", "get"] if r % 2 == 0 else ["get", "floor"]:
            sat[arm].append(await saturated(port, clients, n, floor if arm == "floor" else get))
    # phase 2: reads, paced at half the GET route's saturated throughput
    offered = rates(sat["get"]).median / 2
    pace: dict[str, list[Run]] = {"floor": [], "get": []}
    paced_n = max(int(offered * 4), clients * 20)  # about 4 s per run
    for r in range(rounds):
        for arm in ["floor", "get"] if r % 2 == 0 else ["get", "floor"]:
            pace[arm].append(
                await paced(port, clients, paced_n, offered, floor if arm == "floor" else get)
            )
    # phase 3: writes (they leave work for autovacuum, so they come after the reads)
    for _ in range(rounds):
        sat["lifecycle"].append(await saturated(port, clients, life_n, lifecycle))
        life_offset += life_n
    rate = {arm: rates(runs) for arm, runs in sat.items()}
    check("no failed request", not bad, "; ".join(bad[:3]))
    report(sat, pace, rate, offered)
    with llmtrail.open_store(url) as store:
        stored = 0
        for m in fresh[:life_offset]:
            t = store.get(m.message_id)
            stored += t is not None and t.status == "completed" and t.tokens.total == m.total_tokens
    check("every lifecycle message stored and completed", stored == life_offset,
          f"{stored}/{life_offset}")  # fmt: skip


def report(
    sat: dict[str, list[Run]], pace: dict[str, list[Run]], rate: dict[str, Any], offered: float
) -> None:
    lat = {arm: latency_summary(runs) for arm, runs in sat.items()}
    rows = []
    for arm, unit in (("floor", "req/s"), ("get", "req/s"), ("lifecycle", "msg/s")):
        rows.append([
            f"saturated {arm}", f"{rate[arm].fmt(0)} {unit}", lat[arm][50].fmt(2),
            lat[arm][99].fmt(2), f"{pooled_percentile(sat[arm], 99):.2f}",
        ])  # fmt: skip
    plat = {arm: latency_summary(runs) for arm, runs in pace.items()}
    for arm in ("floor", "get"):
        rows.append([
            f"paced {arm}", f"{offered:,.0f} req/s offered", plat[arm][50].fmt(2),
            plat[arm][99].fmt(2), f"{pooled_percentile(pace[arm], 99):.2f}",
        ])  # fmt: skip
    print_table(["arm", "throughput (median, min–max)", "p50 ms", "p99 ms", "pooled p99"], rows)
    floor_rate = rate["floor"].median
    sat_p99 = lat["get"][99].median
    paced_p99 = plat["get"][99].median
    print(f"   GET p99, saturated: {sat_p99:.2f} ms; paced at {offered:,.0f} req/s: "
          f"{paced_p99:.2f} ms — target < 10 ms {'MET' if paced_p99 < 10 else 'MISSED'} (paced), "
          f"{'MET' if sat_p99 < 10 else 'MISSED'} (saturated)")  # fmt: skip
    print(f"   GET / floor, saturated: throughput {rate['get'].median / floor_rate:.2f}×, "
          f"p50 {lat['get'][50].median / lat['floor'][50].median:.2f}×, "
          f"p99 {sat_p99 / lat['floor'][99].median:.2f}×")  # fmt: skip
    print(f"   GET / floor, paced: p50 {plat['get'][50].median / plat['floor'][50].median:.2f}×, "
          f"p99 {paced_p99 / plat['floor'][99].median:.2f}×")  # fmt: skip
    print(f"   lifecycle: {rate['lifecycle'].median:,.0f} messages/s = "
          f"{2 * rate['lifecycle'].median:,.0f} requests/s = "
          f"{2 * rate['lifecycle'].median / floor_rate:.2f}× the floor's requests/s")  # fmt: skip


if __name__ == "__main__":
    main()
