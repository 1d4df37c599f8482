"""Every route of SPEC §3 (except chat, analytics, dashboard, cleanup) and its status codes."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

from llmtrail.model.wire import loads
from tests.api.conftest import Api, assert_problem, trail


def test_healthz_and_readyz(api: Api) -> None:
    r = api.client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["backend"] == api.store.backend in ("sqlite", "postgresql")
    assert body["database"] == api.store.database
    r = api.client.get("/readyz")
    assert r.status_code == 200 and r.json()["backend"] == api.store.backend


def test_projects_crud(api: Api) -> None:
    c, admin = api.client, api.admin
    r = c.post(
        "/api/projects", json={"id": "acme", "name": "Acme", "retentionDays": 30}, headers=admin
    )
    assert r.status_code == 201
    assert r.json()["id"] == "acme" and r.json()["retentionDays"] == 30
    assert_problem(c.post("/api/projects", json={"id": "acme"}, headers=admin), 409)
    r = c.post("/api/projects", headers=admin)  # no body: id generated
    assert r.status_code == 201 and r.json()["id"] and r.json()["name"] == r.json()["id"]
    listed = c.get("/api/projects", headers=admin).json()["items"]
    assert "acme" in [p["id"] for p in listed] and len(listed) == 2
    assert c.get("/api/projects/acme", headers=admin).json()["name"] == "Acme"
    key = api.key("acme")
    assert c.get("/api/projects/acme", headers=key).status_code == 200  # its own key
    assert_problem(c.get("/api/projects/nope", headers=admin), 404)
    assert api.post("acme", trail(), key).status_code == 201
    r = c.delete("/api/projects/acme", headers=admin)
    assert r.status_code == 204 and r.content == b""
    assert_problem(c.get("/api/projects/acme", headers=admin), 404)
    assert api.store.get("m-1") is None  # cascade
    assert_problem(c.get("/api/projects/acme", headers=key), 401)  # its keys went too
    assert_problem(c.delete("/api/projects/acme", headers=admin), 404)


def test_keys_create_list_revoke(api: Api) -> None:
    c, admin = api.client, api.admin
    c.post("/api/projects", json={"id": "p1"}, headers=admin)
    r = c.post("/api/projects/p1/keys", headers=admin)
    assert r.status_code == 201
    created = r.json()
    assert set(created) == {"id", "key"} and created["key"].startswith("ltk_")
    key = {"Authorization": f"Bearer {created['key']}"}
    assert api.post("p1", trail(), key).status_code == 201
    listed = c.get("/api/projects/p1/keys", headers=admin).json()["items"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert created["key"] not in json.dumps(listed)  # the secret is shown once only
    assert c.delete(f"/api/projects/p1/keys/{created['id']}", headers=admin).status_code == 204
    assert_problem(api.post("p1", trail("m-2"), key), 401)
    assert_problem(c.delete("/api/projects/p1/keys/nokey", headers=admin), 404)
    assert_problem(c.post("/api/projects/ghost/keys", headers=admin), 404)


def test_create_is_idempotent_and_conflicts(api: Api) -> None:
    key = api.project("p1")
    r = api.post("p1", trail(), key)
    assert r.status_code == 201
    first = loads(r.content)
    assert first["cost"] == {
        "prompt": Decimal("0.0036"),
        "completion": Decimal("0.00525"),
        "total": Decimal("0.00885"),
    }
    assert b'"total":0.00885' in r.content  # exact decimal, written as a number
    assert first["costSource"] == "provided" and first["projectId"] == "p1"
    assert first["timestamp"] == "2026-11-30T12:00:00Z"
    again = api.post("p1", trail(), key)
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    assert_problem(api.post("p1", trail(model="other"), key), 409)
    # a retry without a timestamp gets the first trail back (the default does not count)
    body = trail("m-2")
    del body["timestamp"]
    assert api.post("p1", body, key).status_code == 201
    assert api.post("p1", body, key).status_code == 200


def test_cost_totals_are_exact(api: Api) -> None:
    key = api.project("p1")
    r = api.post("p1", trail(cost={"prompt": 0.1, "completion": 0.2}), key)
    assert r.status_code == 201
    assert b'"total":0.3' in r.content and b"0.30000000000000004" not in r.content


def test_batch(api: Api) -> None:
    key = api.project("p1")
    assert api.post("p1", trail("dup"), key).status_code == 201
    items = [
        trail("b-1"),
        {"model": "x"},
        trail("dup"),
        trail("dup", model="changed"),
        trail("b-2"),
    ]
    r = api.client.post("/api/projects/p1/audit-trails/batch", json={"items": items}, headers=key)
    assert r.status_code == 200
    out = r.json()["items"]
    assert [i["status"] for i in out] == [201, 422, 200, 409, 201]
    assert out[0]["trail"]["messageId"] == "b-1"
    assert out[1]["problem"]["errors"][0]["field"] == "messageId"
    assert out[3]["problem"]["status"] == 409
    assert api.store.get("b-2") is not None and api.store.get("b-1") is not None
    too_many = {"items": [trail(f"x-{i}") for i in range(1001)]}
    r = api.client.post("/api/projects/p1/audit-trails/batch", json=too_many, headers=key)
    assert_problem(r, 422)
    assert api.store.get("x-0") is None
    r = api.client.post("/api/projects/p1/audit-trails/batch", json={"items": []}, headers=key)
    assert r.status_code == 200 and r.json() == {"items": []}


def test_get_and_patch(api: Api) -> None:
    key = api.project("p1")
    api.post("p1", trail(status="pending", cost=None, tokens=None), key)
    r = api.client.get("/api/projects/p1/audit-trails/m-1", headers=key)
    assert r.status_code == 200 and r.json()["status"] == "pending"
    assert_problem(api.client.get("/api/projects/p1/audit-trails/none", headers=key), 404)
    patch = {
        "status": "completed",
        "tokens": {"prompt": 10, "completion": 5},
        "cost": {"prompt": "0.001", "completion": "0.002"},
        "reasoning": ["done"],
        "metadata": {"k": "v"},
    }
    r = api.client.patch("/api/projects/p1/audit-trails/m-1", json=patch, headers=key)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "completed" and body["tokens"]["total"] == 15
    assert body["cost"]["total"] == 0.003 and body["reasoning"] == ["done"]
    assert body["updatedAt"] >= body["createdAt"]
    stored = api.store.get("m-1")
    assert stored is not None and stored.cost is not None and stored.cost.total == Decimal("0.003")
    for bad in ({"model": "x"}, {"messageId": "y"}, {"timestamp": "2026-01-01T00:00:00Z"}):
        assert_problem(
            api.client.patch("/api/projects/p1/audit-trails/m-1", json=bad, headers=key), 422
        )
    r = api.client.patch(
        "/api/projects/p1/audit-trails/none", json={"status": "failed"}, headers=key
    )
    assert_problem(r, 404)


def test_list_filters_and_cursor(api: Api) -> None:
    key = api.project("p1")
    for i in range(7):
        body = trail(f"m-{i}", timestamp=f"2026-11-2{i}T10:00:00Z", model="a" if i % 2 else "b")
        body["status"] = "failed" if i == 3 else "completed"
        assert api.post("p1", body, key).status_code == 201
    base = "/api/projects/p1/audit-trails"
    r = api.client.get(base, headers=key)
    items = r.json()["items"]
    assert [t["messageId"] for t in items] == [f"m-{i}" for i in range(6, -1, -1)]
    assert r.json()["nextCursor"] is None
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api.client.get(base, params=params, headers=key).json()
        seen += [t["messageId"] for t in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == [t["messageId"] for t in items]
    q = {"since": "2026-11-22T00:00:00Z", "until": "2026-11-25T00:00:00+00:00", "model": "a"}
    got = api.client.get(base, params=q, headers=key).json()["items"]
    assert [t["messageId"] for t in got] == ["m-3"]
    got = api.client.get(base, params={"status": "failed"}, headers=key).json()["items"]
    assert [t["messageId"] for t in got] == ["m-3"]
    for bad in ({"limit": 0}, {"limit": 1001}, {"cursor": "garbage!"}, {"since": "2026-11-22"},
                {"since": "2026-11-22T00:00:00"}, {"status": "done"}):  # fmt: skip
        assert_problem(api.client.get(base, params=bad, headers=key), 422)


def test_export_jsonl_and_csv(api: Api) -> None:
    key = api.project("p1")
    for i in range(3):
        api.post("p1", trail(f"m-{i}", timestamp=f"2026-11-2{i}T10:00:00Z"), key)
    base = "/api/projects/p1/audit-trails/export"
    r = api.client.get(base, headers=key)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    lines = [loads(line) for line in r.text.splitlines()]
    assert [t["messageId"] for t in lines] == ["m-2", "m-1", "m-0"]
    assert lines[0]["cost"]["total"] == Decimal("0.00885")
    r = api.client.get(base, params={"format": "csv", "since": "2026-11-21T00:00:00Z"}, headers=key)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["messageId"] for row in rows] == ["m-2", "m-1"]
    assert rows[0]["costTotal"] == "0.00885" and json.loads(rows[0]["reasoning"]) == [
        "step one",
        "step two",
    ]
    assert_problem(api.client.get(base, params={"format": "xml"}, headers=key), 422)


def test_export_streams_many_pages(api: Api) -> None:
    key = api.project("p1")
    items = [trail(f"m-{i:04d}") for i in range(1200)]
    for i in range(0, 1200, 600):
        r = api.client.post(
            "/api/projects/p1/audit-trails/batch", json={"items": items[i : i + 600]}, headers=key
        )
        assert all(x["status"] == 201 for x in r.json()["items"])
    r = api.client.get("/api/projects/p1/audit-trails/export", headers=key)
    ids = {loads(line)["messageId"] for line in r.text.splitlines()}
    assert len(ids) == 1200


def test_unknown_route_and_method(api: Api) -> None:
    assert_problem(api.client.get("/api/nothing"), 404)
    assert_problem(api.client.put("/healthz"), 405)


def test_metrics(api: Api) -> None:
    key = api.project("p1")
    api.post("p1", trail(), key)
    r = api.client.get("/metrics")
    assert r.status_code == 200
    text = r.text
    assert (
        'llmtrail_http_requests_total{method="POST",route="/api/projects/{projectId}/audit-trails",status="201"}'
        in text
    )
    assert "llmtrail_http_request_duration_seconds_bucket" in text
    assert f'llmtrail_trails_stored_total{{backend="{api.store.backend}"}}' in text
    assert f'llmtrail_backend_info{{backend="{api.store.backend}"' in text


def test_metrics_needs_admin_off_loopback(db_url: str) -> None:
    from fastapi.testclient import TestClient

    from llmtrail.config import Settings
    from llmtrail.server import create_app
    from llmtrail.store import open_store
    from tests.api.conftest import ADMIN_KEY

    s = Settings(admin_key=ADMIN_KEY, cleanup_cron="off")  # type: ignore[call-arg]
    store = open_store(db_url, settings=s)
    try:
        with TestClient(create_app(store, s), client=("203.0.113.9", 5000)) as c:
            assert_problem(c.get("/metrics"), 401)
            assert_problem(c.get("/metrics", headers={"Authorization": "Bearer nope"}), 401)
            r = c.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
            assert r.status_code == 200 and "llmtrail_http_requests_total" in r.text
    finally:
        store.close()


def test_openapi_served(api: Api) -> None:
    doc = api.client.get("/openapi.json").json()
    paths = doc["paths"]
    assert "/api/projects/{projectId}/audit-trails" in paths
    post = paths["/api/projects/{projectId}/audit-trails"]["post"]
    assert "messageId" in post["requestBody"]["content"]["application/json"]["schema"]["properties"]


def test_key_revoked_elsewhere_stops_working_within_the_cache_time(sqlite_url: str) -> None:
    import time
    from contextlib import contextmanager

    from tests.api.conftest import make_api

    with contextmanager(make_api)(sqlite_url, auth_cache_seconds=0.5) as api:
        key = api.project("p1")
        url = "/api/projects/p1/audit-trails"
        assert api.client.get(url, headers=key).status_code == 200  # now cached
        (record,) = api.store.list_api_keys("p1")
        api.store.revoke_api_key("p1", record.id)  # as the CLI or another replica would
        deadline = time.monotonic() + 5
        while api.client.get(url, headers=key).status_code != 401:
            assert time.monotonic() < deadline, "a revoked key kept working"
            time.sleep(0.05)


def test_body_limit_counts_streamed_bytes(db_url: str) -> None:
    """A chunked body (no Content-Length) over the limit is a 413 too, and nothing lands."""
    from contextlib import contextmanager

    from tests.api.conftest import make_api

    with contextmanager(make_api)(db_url, max_body_bytes=4096) as api:
        key = api.project("p1")
        before = api.snapshot()

        def chunks():  # type: ignore[no-untyped-def]
            yield b'{"messageId": "big", "model": "m", "reasoning": ["'
            for _ in range(100):
                yield b"x" * 1000
            yield b'"]}'

        r = api.client.post(
            "/api/projects/p1/audit-trails",
            content=chunks(),
            headers={**key, "Content-Type": "application/json"},
        )
        assert "content-length" not in r.request.headers
        assert_problem(r, 413)
        declared = api.post("p1", trail(reasoning=["x" * 5000]), key)
        assert_problem(declared, 413)
        assert api.snapshot() == before
        assert api.post("p1", trail(), key).status_code == 201  # under the limit: fine


def test_request_and_stored_trail_logs(api: Api, caplog: Any) -> None:
    """One structured line per request; each stored trail at debug level (messageId, cost)."""
    import logging

    from structlog.testing import capture_logs

    key = api.project("p1")
    caplog.set_level(logging.DEBUG)
    with capture_logs() as events:
        assert api.post("p1", trail("logged-1"), key).status_code == 201
    (access,) = [e for e in events if e["event"] == "request"]
    assert access["log_level"] == "info" and access["status"] == 201
    assert access["route"] == "/api/projects/{projectId}/audit-trails"
    assert access["method"] == "POST" and access["ms"] >= 0
    (stored,) = [e for e in events if e["event"] == "trail stored"]
    assert stored["log_level"] == "debug"
    assert stored["messageId"] == "logged-1" and stored["cost"] == "0.00885"
