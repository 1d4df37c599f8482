"""``llmtrail serve`` as a real process on a free port, driven over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.api.served import LLMTRAIL, _env, _free_port, _stop, _wait_healthy


@pytest.mark.slow
def test_serve_demo_end_to_end(tmp_path: Path) -> None:
    """The README quick start: ``llmtrail serve --demo`` on the SQLite default."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [*LLMTRAIL, "serve", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_healthy(base, proc)
        health = httpx.get(f"{base}/healthz").json()
        assert health["backend"] == "sqlite" and health["database"].endswith("llmtrail.db")
        assert (tmp_path / "llmtrail.db").exists()
        assert httpx.get(f"{base}/readyz").status_code == 200
    finally:
        out, err = _stop(proc)
    lines = out.splitlines()
    admin = next(x.split(": ", 1)[1] for x in lines if x.startswith("admin key: "))
    key = next(x.rsplit(": ", 1)[1] for x in lines if "project key for 'demo'" in x)
    assert f"{base}/projects/demo/dashboard" in out
    assert admin and key.startswith("ltk_")
    # a second start on the same file: the data survived, the keys printed still work
    proc = subprocess.Popen(
        [*LLMTRAIL, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=_env(AUDIT_TRAIL_ADMIN_KEY="e2e-admin-key"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_healthy(base, proc)
        auth = {"Authorization": f"Bearer {key}"}
        page = httpx.get(f"{base}/api/projects/demo/audit-trails?limit=5", headers=auth).json()
        assert len(page["items"]) == 5 and page["nextCursor"]
        assert len({t["model"] for t in page["items"]}) >= 1
        trail = {
            "messageId": "e2e-1",
            "model": "gpt-4o",
            "cost": {"prompt": "0.1", "completion": "0.2"},
        }
        r = httpx.post(f"{base}/api/projects/demo/audit-trails", json=trail, headers=auth)
        assert r.status_code == 201 and r.json()["cost"]["total"] == 0.3
        r = httpx.patch(
            f"{base}/api/projects/demo/audit-trails/e2e-1", json={"status": "failed"}, headers=auth
        )
        assert r.status_code == 200 and r.json()["status"] == "failed"
        admin_auth = {"Authorization": "Bearer e2e-admin-key"}
        projects = httpx.get(f"{base}/api/projects", headers=admin_auth).json()["items"]
        assert [p["id"] for p in projects] == ["demo"]
        assert httpx.get(f"{base}/api/projects", headers=auth).status_code == 403
        export = httpx.get(f"{base}/api/projects/demo/audit-trails/export", headers=auth)
        assert export.status_code == 200 and len(export.text.splitlines()) > 100
        metrics = httpx.get(f"{base}/metrics").text
        assert "llmtrail_http_requests_total" in metrics
    finally:
        out, err = _stop(proc)
    assert "admin key:" not in out  # the configured key is never printed
    assert "backend=sqlite" in err  # the start-up log names the backend and database


def test_serve_refuses_public_bind_without_admin_key(tmp_path: Path) -> None:
    r = subprocess.run(
        [*LLMTRAIL, "serve", "--host", "0.0.0.0", "--port", str(_free_port())],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0
    assert "AUDIT_TRAIL_ADMIN_KEY" in r.stderr
    assert not (tmp_path / "llmtrail.db").exists()


@pytest.mark.slow
def test_serve_with_two_workers(tmp_path: Path) -> None:
    """``--workers 2``: two processes serve one database; the generated admin key works in both."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [*LLMTRAIL, "serve", "--port", str(port), "--workers", "2"],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_healthy(base, proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        while not line.startswith("admin key: "):
            line = proc.stdout.readline()
        admin = {"Authorization": f"Bearer {line.split(': ', 1)[1].strip()}"}
        with httpx.Client(base_url=base) as client:  # fresh connections land on both workers
            for i in range(20):
                r = client.post("/api/projects", json={"id": f"p{i}"}, headers=admin)
                assert r.status_code == 201, r.text
        with httpx.Client(base_url=base) as client:
            assert len(client.get("/api/projects", headers=admin).json()["items"]) == 20
    finally:
        _stop(proc)


def test_serve_refuses_a_bad_cleanup_schedule_cleanly(tmp_path: Path) -> None:
    env = {**os.environ, "AUDIT_TRAIL_CLEANUP_CRON": "99 * * * *"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmtrail.cli",
            "serve",
            "--port",
            "0",
            "--url",
            f"sqlite:///{tmp_path}/bad.db",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 1
    assert "AUDIT_TRAIL_CLEANUP_CRON" in proc.stderr
    assert "Traceback" not in proc.stderr
