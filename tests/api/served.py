"""``llmtrail serve`` as a real process, for black-box tests: start, wait healthy, stop."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

_SCRIPT = Path(sys.executable).parent / "llmtrail"
LLMTRAIL = (
    [str(_SCRIPT)]
    if _SCRIPT.exists()
    else [sys.executable, "-c", "from llmtrail.cli import main; main()"]
)
ADMIN_KEY = "served-admin-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    """A running server: its base URL, the admin headers and its log file."""

    proc: subprocess.Popen[bytes]
    base: str
    port: int
    log: Path
    url: str
    admin: dict[str, str] = field(default_factory=lambda: {"Authorization": f"Bearer {ADMIN_KEY}"})

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=30, **kw)

    def project(self, pid: str) -> dict[str, str]:
        """Create project ``pid``; the headers of a new key of it."""
        with self.client() as c:
            r = c.post("/api/projects", json={"id": pid}, headers=self.admin)
            assert r.status_code == 201, r.text
            return self.key(pid)

    def key(self, pid: str) -> dict[str, str]:
        with self.client() as c:
            r = c.post(f"/api/projects/{pid}/keys", headers=self.admin)
            assert r.status_code == 201, r.text
            return {"Authorization": f"Bearer {r.json()['key']}"}

    def rss_bytes(self) -> int:
        """Resident memory of the server process (from /proc)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start(url: str, tmp: Path, *args: str, **env: str) -> Served:
    """``llmtrail serve --url URL`` on a free port, healthy, logging to a file in ``tmp``."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIT_TRAIL_")}
    full_env.pop("DATABASE_URL", None)
    full_env.update(AUDIT_TRAIL_ADMIN_KEY=ADMIN_KEY, AUDIT_TRAIL_CLEANUP_CRON="off", **env)
    log = tmp / f"serve-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*LLMTRAIL, "serve", "--url", url, "--port", str(port), *args],
            cwd=tmp,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    served = Served(proc, base, port, log, url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode}:\n{served.log_text()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return served
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop(served)
    raise AssertionError(f"serve did not become healthy:\n{served.log_text()}")


def stop(served: Served) -> None:
    served.proc.terminate()
    try:
        served.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        served.proc.kill()
        served.proc.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIT_TRAIL_")}
    env.pop("DATABASE_URL", None)
    env.update(extra)
    return env


def _wait_healthy(base: str, proc: subprocess.Popen[str], deadline_s: float = 30) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"serve exited with {proc.returncode}:\n{out}\n{err}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail("serve did not become healthy in time")


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.terminate()
    try:
        return proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()
