"""The service in dual mode: callers get 201s while the target database refuses
connections; ``/metrics`` shows the backlog; afterwards the target catches up."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

import llmtrail
from llmtrail.config import Settings
from llmtrail.model.wire import dumps
from llmtrail.server import create_app
from llmtrail.transfer import verify_stores
from tests.api.conftest import ADMIN_KEY
from tests.transfer.conftest import pg_count, trail

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def _backlog(client: TestClient) -> float:
    text = client.get("/metrics", headers=ADMIN).text
    for line in text.splitlines():
        if line.startswith("llmtrail_dual_outbox_backlog "):
            return float(line.split()[1])
    raise AssertionError("no backlog metric in /metrics")


def test_service_in_dual_mode_rides_out_a_target_outage(
    pg_url: str, tmp_path: Path, block_database: Callable[[str, bool], None]
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        admin_key=ADMIN_KEY,
        cleanup_cron="off",
        backend="dual",
        DATABASE_URL=pg_url,
        dual_source_url=f"sqlite:///{tmp_path}/old.db",
        dual_outbox=tmp_path / "outbox.db",
        dual_replay_interval=0.1,
    )
    app = create_app(None, settings)
    with TestClient(app) as client:
        health = client.get("/healthz").json()
        assert health["backend"] == "dual" and "->" in health["database"]
        r = client.post("/api/projects", json={"id": "app", "name": "App"}, headers=ADMIN)
        assert r.status_code == 201
        key = client.post("/api/projects/app/keys", headers=ADMIN).json()["key"]
        auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

        def post(i: int) -> int:
            body = dumps({k: v for k, v in trail(i, "app").items() if k != "projectId"})
            return client.post(
                "/api/projects/app/audit-trails", content=body, headers=auth
            ).status_code

        assert [post(i) for i in range(20)] == [201] * 20
        block_database(pg_url, True)
        assert [post(i) for i in range(20, 60)] == [201] * 40
        r = client.patch(
            "/api/projects/app/audit-trails/msg-0000025",
            content=dumps({"status": "failed"}),
            headers=auth,
        )
        assert r.status_code == 200
        assert client.get("/readyz").status_code == 200  # reads come from the source
        assert _backlog(client) > 0
        block_database(pg_url, False)
        deadline = time.monotonic() + 60
        while _backlog(client) > 0:
            assert time.monotonic() < deadline, "the outbox did not drain"
            time.sleep(0.05)
        assert pg_count(pg_url) == 60
    source = llmtrail.open_store(f"sqlite:///{tmp_path}/old.db")
    target = llmtrail.open_store(pg_url)
    try:
        report = verify_stores(source, target)
        assert report.ok, report.differences
        got = target.get("msg-0000025")
        assert got is not None and got.status == "failed"
        assert target.authenticate(key) is not None
    finally:
        source.close()
        target.close()
