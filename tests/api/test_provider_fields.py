"""``provider`` and ``tokens.cacheWrite1h`` over HTTP: stored, priced, exported, documented;
bad values are a 422 naming the field that changes nothing."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from llmtrail.model import loads
from tests.api.conftest import Api, assert_problem

BASE = {
    "messageId": "p-1",
    "model": "claude-sonnet-4-5",
    "provider": "anthropic",
    "timestamp": "2026-11-30T12:00:00Z",
    # 40k plain input, 10k cache reads, 30k 5-minute and 20k 1-hour writes, 1k output
    "tokens": {
        "prompt": 100_000,
        "completion": 1_000,
        "cacheRead": 10_000,
        "cacheWrite": 50_000,
        "cacheWrite1h": 20_000,
    },
}


def test_a_trail_with_provider_and_one_hour_writes_round_trips_priced(api: Api) -> None:
    key = api.project("p1")
    r = api.post("p1", BASE, key)
    assert r.status_code == 201, r.text
    body = loads(r.content)
    assert body["provider"] == "anthropic"
    assert body["tokens"]["cacheWrite1h"] == 20_000
    # 40000*3 + 10000*0.30 + 30000*3.75 + 20000*6 = 355,500; 1000*15 = 15,000
    assert body["cost"]["total"] == Decimal("0.3705") and body["costSource"] == "computed"
    got = api.client.get("/api/projects/p1/audit-trails/p-1", headers=key)
    assert loads(got.content) == body
    again = api.post("p1", BASE, key)  # an identical retry is the same trail
    assert again.status_code == 200 and loads(again.content)["id"] == body["id"]
    conflict = api.post("p1", {**BASE, "provider": "aws.bedrock"}, key)
    assert_problem(conflict, 409)


def test_the_export_carries_both_fields_in_new_last_columns(api: Api) -> None:
    key = api.project("p1")
    api.post("p1", BASE, key)
    api.post("p1", {"messageId": "p-2", "model": "gpt-4o"}, key)
    r = api.client.get(
        "/api/projects/p1/audit-trails/export", params={"format": "csv"}, headers=key
    )
    assert r.status_code == 200
    header = r.text.splitlines()[0].split(",")
    assert header[-2:] == ["provider", "cacheWrite1hTokens"]
    assert header[:3] == ["id", "messageId", "projectId"]  # earlier columns unmoved
    rows = {row["messageId"]: row for row in csv.DictReader(io.StringIO(r.text))}
    assert rows["p-1"]["provider"] == "anthropic" and rows["p-1"]["cacheWrite1hTokens"] == "20000"
    assert rows["p-2"]["provider"] == "" and rows["p-2"]["cacheWrite1hTokens"] == ""


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"provider": "Anthropic"}, "provider"),
        ({"provider": ""}, "provider"),
        ({"provider": "a" * 65}, "provider"),
        ({"provider": 7}, "provider"),
        ({"tokens": {"prompt": 10, "cacheWrite": 2, "cacheWrite1h": 3}}, "tokens.cacheWrite1h"),
        ({"tokens": {"prompt": 10, "cacheWrite1h": -1}}, "tokens.cacheWrite1h"),
    ],
)
def test_bad_values_are_a_422_naming_the_field_and_change_nothing(
    api: Api, change: dict[str, object], field: str
) -> None:
    key = api.project("p1")
    before = api.snapshot()
    body = assert_problem(api.post("p1", {**BASE, **change}, key), 422)
    assert [e["field"] for e in body["errors"]] == [field]
    assert api.snapshot() == before


def test_a_batch_answers_per_item_and_stores_only_the_valid_ones(api: Api) -> None:
    key = api.project("p1")
    items = [BASE, {**BASE, "messageId": "p-2", "provider": "NOT OK"}]
    r = api.client.post("/api/projects/p1/audit-trails/batch", json={"items": items}, headers=key)
    assert r.status_code == 200, r.text
    ok, bad = r.json()["items"]
    assert ok["status"] == 201 and ok["trail"]["provider"] == "anthropic"
    assert bad["status"] == 422 and bad["problem"]["errors"][0]["field"] == "provider"
    assert api.store.get("p-2") is None


def test_the_openapi_document_describes_both_fields(api: Api) -> None:
    doc = api.client.get("/openapi.json").json()
    assert "provider" in doc["components"]["schemas"]["TrailOut"]["properties"]
    post = doc["paths"]["/api/projects/{projectId}/audit-trails"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    text = str(body) + str(doc["components"]["schemas"])
    assert "'provider'" in str(body) and "cacheWrite1h" in text
