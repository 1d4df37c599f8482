"""A memory-backed service is drained with ``GET /api/admin/snapshot`` and loaded into
PostgreSQL with ``llmtrail import``: trails, project names and keys survive the move."""

from __future__ import annotations

from pathlib import Path

import llmtrail
from llmtrail.transfer import import_jsonl, verify_stores
from tests.api.conftest import make_api
from tests.transfer.conftest import trail


def test_memory_service_snapshot_imports_into_postgresql(pg_url: str, tmp_path: Path) -> None:
    for api in make_api("memory://"):
        r = api.client.post(
            "/api/projects",
            json={"id": "shop", "name": "The Shop", "retentionDays": 14},
            headers=api.admin,
        )
        assert r.status_code == 201, r.text
        key = api.client.post("/api/projects/shop/keys", headers=api.admin).json()["key"]
        headers = {"Authorization": f"Bearer {key}"}
        for i in range(120):
            body = {k: v for k, v in trail(i, "shop").items() if k != "timestamp"}
            assert api.post("shop", body, headers).status_code == 201
        assert api.client.get("/api/admin/snapshot", headers=headers).status_code == 403
        assert api.client.get("/api/admin/snapshot").status_code == 401
        r = api.client.get("/api/admin/snapshot", headers=api.admin)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/x-ndjson")
        dump = tmp_path / "snapshot.jsonl"
        dump.write_bytes(r.content)
        assert len(dump.read_text().splitlines()) == 1 + 1 + 120

        target = llmtrail.open_store(pg_url)
        try:
            report = import_jsonl(dump, target)
            assert report.trails.created == 120
            assert import_jsonl(dump, target).trails.unchanged == 120  # idempotent
            check = verify_stores(api.store, target)
            assert check.ok, check.differences
            project = target.get_project("shop")
            assert project is not None and project.name == "The Shop"
            assert project.retention_days == 14
            assert target.authenticate(key) is not None  # the same key works after the move
        finally:
            target.close()
