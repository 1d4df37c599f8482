"""Logs never carry a secret, and a bug costs one short record (issue 11, row 2)."""

from __future__ import annotations

import json
import logging
import time

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from llmtrail.config import Settings
from llmtrail.logs import configure_logging, redact
from llmtrail.server.app import create_app
from llmtrail.store import open_store

ADMIN = "admin-key-that-must-never-be-logged-42"


def _app_with_a_bug(tmp_path: object) -> TestClient:
    settings = Settings(admin_key=ADMIN, cleanup_cron="off")  # type: ignore[call-arg]
    store = open_store("memory://", settings=settings)
    app = create_app(store, settings)

    @app.get("/boom")
    async def boom(request: Request) -> None:
        captured = dict(request.scope)  # a local holding the headers, bearer key included
        assert captured
        raise RuntimeError("a bug with a scope in a local variable")

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_a_500_logs_once_without_locals_or_secrets(
    fmt: str, tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", fmt, secrets=[ADMIN])
    client = _app_with_a_bug(tmp_path)
    capsys.readouterr()
    started = time.perf_counter()
    r = client.get("/boom", headers={"Authorization": f"Bearer {ADMIN}"})
    took = time.perf_counter() - started
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "internal error; it has been logged"
    err = capsys.readouterr().err
    assert ADMIN not in err
    assert "captured" not in err and "'headers'" not in err  # no local variables
    assert err.count("unhandled error (a bug)") == 1
    assert "RuntimeError: a bug with" in err  # the traceback itself is there
    assert len(err) < 20_000, len(err)
    assert took < 1.0, took  # rich's locals rendering took 2–11 s
    if fmt == "json":
        records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        assert any("exception" in rec for rec in records)
    logging.getLogger().handlers.clear()


def test_redact_finds_keys_in_every_rendering() -> None:
    configure_logging("INFO", "console", secrets=["custom-admin-secret"])
    text = (
        "(b'authorization', b'Bearer ltk_abcdefghijklmnopqrstuvwxyz')"
        " {'Authorization': 'Bearer whatever-token'} curl -H 'Authorization: bearer zzz'"
        " key=lta_0123456789abcdef and custom-admin-secret"
    )
    out = redact(text)
    for secret in ("ltk_abc", "whatever-token", "zzz", "lta_0123", "custom-admin-secret"):
        assert secret not in out
    assert out.count("[redacted]") == 5
    logging.getLogger().handlers.clear()
