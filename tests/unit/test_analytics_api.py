"""The analytics route, the dashboard page and ``llmtrail report`` over the real app and CLI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrail.model import loads
from tests.api.conftest import Api, make_api

PATH = "/api/projects/{}/assessment/analytics"


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    yield from make_api(url)


def _seed(api: Api) -> dict[str, str]:
    headers = api.project("shop")
    now = datetime.now(UTC)
    items = [
        {
            "messageId": f"s{i}",
            "model": "gpt-4o" if i % 3 else "claude-3-7-sonnet-20250219",
            "timestamp": (now - timedelta(hours=7 * i)).isoformat(),
            "tokens": {"prompt": 10 * i, "completion": 5},
            "cost": {"prompt": "0.1", "completion": "0.2"},
        }
        for i in range(40)
    ]
    r = api.client.post(
        "/api/projects/shop/audit-trails/batch", json={"items": items}, headers=headers
    )
    assert r.status_code == 200, r.text
    return headers


def _get(api: Api, headers: dict[str, str], pid: str = "shop", **params: Any) -> Any:
    return api.client.get(PATH.format(pid), params=params, headers=headers)


def test_shape_and_exact_money(api: Api) -> None:
    headers = _seed(api)
    r = _get(api, headers, days=7)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = loads(r.content)
    assert list(body) == ["analytics"]
    a = body["analytics"]
    assert set(a) == {
        "totalCost",
        "totalTokens",
        "averageCost",
        "messageCount",
        "costByDay",
        "costByModel",
        "recentTrails",
    }
    n = a["messageCount"]
    assert 0 < n < 40
    assert a["totalCost"] == Decimal("0.3") * n  # exact: 0.1 + 0.2 == 0.3, n times
    assert b"0.30000000000000004" not in r.content
    assert a["averageCost"] == Decimal("0.3")
    assert len(a["costByDay"]) == 7
    assert sum(d["messages"] for d in a["costByDay"]) == n
    assert {m["model"] for m in a["costByModel"]} <= {"gpt-4o", "claude-3-7-sonnet-20250219"}
    assert len(a["recentTrails"]) == 10
    assert a["recentTrails"][0]["messageId"] == "s0"
    assert set(a["recentTrails"][0]) >= {"messageId", "model", "tokens", "cost", "timestamp"}
    # default window: 30 days; the admin key works too
    r30 = _get(api, api.admin)
    assert r30.status_code == 200
    assert len(r30.json()["analytics"]["costByDay"]) == 30


def test_since_until_and_tz(api: Api) -> None:
    headers = _seed(api)
    now = datetime.now(UTC)
    since = (now - timedelta(days=2)).isoformat()
    r = _get(api, headers, since=since, until=now.isoformat(), tz="Asia/Kathmandu")
    assert r.status_code == 200, r.text
    a = loads(r.content)["analytics"]
    assert a["messageCount"] == 7  # s0 … s6 (every 7 hours)
    # "+05:45" sent unencoded arrives as a space and is still understood
    local = (now - timedelta(days=2)).astimezone().isoformat()
    url = PATH.format("shop") + f"?since={local.replace('+', ' ')}"
    assert api.client.get(url, headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"days": 0}, "days"),
        ({"days": "abc"}, "days"),
        ({"days": 10**9}, "days"),
        ({"tz": "Not/AZone"}, "tz"),
        ({"since": "2026-01-01"}, "since"),
        ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"until": "garbage"}, "until"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(
    api: Api, params: dict[str, Any], field: str
) -> None:
    headers = _seed(api)
    r = _get(api, headers, **params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in r.json()["errors"]]


def test_auth(api: Api) -> None:
    headers = _seed(api)
    other = api.project("other")
    assert _get(api, {}).status_code == 401
    assert _get(api, {"Authorization": "Bearer nope"}).status_code == 401
    assert _get(api, other).status_code == 403
    assert _get(api, api.admin, pid="missing").status_code == 404
    assert _get(api, headers).status_code == 200
    assert _get(api, other, pid="other").json()["analytics"]["messageCount"] == 0


def test_after_project_deletion(api: Api) -> None:
    _seed(api)
    assert api.client.delete("/api/projects/shop", headers=api.admin).status_code == 204
    assert _get(api, api.admin).status_code == 404


def test_dashboard_page_and_assets(api: Api) -> None:
    r = api.client.get("/projects/shop/dashboard")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert 'data-project="shop"' in r.text
    assert "/static/dashboard/vendor/chartjs/chart.umd.min.js" in r.text
    # no data is in the page itself, and nothing comes from another host
    assert "totalCost" not in r.text and "https://" not in r.text
    for asset in ("dashboard.js", "dashboard.css", "vendor/chartjs/chart.umd.min.js"):
        a = api.client.get(f"/static/dashboard/{asset}")
        assert a.status_code == 200, asset
    assert "javascript" in api.client.get("/static/dashboard/dashboard.js").headers["content-type"]
    assert api.client.get("/static/dashboard/vendor/chartjs/LICENSE.md").status_code == 200
    assert api.client.get("/static/dashboard/nope.js").status_code == 404
    assert api.client.get("/projects/bad%20id/dashboard").status_code == 422


def test_report_cli(sqlite_url: str) -> None:
    from llmtrail.cli.app import _register, app
    from llmtrail.store import open_store

    store = open_store(sqlite_url)
    store.create_project("cli")
    now = datetime.now(UTC)
    store.store_many(
        [
            {
                "messageId": f"c{i}",
                "model": "ft:gpt-4o-mini-2024-07-18:acme:very-long-fine-tune-name:abc123",
                "timestamp": now - timedelta(hours=i),
                "tokens": {"prompt": 100, "completion": 1},
                "cost": {"prompt": "0.000001"},
            }
            for i in range(30)
        ],
        "cli",
    )
    store.close()
    _register()
    runner = CliRunner()
    r = runner.invoke(app, ["report", "cli", "--days", "3", "--url", sqlite_url])
    assert r.exit_code == 0, r.output
    assert "$0.00003" in r.output and "30" in r.output
    assert "cost per day" in r.output and "recent trails" in r.output
    r = runner.invoke(app, ["report", "cli", "--json", "--url", sqlite_url])
    assert r.exit_code == 0
    assert loads(r.output[r.output.index("{") :])["analytics"]["totalCost"] == Decimal("0.00003")
    r = runner.invoke(app, ["report", "nope", "--url", sqlite_url])
    assert r.exit_code == 1
    r = runner.invoke(app, ["report", "cli", "--days", "0", "--url", sqlite_url])
    assert r.exit_code == 1
    r = runner.invoke(app, ["report", "cli", "--group-by", "model", "--url", sqlite_url])
    assert r.exit_code == 0, r.output
    assert "cost by model" in r.output
    r = runner.invoke(
        app, ["report", "cli", "--group-by", "provider", "--json", "--url", sqlite_url]
    )
    assert "costByGroup" in loads(r.output[r.output.index("{") :])["analytics"]
    r = runner.invoke(app, ["report", "cli", "--group-by", "colour", "--url", sqlite_url])
    assert r.exit_code == 1 and "groupBy" in r.output


def test_dashboard_behind_a_path_prefix(api: Api) -> None:
    from fastapi.testclient import TestClient

    with TestClient(api.app, root_path="/audit") as client:
        r = client.get("/audit/projects/shop/dashboard")
    assert r.status_code == 200
    assert 'data-base="/audit"' in r.text
    assert 'src="/audit/static/dashboard/dashboard.js' in r.text


def test_explorer_pages_are_served_with_the_dashboards_headers(api: Api) -> None:
    for path in ("/projects/shop/trails", "/projects/shop/trails/a%2Fb%3Cx%3E"):
        r = api.client.get(path)
        assert r.status_code == 200, r.text
        assert r.headers["content-security-policy"].startswith("default-src 'none'")
        assert r.headers["x-frame-options"] == "DENY"
        assert "explorer.js" in r.text
    r = api.client.get("/projects/shop/trails/a%2Fb%3Cx%3E")
    assert 'data-message="a/b&lt;x&gt;"' in r.text  # escaped in the attribute
    r = api.client.get("/projects/bad%20id/trails")
    assert r.status_code == 422
