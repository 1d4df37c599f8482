"""The access log (SPEC §10): every read of trails recorded with the key id and the count,
listed to admins, written off the request path and complete after a clean shutdown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from llmtrail.config import Settings
from llmtrail.server import create_app
from llmtrail.store import Store, open_store
from tests.api.conftest import ADMIN_KEY, Api, assert_problem

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def entries(api: Api, project: str, **params: Any) -> list[dict[str, Any]]:
    writer = api.app.state.access_log
    assert writer is not None
    writer.flush()  # what the background thread does every half second
    r = api.client.get(f"/api/projects/{project}/access-log", params=params, headers=ADMIN)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def key_id(api: Api, headers: dict[str, str]) -> str:
    keys = api.client.get("/api/projects/p1/keys", headers=ADMIN).json()["items"]
    return str(keys[-1]["id"])


def test_every_read_is_logged_with_its_key_and_count(api: Api) -> None:
    key = api.project("p1")
    kid = key_id(api, key)
    for i in range(3):
        api.post("p1", {"messageId": f"m-{i}", "model": "gpt-4o"}, key)
    base = "/api/projects/p1"
    assert api.client.get(f"{base}/audit-trails/m-1", headers=key).status_code == 200  # fast path
    assert api.client.get(f"{base}/audit-trails/m-1", headers=ADMIN).status_code == 200
    assert (
        api.client.get(f"{base}/audit-trails", params={"limit": 2}, headers=key).status_code == 200
    )
    assert api.client.get(f"{base}/audit-trails/export", headers=key).status_code == 200
    assert api.client.get(f"{base}/assessment/analytics", headers=key).status_code == 200
    assert api.client.get("/api/admin/snapshot", headers=ADMIN).status_code == 200
    got = [(e["keyId"], e["route"], e["items"]) for e in reversed(entries(api, "p1"))]
    trail = "GET /api/projects/{projectId}/audit-trails"
    assert got == [
        (kid, trail + "/{messageId}", 1),
        ("admin", trail + "/{messageId}", 1),
        (kid, trail, 2),
        (kid, trail + "/export", 3),
        (kid, "GET /api/projects/{projectId}/assessment/analytics", 3),
        ("admin", "GET /api/admin/snapshot", 3),
    ]
    again = entries(api, "p1")  # the log's own reads are logged too
    assert again[0]["route"] == "GET /api/projects/{projectId}/access-log"
    assert again[0]["keyId"] == "admin" and all("ltk_" not in str(e) for e in again)


def test_filters_and_paging(api: Api) -> None:
    key = api.project("p1")
    kid = key_id(api, key)
    api.post("p1", {"messageId": "m", "model": "gpt-4o"}, key)
    for _ in range(5):
        api.client.get("/api/projects/p1/audit-trails/m", headers=key)
    api.client.get("/api/projects/p1/audit-trails/m", headers=ADMIN)
    assert {e["keyId"] for e in entries(api, "p1", keyId=kid)} == {kid}
    r = api.client.get(
        "/api/projects/p1/access-log", params={"limit": 2, "keyId": kid}, headers=ADMIN
    )
    first = r.json()
    assert len(first["items"]) == 2 and first["nextCursor"]
    r = api.client.get(
        "/api/projects/p1/access-log",
        params={"limit": 2, "keyId": kid, "cursor": first["nextCursor"]},
        headers=ADMIN,
    )
    ids = [e["id"] for e in first["items"]] + [e["id"] for e in r.json()["items"]]
    assert len(set(ids)) == 4 and ids == sorted(ids, reverse=True)
    assert entries(api, "p1", since="2999-01-01T00:00:00Z") == []


def test_only_admins_read_the_access_log(api: Api) -> None:
    key = api.project("p1")
    assert_problem(api.client.get("/api/projects/p1/access-log", headers=key), 403)
    assert_problem(api.client.get("/api/projects/p1/access-log"), 401)
    assert_problem(api.client.get("/api/projects/nope/access-log", headers=ADMIN), 404)
    bad = api.client.get("/api/projects/p1/access-log", params={"since": "x"}, headers=ADMIN)
    assert_problem(bad, 422)


def test_a_clean_shutdown_writes_every_pending_entry(db_url: str) -> None:
    store = open_store(db_url)
    try:
        app = create_app(store, Settings(admin_key=ADMIN_KEY, cleanup_cron="off"))  # type: ignore[call-arg]
        with TestClient(app) as client:
            client.post("/api/projects", json={"id": "p1"}, headers=ADMIN)
            for _ in range(7):
                client.get("/api/projects/p1/audit-trails", headers=ADMIN)
        # the writer's half-second has not necessarily come: the shutdown wrote them
        page = store.access_log("p1", limit=100)
        assert len(page.items) == 7
    finally:
        store.close()


def test_cleanup_keeps_the_access_log_for_its_own_retention(db_url: str) -> None:
    from datetime import UTC, datetime, timedelta

    from llmtrail.model import AccessEntry
    from llmtrail.retention import run_cleanup

    with open_store(db_url) as store:
        store.create_project("p1")
        now = datetime.now(UTC)
        store.record_reads(
            [
                AccessEntry(now - timedelta(days=500), "p1", "admin", "GET /x", 1),
                AccessEntry(now - timedelta(days=1), "p1", "admin", "GET /x", 1),
            ]
        )
        run_cleanup(store)
        assert [e.at.date() for e in store.access_log("p1").items] == [
            (now - timedelta(days=1)).date()
        ]


@pytest.fixture
def store_only(db_url: str) -> Iterator[Store]:
    with open_store(db_url) as s:
        yield s
