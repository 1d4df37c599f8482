"""OpenTelemetry ingest end to end (issue 15): LLM spans exported by the standard OTLP/HTTP
exporter (``BatchSpanProcessor`` + ``OTLPSpanExporter``, the SDK's defaults) until every one
is acknowledged and queryable, spans/s; then, with a fresh server, the same again and a
``kill -9`` of the server 3 s after the last acknowledgement: how many acknowledged spans it
kept.

Arms, each a real server on its own fresh PostgreSQL database, same spans, interleaved:

- llmtrail: ``llmtrail serve`` (one worker, group commit on), ``POST /v1/traces`` with a
  project key; queryable = rows in ``audit_trails``;
- Arize Phoenix (``phoenix serve``), when ``--phoenix`` names the Python of a virtualenv with
  ``arize-phoenix`` installed (it is not a dependency of llmtrail: its pins clash with ours);
  queryable = rows in its ``spans`` table.

The spans carry OpenLLMetry's attributes of an OpenAI chat call (as ``tests/otel`` captures
them), each with its own ``gen_ai.response.id``.

    .venv/bin/python bench/bench_otlp.py --quick
    .venv/bin/python bench/bench_otlp.py --phoenix /tmp/phx/bin/python
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import psycopg
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

from common import Spread, bench_args, check, fresh_database, print_header, print_table

ADMIN = "bench-otlp-admin-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(proc: subprocess.Popen[bytes], port: int, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"{what} did not start")


class Server:
    """One arm: how to start it on a database, where it takes OTLP, how to count what it kept."""

    name: str

    def start(self, url: str) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
        raise NotImplementedError

    def count(self, url: str) -> int:
        raise NotImplementedError


class Llmtrail(Server):
    name = "llmtrail serve (PostgreSQL)"

    def start(self, url: str) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "AUDIT_TRAIL_ADMIN_KEY": ADMIN,
            "AUDIT_TRAIL_LOG_LEVEL": "WARNING",
            "AUDIT_TRAIL_CLEANUP_CRON": "off",
        }
        exe = Path(sys.executable).parent / "llmtrail"
        proc = subprocess.Popen(
            [str(exe), "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL
        )
        wait_port(proc, port, "llmtrail serve")
        base = f"http://127.0.0.1:{port}"
        admin = {"Authorization": f"Bearer {ADMIN}"}
        httpx.post(f"{base}/api/projects", json={"id": "bench"}, headers=admin).raise_for_status()
        r = httpx.post(f"{base}/api/projects/bench/keys", headers=admin)
        r.raise_for_status()
        return proc, f"{base}/v1/traces", {"Authorization": f"Bearer {r.json()['key']}"}

    def count(self, url: str) -> int:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM audit_trails").fetchone()
        return int(row[0]) if row else 0


class Phoenix(Server):
    name = "Arize Phoenix (PostgreSQL)"

    def __init__(self, python: str) -> None:
        self.python = python

    def start(self, url: str) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
        port, grpc = free_port(), free_port()
        env = {
            **os.environ,
            "PHOENIX_PORT": str(port),
            "PHOENIX_GRPC_PORT": str(grpc),
            "PHOENIX_SQL_DATABASE_URL": url,
            "PHOENIX_WORKING_DIR": f"/tmp/phoenix-{port}",
            "PHOENIX_TELEMETRY_ENABLED": "false",
        }
        proc = subprocess.Popen(
            [self.python, "-m", "phoenix.server.main", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(proc, port, "phoenix serve", timeout=300)
        return proc, f"http://127.0.0.1:{port}/v1/traces", {}

    def count(self, url: str) -> int:
        with psycopg.connect(url) as conn:
            try:
                row = conn.execute("SELECT count(*) FROM spans").fetchone()
            except psycopg.errors.UndefinedTable:
                return 0
        return int(row[0]) if row else 0


class CountingExporter(OTLPSpanExporter):
    """The standard exporter, counting the spans the server acknowledged (HTTP 200)."""

    acknowledged = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = super().export(spans)
        if result is SpanExportResult.SUCCESS:
            self.acknowledged += len(spans)
        return result


def send(endpoint: str, headers: dict[str, str], n: int, tag: str) -> tuple[int, float]:
    """Export ``n`` LLM spans; (acknowledged, seconds until the last acknowledgement)."""
    exporter = CountingExporter(endpoint=endpoint, headers=headers, timeout=60)
    provider = TracerProvider(resource=Resource.create({"service.name": "bench-otlp"}))
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=max(2048, n)))
    tracer = provider.get_tracer("opentelemetry.instrumentation.openai.v1")
    started = time.perf_counter()
    for i in range(n):
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.response.id": f"chatcmpl-{tag}-{i}",
            "gen_ai.usage.input_tokens": 1000 + i % 500,
            "gen_ai.usage.output_tokens": 200 + i % 100,
            "gen_ai.usage.cache_read.input_tokens": 256,
        }
        tracer.start_span("openai.chat", attributes=attributes).end()
    provider.force_flush(timeout_millis=300_000)
    seconds = time.perf_counter() - started
    provider.shutdown()
    return exporter.acknowledged, seconds


def until(pred: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def throughput(server: Server, admin: str, n: int) -> tuple[float, float, int]:
    """(ack spans/s, end-to-end spans/s, queryable) on a fresh database."""
    with fresh_database("otlp", migrated=False, admin=admin) as url:
        proc, endpoint, headers = server.start(url)
        try:
            started = time.perf_counter()
            acked, ack_s = send(endpoint, headers, n, uuid.uuid4().hex[:8])
            until(lambda: server.count(url) >= acked, 300)
            end_s = time.perf_counter() - started
            return acked / ack_s, server.count(url) / end_s, server.count(url)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def survival(server: Server, admin: str, n: int) -> tuple[int, int]:
    """(acknowledged, kept) after ``kill -9`` of the server 3 s after the last ack."""
    with fresh_database("otlpkill", migrated=False, admin=admin) as url:
        proc, endpoint, headers = server.start(url)
        acked, _ = send(endpoint, headers, n, uuid.uuid4().hex[:8])
        time.sleep(3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        return acked, server.count(url)


def main() -> None:
    args = bench_args(__doc__ or "", extra=(("--phoenix", "Python of a venv with arize-phoenix"),))
    n = 500 if args.quick else 2_000
    rounds = 1 if args.quick else 3
    arms: list[Server] = [Llmtrail()]
    if args.phoenix:
        arms.append(Phoenix(args.phoenix))
    with fresh_database("otlphdr", migrated=False, admin=args.pg) as url:
        print_header(
            "OTLP ingest: exported → acknowledged → queryable", url, spans=n, rounds=rounds
        )
    results: dict[str, list[tuple[float, float, int]]] = {a.name: [] for a in arms}
    for r in range(rounds):
        for arm in arms[r % len(arms) :] + arms[: r % len(arms)]:
            results[arm.name].append(throughput(arm, args.pg, n))
    rows = []
    for arm in arms:
        runs = results[arm.name]
        rows.append(
            [
                arm.name,
                Spread.of([x[0] for x in runs]).fmt(0),
                Spread.of([x[1] for x in runs]).fmt(0),
                f"{min(x[2] for x in runs):,}",
            ]
        )
        check(f"{arm.name} made every span queryable", all(x[2] == n for x in runs), str(runs))
    print_table(["arm", "acknowledged spans/s", "end-to-end spans/s", "queryable"], rows)
    if len(arms) == 2:
        ours = Spread.of([x[1] for x in results[arms[0].name]]).median
        theirs = Spread.of([x[1] for x in results[arms[1].name]]).median
        print(f"   end to end: llmtrail / Phoenix = {ours / theirs:.1f}× (target ≥ 20×)\n")
    kept_rows = []
    for arm in arms:
        acked, kept = survival(arm, args.pg, n)
        kept_rows.append([arm.name, f"{acked:,}", f"{kept:,}", f"{acked - kept:,}"])
        if isinstance(arm, Llmtrail):
            check("llmtrail kept every acknowledged span after kill -9", kept == acked == n)
    print_table(["arm (kill -9 3 s after the last ack)", "acknowledged", "kept", "lost"], kept_rows)


if __name__ == "__main__":
    main()
