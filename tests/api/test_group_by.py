"""``GET …/assessment/analytics?groupBy=…`` (SPEC §12) over HTTP."""

from __future__ import annotations

from decimal import Decimal

from llmtrail.model import loads
from tests.api.conftest import Api, assert_problem


def test_group_by_over_http(api: Api) -> None:
    key = api.project("p1")
    for mid, provider, team in (("a", "openai", "x"), ("b", "azure", "x"), ("c", "openai", "y")):
        body = {
            "messageId": mid,
            "model": "gpt-4o",
            "provider": provider,
            "metadata": {"team": team},
            "cost": {"prompt": "0.1", "completion": "0.2"},
        }
        assert api.post("p1", body, key).status_code == 201
    url = "/api/projects/p1/assessment/analytics"
    r = api.client.get(url, params={"groupBy": "provider", "days": 1}, headers=key)
    assert r.status_code == 200, r.text
    got = loads(r.content)["analytics"]["costByGroup"]
    assert got == [
        {"group": "openai", "cost": Decimal("0.6"), "tokens": 0, "messages": 2},
        {"group": "azure", "cost": Decimal("0.3"), "tokens": 0, "messages": 1},
    ]
    r = api.client.get(url, params={"groupBy": "metadata.team", "days": 1}, headers=key)
    assert [g["group"] for g in r.json()["analytics"]["costByGroup"]] == ["x", "y"]
    assert "costByGroup" not in api.client.get(url, headers=key).json()["analytics"]
    problem = assert_problem(api.client.get(url, params={"groupBy": "colour"}, headers=key), 422)
    assert [e["field"] for e in problem["errors"]] == ["groupBy"]


def test_list_and_export_filter_by_provider_and_prefix(api: Api) -> None:
    key = api.project("p1")
    for mid, provider in (("a-1", "openai"), ("a-2", "azure"), ("b-1", "openai")):
        api.post("p1", {"messageId": mid, "model": "m", "provider": provider}, key)
    url = "/api/projects/p1/audit-trails"
    r = api.client.get(url, params={"provider": "openai", "messageIdPrefix": "a-"}, headers=key)
    assert [t["messageId"] for t in r.json()["items"]] == ["a-1"]
    r = api.client.get(f"{url}/export", params={"provider": "openai"}, headers=key)
    assert sorted(loads(line)["messageId"] for line in r.text.splitlines()) == ["a-1", "b-1"]
    assert_problem(api.client.get(url, params={"provider": "Open AI"}, headers=key), 422)


def test_list_and_export_filter_by_metadata(api: Api) -> None:
    key = api.project("md")
    for mid, md in (("m-1", {"userId": "u=1", "tier": 2}), ("m-2", {"userId": "u-2", "tier": 2})):
        assert (
            api.post("md", {"messageId": mid, "model": "m", "metadata": md}, key).status_code == 201
        )
    url = "/api/projects/md/audit-trails"
    r = api.client.get(url, params={"metadata": "userId=u=1"}, headers=key)  # first "=" splits
    assert [t["messageId"] for t in r.json()["items"]] == ["m-1"]
    r = api.client.get(
        url, params=[("metadata", "tier=2"), ("metadata", "userId=u-2")], headers=key
    )
    assert [t["messageId"] for t in r.json()["items"]] == ["m-2"]
    r = api.client.get(f"{url}/export", params={"metadata": "tier=2"}, headers=key)
    assert sorted(loads(line)["messageId"] for line in r.text.splitlines()) == ["m-1", "m-2"]
    for bad in ("novalue", "=x", "k=\x00"):
        problem = assert_problem(api.client.get(url, params={"metadata": bad}, headers=key), 422)
        assert [e["field"] for e in problem["errors"]] == ["metadata"]
