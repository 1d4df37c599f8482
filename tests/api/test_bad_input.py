"""The bad-input corpus: every case is a 4xx problem+json and leaves the database unchanged."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.api.conftest import Api, assert_problem, trail

TRAILS = "/api/projects/p1/audit-trails"


@dataclass
class Case:
    name: str
    body: bytes | None = None
    status: int = 422
    method: str = "POST"
    path: str = TRAILS
    params: dict[str, Any] = field(default_factory=dict)
    field: str | None = None  # the field a 422 must name
    admin: bool = False  # send the admin key instead of the project's


def _j(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def _with(**changes: Any) -> bytes:
    return _j(trail("bad-1", **changes))


def _raw(template: str) -> bytes:
    """A trail whose JSON text is spliced by hand (escapes json.dumps would not write)."""
    return template.encode()


NUL = "a\u0000b"
CASES: list[Case] = [
    # NUL bytes in every string field
    Case("nul messageId", _with(messageId=NUL), field="messageId"),
    Case("nul model", _with(model=NUL), field="model"),
    Case("nul reasoning item", _with(reasoning=["ok", NUL]), field="reasoning[1]"),
    Case("nul metadata value", _with(metadata={"k": NUL})),
    Case("nul metadata key", _with(metadata={NUL: "v"})),
    Case("nul projectId in body", _with(projectId=NUL), field="projectId"),
    Case("nul timestamp", _with(timestamp="2026-11-30T12:00:00Z\u0000"), field="timestamp"),
    Case("nul status", _with(status="completed\u0000"), field="status"),
    Case("nul cost string", _with(cost={"prompt": "0.1\u0000", "completion": "0"})),
    Case("nul patch reasoning", _j({"reasoning": [NUL]}), method="PATCH", path=f"{TRAILS}/seed"),
    Case("nul patch metadata", _j({"metadata": {"a": NUL}}), method="PATCH", path=f"{TRAILS}/seed"),
    Case("nul project id", _j({"id": NUL}), path="/api/projects"),
    Case("nul project name", _j({"id": "p9", "name": NUL}), path="/api/projects"),
    Case("nul model filter", None, method="GET", params={"model": NUL}),
    # lone surrogates, sent as raw JSON escapes
    Case("surrogate messageId", _raw('{"messageId":"x\\ud800","model":"m"}'), field="messageId"),
    Case("surrogate model", _raw('{"messageId":"s-1","model":"\\udfff"}'), field="model"),
    Case("surrogate reasoning", _raw('{"messageId":"s-1","model":"m","reasoning":["\\ud800"]}')),
    Case("surrogate metadata", _raw('{"messageId":"s-1","model":"m","metadata":{"\\ud800":"v"}}')),
    Case("surrogate project name", _raw('{"id":"p9","name":"\\udc00"}'), path="/api/projects"),
    # NaN / Infinity
    Case(
        "NaN cost",
        _raw('{"messageId":"n-1","model":"m","cost":{"prompt":NaN}}'),
        field="cost.prompt",
    ),
    Case("Infinity tokens", _raw('{"messageId":"n-1","model":"m","tokens":{"prompt":Infinity}}')),
    Case("-Infinity layers", _raw('{"messageId":"n-1","model":"m","contextLayers":-Infinity}')),
    Case("NaN string cost", _with(cost={"prompt": "NaN", "completion": "0"}), field="cost.prompt"),
    Case("Infinity string cost", _with(cost={"prompt": "Infinity"}), field="cost.prompt"),
    Case("NaN metadata", _raw('{"messageId":"n-1","model":"m","metadata":{"x":NaN}}')),
    # negative and huge numbers
    Case("negative tokens", _with(tokens={"prompt": -1, "completion": 0}), field="tokens.prompt"),
    Case("negative cost", _with(cost={"prompt": "-0.01", "completion": "0"}), field="cost.prompt"),
    Case("negative layers", _with(contextLayers=-1), field="contextLayers"),
    Case("huge layers", _with(contextLayers=10_001), field="contextLayers"),
    Case("huge tokens", _with(tokens={"prompt": 10**30, "completion": 0}), field="tokens.prompt"),
    Case("huge cost", _raw('{"messageId":"h-1","model":"m","cost":{"prompt":1e400}}')),
    Case(
        "5000-digit int", _raw('{"messageId":"h-1","model":"m","contextLayers":' + "9" * 5000 + "}")
    ),
    Case("huge exponent string", _with(cost={"prompt": "1e999999"}), field="cost.prompt"),
    Case(
        "patch negative tokens",
        _j({"tokens": {"prompt": -5}}),
        method="PATCH",
        path=f"{TRAILS}/seed",
    ),
    # wrong types
    Case("messageId number", _with(messageId=123), field="messageId"),
    Case("model null", _with(model=None), field="model"),
    Case("reasoning string", _with(reasoning="think"), field="reasoning"),
    Case("reasoning numbers", _with(reasoning=[1, 2])),
    Case("tokens string", _with(tokens="many"), field="tokens"),
    Case("cost list", _with(cost=[1, 2]), field="cost"),
    Case("status unknown", _with(status="done"), field="status"),
    Case("metadata list", _with(metadata=["a"]), field="metadata"),
    Case("metadata nested", _with(metadata={"a": {"b": 1}})),
    Case("layers string", _with(contextLayers="3"), field="contextLayers"),
    Case("layers float", _with(contextLayers=1.5), field="contextLayers"),
    Case("tokens bool", _with(tokens={"prompt": True, "completion": 0}), field="tokens.prompt"),
    Case("body is a list", _j([trail("l-1")])),
    Case("body is a string", _j("trail")),
    Case("patch status number", _j({"status": 5}), method="PATCH", path=f"{TRAILS}/seed"),
    # rules across fields
    Case("tokens total disagrees", _with(tokens={"prompt": 1, "completion": 1, "total": 3})),
    Case(
        "cost total disagrees",
        _with(cost={"prompt": "0.1", "completion": "0.2", "total": 0.30000000000000004}),
    ),
    Case("cache reads exceed prompt", _with(tokens={"prompt": 1, "completion": 0, "cacheRead": 5})),
    Case("too many metadata keys", _with(metadata={f"k{i}": i for i in range(65)})),
    # missing fields
    Case("missing messageId", _j({"model": "m"}), field="messageId"),
    Case("missing model", _j({"messageId": "x-1"}), field="model"),
    Case("empty object", _j({})),
    # size
    Case("10 MB body", _j(trail("big", reasoning=["x" * 10_000_000])), status=413),
    Case("100k-item reasoning", _with(reasoning=["r"] * 100_000), field="reasoning"),
    Case("1001 reasoning items", _with(reasoning=["r"] * 1001), field="reasoning"),
    Case(
        "batch over 1000",
        _j({"items": [trail(f"b{i}") for i in range(1001)]}),
        path=f"{TRAILS}/batch",
    ),
    Case("batch items not a list", _j({"items": {"a": 1}}), path=f"{TRAILS}/batch"),
    Case("batch unknown field", _j({"items": [], "extra": 1}), path=f"{TRAILS}/batch"),
    # invalid cursors and filters
    Case("cursor garbage", None, method="GET", params={"cursor": "!!!"}),
    Case("cursor base64 of junk", None, method="GET", params={"cursor": "eyJhIjoxfQ"}),
    Case("cursor too long", None, method="GET", params={"cursor": "A" * 5000}),
    Case("cursor sql", None, method="GET", params={"cursor": "' OR 1=1 --"}),
    Case("limit huge", None, method="GET", params={"limit": 10**12}),
    Case("limit negative", None, method="GET", params={"limit": -1}),
    Case("since naive", None, method="GET", params={"since": "2026-11-30T12:00:00"}),
    Case("until garbage", None, method="GET", params={"until": "yesterday"}),
    Case("export format", None, method="GET", path=f"{TRAILS}/export", params={"format": "xml"}),
    # SQL-injection strings where they are invalid
    Case(
        "sql in project path",
        None,
        method="GET",
        path="/api/projects/x'%20OR%20'1'='1/audit-trails",
        admin=True,
    ),
    Case("sql in status filter", None, method="GET", params={"status": "completed' OR '1'='1"}),
    Case("sql in project id", _j({"id": "p'; DROP TABLE projects; --"}), path="/api/projects"),
    # NUL bytes and bad text in path parameters (PostgreSQL cannot even hold a NUL)
    Case("nul messageId in path", None, method="GET", path=f"{TRAILS}/a%00b", field="messageId"),
    Case(
        "nul messageId in patch path",
        _j({"status": "failed"}),
        method="PATCH",
        path=f"{TRAILS}/a%00b",
        field="messageId",
    ),
    Case("long messageId in path", None, method="GET", path=f"{TRAILS}/{'x' * 300}"),
    Case("nul project in path", None, method="GET", path="/api/projects/a%00b", admin=True),
    Case("nul project keys path", None, path="/api/projects/a%00b/keys", admin=True),
    Case("nul project delete", None, method="DELETE", path="/api/projects/a%00b", admin=True),
    Case("nul project trail post", _with(), path="/api/projects/a%00b/audit-trails", admin=True),
    Case(
        "nul key id",
        None,
        method="DELETE",
        path="/api/projects/p1/keys/a%00b",
        status=404,
        admin=True,
    ),
    Case(
        "lone surrogate bytes in path", None, method="GET", path=f"{TRAILS}/%ED%A0%80", status=404
    ),
    # naive timestamps
    Case("naive timestamp", _with(timestamp="2026-11-30T12:00:00"), field="timestamp"),
    Case("date only", _with(timestamp="2026-11-30"), field="timestamp"),
    Case("timestamp year 0", _with(timestamp="0001-01-01T00:00:00Z"), field="timestamp"),
    Case("timestamp number", _with(timestamp=1764500000), field="timestamp"),
    # unknown fields
    Case("unknown top-level", _with(foo=1), field="foo"),
    Case("unknown tokens key", _with(tokens={"prompt": 1, "completion": 1, "extra": 1})),
    Case("unknown cost key", _with(cost={"prompt": "0.1", "usd": 1})),
    Case("server field id", _with(id="forged")),
    Case("server field createdAt", _with(createdAt="2026-11-30T12:00:00Z")),
    Case(
        "patch model", _j({"model": "other"}), method="PATCH", path=f"{TRAILS}/seed", field="model"
    ),
    Case("patch unknown", _j({"hello": 1}), method="PATCH", path=f"{TRAILS}/seed"),
    Case("project unknown field", _j({"id": "p9", "color": "red"}), path="/api/projects"),
    Case("project bad retention", _j({"id": "p9", "retentionDays": -1}), path="/api/projects"),
    # malformed JSON
    Case("truncated JSON", b'{"messageId": "x"', status=400),
    Case("trailing comma", b'{"messageId": "x", "model": "m",}', status=400),
    Case("single quotes", b"{'messageId': 'x'}", status=400),
    Case("invalid UTF-8", b'{"messageId": "\xff\xfe", "model": "m"}', status=400),
    Case("empty body", b"", status=400),
    Case("just garbage", b"\x00\x01\x02", status=400),
    Case("patch malformed", b"{", status=400, method="PATCH", path=f"{TRAILS}/seed"),
    Case("deep nesting", b"[" * 100_000 + b"]" * 100_000, status=400),
]


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.slow
def test_bad_input_corpus(api: Api) -> None:
    key = api.project("p1")
    assert api.post("p1", trail("seed"), key).status_code == 201
    before = api.snapshot()
    failures: list[str] = []
    for case in CASES:
        headers = {**key, "Content-Type": "application/json"}
        if case.path == "/api/projects" or case.admin:
            headers = {**api.admin, "Content-Type": "application/json"}
        r = api.client.request(
            case.method, case.path, content=case.body, params=case.params, headers=headers
        )
        after = api.snapshot()
        try:
            body = assert_problem(r, case.status)
            if case.field is not None:
                fields = [e["field"] for e in body.get("errors", [])]
                assert case.field in fields, f"{case.field} not in {fields}"
            assert after == before, "the database changed"
        except AssertionError as e:
            failures.append(f"{case.name}: {r.status_code} {r.text[:300]} -- {str(e)[:200]}")
        before = after
    assert not failures, "\n".join(failures)


def test_sql_injection_strings_are_plain_data(api: Api) -> None:
    """Where an injection string is a valid value it is stored verbatim and harms nothing."""
    key = api.project("p1")
    evil = "x'; DROP TABLE audit_trails; --"
    body = trail(evil, model="m' OR '1'='1", metadata={"q": "1; DELETE FROM projects"})
    assert api.post("p1", body, key).status_code == 201
    from urllib.parse import quote

    r = api.client.get(f"{TRAILS}/{quote(evil, safe='')}", headers=key)
    assert r.status_code == 200 and r.json()["messageId"] == evil
    got = api.client.get(TRAILS, params={"model": "m' OR '1'='1"}, headers=key).json()["items"]
    assert [t["messageId"] for t in got] == [evil]
    none = api.client.get(TRAILS, params={"model": "' OR 1=1 --"}, headers=key).json()["items"]
    assert none == []
    assert [p.id for p in api.store.list_projects()] == ["p1"]
