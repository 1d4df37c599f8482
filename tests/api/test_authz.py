"""Authorization matrix: for every /api route, a key of project A on project B, a revoked
key, no key and a wrong key never read, list, export, analyse or change anything of B.

Routes are taken from the app itself, so routes added later are covered too.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from llmtrail.model.wire import dumps
from tests.api.conftest import Api, assert_problem, trail

ADMIN_ONLY_MARKERS = ("/keys", "/api/admin")
SECRET_TEXT = "secret-of-b"


def _routes(api: Api) -> list[tuple[str, str]]:
    paths = api.client.get("/openapi.json").json()["paths"]
    return [
        (method.upper(), path)
        for path, ops in paths.items()
        if path.startswith("/api/")
        for method in ops
        if method in ("get", "post", "put", "patch", "delete")
    ]


def _body(method: str, path: str) -> Any:
    if method not in ("POST", "PATCH", "PUT"):
        return None
    if path.endswith("/batch"):
        return {"items": [trail("evil-batch")]}
    if path.endswith("/audit-trails"):
        return trail("evil-new")
    if "{messageId}" in path:
        return {"status": "failed", "reasoning": ["overwritten"]}
    if path == "/api/projects":
        return {"id": "evil-project"}
    return {}


def _fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x"), path)


@pytest.fixture
def two_projects(api: Api) -> tuple[Api, dict[str, str], dict[str, str], dict[str, str], str]:
    key_a = api.project("proj-a")
    key_b = api.project("proj-b")
    assert api.post("proj-a", trail("a-1"), key_a).status_code == 201
    b_trail = trail("msg-of-b", reasoning=[SECRET_TEXT], metadata={"note": SECRET_TEXT})
    assert api.post("proj-b", b_trail, key_b).status_code == 201
    revoked = api.key("proj-b")
    r = api.client.get("/api/projects/proj-b/keys", headers=api.admin)
    secret = revoked["Authorization"].removeprefix("Bearer ")
    (gone,) = [k for k in r.json()["items"] if secret.startswith(k["prefix"])]
    url = f"/api/projects/proj-b/keys/{gone['id']}"
    assert api.client.delete(url, headers=api.admin).status_code == 204
    (key_id,) = [k["id"] for k in r.json()["items"] if k["id"] != gone["id"]]
    return api, key_a, key_b, revoked, key_id


def test_matrix(two_projects: Any) -> None:
    api, key_a, _key_b, revoked, key_id = two_projects
    values = {"projectId": "proj-b", "messageId": "msg-of-b", "keyId": key_id}
    callers = {
        "key of A": (key_a, 403),
        "revoked key of B": (revoked, 401),
        "no key": ({}, 401),
        "wrong key": ({"Authorization": "Bearer ltk_not-a-real-key"}, 401),
        "not bearer": ({"Authorization": "Basic dXNlcjpwYXNz"}, 401),
    }
    before = api.snapshot()
    routes = _routes(api)
    assert len(routes) >= 11, routes
    checked = 0
    for method, path in routes:
        url = _fill(path, values)
        body = _body(method, path)
        for who, (headers, want) in callers.items():
            content = None if body is None else dumps(body).encode()
            r = api.client.request(
                method, url, content=content,
                headers={**headers, "Content-Type": "application/json"},
            )  # fmt: skip
            assert r.status_code == want, (who, method, path, r.status_code, r.text)
            assert_problem(r, want)
            assert SECRET_TEXT not in r.text and "msg-of-b" not in r.text.replace(url, "")
            if want == 401:
                assert r.headers["www-authenticate"].startswith("Bearer")
            checked += 1
    assert checked == len(routes) * len(callers)
    assert api.snapshot() == before


def test_admin_only_routes_refuse_project_keys(two_projects: Any) -> None:
    api, _key_a, key_b, _, key_id = two_projects
    before = api.snapshot()
    c = api.client
    for r in (
        c.get("/api/projects", headers=key_b),
        c.post("/api/projects", json={"id": "new"}, headers=key_b),
        c.delete("/api/projects/proj-b", headers=key_b),
        c.post("/api/projects/proj-b/keys", headers=key_b),
        c.get("/api/projects/proj-b/keys", headers=key_b),
        c.delete(f"/api/projects/proj-b/keys/{key_id}", headers=key_b),
    ):
        assert_problem(r, 403)
    for method, path in _routes(api):
        if path.startswith("/api/admin"):
            assert_problem(c.request(method, path, json={}, headers=key_b), 403)
    assert api.snapshot() == before


def test_own_project_routes_cannot_reach_other_trails(two_projects: Any) -> None:
    """Through A's own routes, with A's key, B's trail is invisible and unchangeable."""
    api, key_a, _, _, _ = two_projects
    before = api.snapshot()
    c = api.client
    assert_problem(c.get("/api/projects/proj-a/audit-trails/b-1", headers=key_a), 404)
    r = c.patch("/api/projects/proj-a/audit-trails/b-1", json={"status": "failed"}, headers=key_a)
    assert_problem(r, 404)
    listed = c.get("/api/projects/proj-a/audit-trails", headers=key_a).json()["items"]
    assert [t["messageId"] for t in listed] == ["a-1"]
    exported = c.get("/api/projects/proj-a/audit-trails/export", headers=key_a).text
    assert "msg-of-b" not in exported and SECRET_TEXT not in exported
    csv_text = c.get("/api/projects/proj-a/audit-trails/export?format=csv", headers=key_a).text
    assert "msg-of-b" not in csv_text
    # storing B's messageId under A: a conflict that reveals nothing of B's content
    r = api.post("proj-a", trail("msg-of-b"), key_a)
    assert_problem(r, 409)
    assert SECRET_TEXT not in r.text and "proj-b" not in r.text
    r = c.post(
        "/api/projects/proj-a/audit-trails/batch",
        json={"items": [trail("msg-of-b")]},
        headers=key_a,
    )
    assert r.json()["items"][0]["status"] == 409 and SECRET_TEXT not in r.text
    # a body naming project B is refused on A's route
    assert_problem(api.post("proj-a", trail("a-2", projectId="proj-b"), key_a), 422)
    assert api.snapshot() == before
