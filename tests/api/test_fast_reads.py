"""The fast path of ``GET …/audit-trails/{messageId}`` (server/fast_reads.py) answers exactly
as the route does, and hands every other case to the route."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, assert_problem, trail


def served(api: Api) -> int:
    return int(api.app.state.fast_reads.served)


def reads_counted(api: Api) -> float:
    """The GET-one requests the metrics middleware counted under the route's template."""
    template = 'route="/api/projects/{projectId}/audit-trails/{messageId}"'
    for line in api.client.get("/metrics").text.splitlines():
        name = "llmtrail_http_request_duration_seconds_count"
        if line.startswith(name) and template in line and 'method="GET"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def get(api: Api, pid: str, mid: str, headers: dict[str, str], query: str = "") -> Any:
    return api.client.get(f"/api/projects/{pid}/audit-trails/{mid}{query}", headers=headers)


def test_ordinary_reads_are_served_fast_with_the_routes_answer(api: Api) -> None:
    key = api.project("p1")
    assert api.post("p1", trail("m-1"), key).status_code == 201
    assert api.post("p1", trail("m 2/ü"), key).status_code == 201  # not served: '/' in id
    counted = reads_counted(api)  # (the registry is the process's: other tests count too)
    first = get(api, "p1", "m-1", key)  # the route answers the first one (and is learnt)
    assert served(api) == 0
    fast = get(api, "p1", "m-1", key)
    admin = get(api, "p1", "m-1", api.admin)
    assert served(api) == 2
    routed = get(api, "p1", "m-1", key, "?x=1")  # a query string always goes to the route
    assert served(api) == 2
    for r in (fast, admin, routed):
        assert r.status_code == 200
        assert r.content == first.content
        assert r.headers["content-type"] == first.headers["content-type"]
    assert reads_counted(api) == counted + 4  # every read, fast or not, under the template


def test_every_other_case_gets_the_routes_problem(api: Api) -> None:
    a, b = api.project("pa"), api.project("pb")
    assert api.post("pa", trail("m-1"), a).status_code == 201
    assert api.post("pb", trail("m-b"), b).status_code == 201
    assert get(api, "pa", "m-1", a).status_code == 200  # learnt
    before = served(api)
    assert_problem(get(api, "pa", "m-1", b), 403)  # a cached key of another project
    assert_problem(get(api, "pa", "m-b", a), 404)  # a trail of another project
    assert_problem(get(api, "pa", "nope", a), 404)
    assert_problem(get(api, "pa", "m-1", {"Authorization": "Bearer ltk_wrong"}), 401)
    assert_problem(get(api, "pa", "m-1", {"Authorization": "Basic abc"}), 401)
    assert_problem(get(api, "pa", "m-1", {}), 401)
    assert_problem(get(api, "pa", "x" * 256, a), 422)
    assert served(api) == before
    # Revoking the key through the API empties the cache: the next read is refused at once.
    key_id = api.client.get("/api/projects/pa/keys", headers=api.admin).json()
    for k in key_id["items"] if isinstance(key_id, dict) else key_id:
        api.client.delete(f"/api/projects/pa/keys/{k['id']}", headers=api.admin)
    assert_problem(get(api, "pa", "m-1", a), 401)
