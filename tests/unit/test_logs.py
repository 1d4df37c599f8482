"""Logs never carry a secret, and a bug costs one short record (issue 11, row 2).

``configure_logging`` configures the process (structlog caches its loggers), so each case
runs in a fresh interpreter and the test reads what it wrote to stderr.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

ADMIN = "admin-key-that-must-never-be-logged-42"

_A_BUG = """
import sys, time
from fastapi import Request
from fastapi.testclient import TestClient
from llmtrail.config import Settings
from llmtrail.logs import configure_logging
from llmtrail.server.app import create_app
from llmtrail.store import open_store

admin, fmt = sys.argv[1], sys.argv[2]
configure_logging("INFO", fmt, secrets=[admin])
settings = Settings(admin_key=admin, cleanup_cron="off")
app = create_app(open_store("memory://", settings=settings), settings)

@app.get("/boom")
async def boom(request: Request) -> None:
    captured = dict(request.scope)  # a local holding the headers, bearer key included
    assert captured
    raise RuntimeError("a bug with a scope in a local variable")

client = TestClient(app, raise_server_exceptions=False)
started = time.perf_counter()
r = client.get("/boom", headers={"Authorization": f"Bearer {admin}"})
took = time.perf_counter() - started
print(r.status_code, r.headers["content-type"], r.json()["detail"], took, sep="|")
"""


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_a_500_logs_once_without_locals_or_secrets(fmt: str) -> None:
    run = subprocess.run(
        [sys.executable, "-c", _A_BUG, ADMIN, fmt],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    status, ctype, detail, took = run.stdout.strip().split("|")
    assert (status, ctype) == ("500", "application/problem+json"), run.stderr
    assert detail == "internal error; it has been logged"
    err = run.stderr
    assert ADMIN not in err
    assert "captured" not in err and "'headers'" not in err  # no local variables
    assert err.count("unhandled error (a bug)") == 1
    assert "RuntimeError: a bug with" in err  # the traceback itself is there
    assert len(err) < 20_000, len(err)
    assert float(took) < 1.0, took  # rich's locals rendering took 2–11 s
    if fmt == "json":
        records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        assert any("exception" in rec for rec in records)


_REDACT = """
from llmtrail.logs import configure_logging, redact
configure_logging("INFO", "console", secrets=["custom-admin-secret"])
print(redact(
    "(b'authorization', b'Bearer ltk_abcdefghijklmnopqrstuvwxyz')"
    " {'Authorization': 'Bearer whatever-token'} curl -H 'Authorization: bearer zzz'"
    " key=lta_0123456789abcdef and custom-admin-secret"
))
"""


def test_redact_finds_keys_in_every_rendering() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _REDACT], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    for secret in ("ltk_abc", "whatever-token", "zzz", "lta_0123", "custom-admin-secret"):
        assert secret not in out
    assert out.count("[redacted]") == 5
