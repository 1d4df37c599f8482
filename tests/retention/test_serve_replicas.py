"""Two real ``llmtrail serve`` processes on one database: the built-in scheduler of each runs,
the purge happens once, and both ``/metrics`` pages show the cleanup."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest

import llmtrail
from tests.api.served import LLMTRAIL, _env, _free_port, _stop, _wait_healthy
from tests.retention.conftest import count, seed_old


def sample(text: str, pattern: str) -> float:
    m = re.search(rf"^{pattern} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


@pytest.mark.slow
def test_two_servers_share_the_schedule(db_url: str, tmp_path: Path) -> None:
    with llmtrail.open_store(db_url) as store:
        seed_old(store, 50)
    started = time.time()
    env = _env(
        DATABASE_URL=db_url,
        AUDIT_TRAIL_ADMIN_KEY="replica-admin-key",
        AUDIT_TRAIL_CLEANUP_CRON="* * * * * *",  # every second, in both
        AUDIT_TRAIL_CLEANUP_TZ="America/New_York",
    )
    ports = [_free_port(), _free_port()]
    procs = [
        subprocess.Popen(
            [*LLMTRAIL, "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for port in ports
    ]
    try:
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for base, proc in zip(bases, procs, strict=True):
            _wait_healthy(base, proc)

        def pages() -> list[str]:
            return [httpx.get(f"{b}/metrics", timeout=5).text for b in bases]

        def handled(text: str) -> float:
            runs = r'llmtrail_cleanup_runs_total\{outcome="%s"\}'
            return sample(text, runs % "success") + sample(text, runs % "skipped")

        deadline = time.monotonic() + 60
        while True:
            texts = pages()
            deleted = sum(sample(t, "llmtrail_cleanup_deleted_trails_total") for t in texts)
            # the last run reaches a replica's /metrics from store_state within its cache time
            recent = all(
                sample(t, "llmtrail_cleanup_last_run_timestamp_seconds") >= started - 1
                for t in texts
            )
            if deleted >= 50 and recent and all(handled(t) >= 3 for t in texts):
                break
            assert time.monotonic() < deadline, texts
            time.sleep(0.2)
    finally:
        for proc in procs:
            _stop(proc)
    assert deleted == 50  # each trail deleted once, by one of the two
    skipped = [sample(t, r'llmtrail_cleanup_runs_total\{outcome="skipped"\}') for t in texts]
    assert sum(skipped) >= 1  # ticks the other replica had
    with llmtrail.open_store(db_url) as store:
        assert count(store) == 0
