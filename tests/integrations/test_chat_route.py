"""The reference chat route against the fake upstream, through the real app."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

import llmtrail
from llmtrail import Store
from llmtrail.config import Settings
from llmtrail.server.app import create_app
from tests.integrations.fake_upstream import Upstream

ADMIN = "admin-key-for-chat-tests-0123"
URL = "/api/projects/proj/assessment/chat"


class Chat:
    def __init__(self, client: TestClient, store: Store, key: str) -> None:
        self.client = client
        self.store = store
        self.headers = {"Authorization": f"Bearer {key}"}

    def post(self, body: Any, headers: dict[str, str] | None = None) -> Any:
        return self.client.post(
            URL, json=body, headers=self.headers if headers is None else headers
        )

    def events(self, body: Any) -> tuple[Any, list[tuple[str, dict[str, Any]]]]:
        r = self.post(body)
        out = []
        for block in r.text.split("\n\n"):
            lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if "event" in lines:
                out.append((lines["event"], json.loads(lines["data"])))
        return r, out


@pytest.fixture
def make_chat(upstream: Upstream, sqlite_url: str) -> Iterator[Callable[..., Chat]]:
    opened: list[tuple[Store, TestClient]] = []

    def make(
        provider: str = "anthropic", model: str = "claude-3-7-sonnet-20250219", **kw: Any
    ) -> Chat:
        base = upstream.url if provider == "anthropic" else f"{upstream.url}/v1"
        settings = Settings(
            admin_key=ADMIN,
            cleanup_cron="off",
            upstream_provider=provider,
            upstream_base_url=base,
            upstream_api_key="upstream-key",
            upstream_model=model,
            **kw,
        )  # type: ignore[call-arg]
        store = llmtrail.open_store(sqlite_url, settings=settings)
        store.create_project("proj")
        store.create_project("other")
        _, key = store.create_api_key("proj")
        client = TestClient(create_app(store, settings))
        client.__enter__()
        opened.append((store, client))
        return Chat(client, store, key)

    yield make
    for store, client in opened:
        client.__exit__(None, None, None)
        store.close()


def test_chat_streams_the_answer_and_records_the_trail_like_the_seed(
    upstream: Upstream, make_chat: Callable[..., Chat]
) -> None:
    chat = make_chat()
    seen: list[Any] = []

    def hook(path: str, body: dict[str, Any]) -> None:
        t = chat.store.get("chat-1")
        seen.append((t.status, t.project_id, t.context_layers) if t else None)

    upstream.hook = hook
    r, events = chat.events(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hello"},
            ],
            "contextLayers": 4,
            "messageId": "chat-1",
        }
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-message-id"] == "chat-1"
    assert seen == [("pending", "proj", 4)]  # placeholder with projectId first
    assert events[0] == ("start", {"messageId": "chat-1"})
    assert "".join(e[1]["text"] for e in events if e[0] == "delta") == "Hello from Claude"
    assert events[-1] == ("done", {"messageId": "chat-1", "status": "completed"})
    sent = upstream.last("/v1/messages")
    assert sent["system"] == "Be brief." and sent["messages"] == [
        {"role": "user", "content": "Hello"}
    ]
    t = chat.store.get("chat-1")
    assert t is not None and t.status == "completed" and t.project_id == "proj"
    assert t.model == "claude-3-7-sonnet-20250219" and t.context_layers == 4
    assert t.tokens.prompt == 24_000 and t.cost is not None
    assert t.cost.total == Decimal("0.02775") and t.cost_source == "computed"
    assert t.reasoning == ["Let me think."]
    assert t.provider == "anthropic"


def test_chat_with_an_openai_compatible_upstream(make_chat: Callable[..., Chat]) -> None:
    chat = make_chat(provider="openai", model="gpt-4o")
    r, events = chat.events({"messages": [{"role": "user", "content": "Hi"}], "contextLayers": 1})
    assert r.status_code == 200
    assert "".join(e[1]["text"] for e in events if e[0] == "delta") == "Hello!"
    mid = r.headers["x-message-id"]
    t = chat.store.get(mid)
    assert t is not None and t.status == "completed" and t.cost is not None
    assert t.cost.total == Decimal("0.00672") and t.provider == "openai"


def test_upstream_error_is_502_and_the_trail_failed(make_chat: Callable[..., Chat]) -> None:
    chat = make_chat()
    r = chat.post(
        {
            "messages": [{"role": "user", "content": "x [scenario:error]"}],
            "contextLayers": 0,
            "messageId": "chat-err",
        }
    )
    assert r.status_code == 502 and r.headers["content-type"] == "application/problem+json"
    t = chat.store.get("chat-err")
    assert t is not None and t.status == "failed" and t.project_id == "proj"
    assert t.metadata is not None and "InternalServerError" in str(t.metadata["error"])


@pytest.mark.parametrize("scenario", ["cut", "stream-error"])
def test_stream_breaking_midway_ends_with_an_error_event_and_a_failed_trail(
    make_chat: Callable[..., Chat], scenario: str
) -> None:
    chat = make_chat()
    r, events = chat.events(
        {
            "messages": [{"role": "user", "content": f"[scenario:{scenario}]"}],
            "contextLayers": 0,
            "messageId": "c-b",
        }
    )
    assert r.status_code == 200
    assert events[-1][0] == "error"
    t = chat.store.get("c-b")
    assert t is not None and t.status == "failed"


@pytest.mark.parametrize(
    ("provider", "model"), [("anthropic", "claude-3-7-sonnet-20250219"), ("openai", "gpt-4o")]
)
def test_the_stream_tells_the_client_the_status_the_trail_got(
    make_chat: Callable[..., Chat], provider: str, model: str
) -> None:
    """An upstream that reports absurd usage: the trail is failed, and the stream says so."""
    chat = make_chat(provider=provider, model=model)
    r, events = chat.events(
        {
            "messages": [{"role": "user", "content": "[scenario:bad-usage]"}],
            "contextLayers": 0,
            "messageId": "c-u",
        }
    )
    assert r.status_code == 200
    t = chat.store.get("c-u")
    assert t is not None and t.status == "failed"
    last_event, data = events[-1]
    assert last_event == "error" and data["status"] == "failed" and data["messageId"] == "c-u"
    assert not any(e == "done" for e, _ in events)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"contextLayers": 1}, "messages"),
        ({"messages": [], "contextLayers": 1}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}], "contextLayers": 1}, "messages[0].role"),
        (
            {"messages": [{"role": "user", "content": ""}], "contextLayers": 1},
            "messages[0].content",
        ),
        ({"messages": [{"role": "user", "content": 5}], "contextLayers": 1}, "messages[0].content"),
        ({"messages": ["hi"], "contextLayers": 1}, "messages[0]"),
        ({"messages": [{"role": "user", "content": "x"}]}, "contextLayers"),
        ({"messages": [{"role": "user", "content": "x"}], "contextLayers": -1}, "contextLayers"),
        ({"messages": [{"role": "user", "content": "x"}], "contextLayers": "3"}, "contextLayers"),
        (
            {
                "messages": [{"role": "user", "content": "x"}],
                "contextLayers": 1,
                "messageId": "a\x00b",
            },
            "messageId",
        ),
        ({"messages": [{"role": "user", "content": "x"}], "contextLayers": 1, "extra": 1}, "extra"),
        ([1, 2], "body"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_writes_nothing(
    upstream: Upstream, make_chat: Callable[..., Chat], body: Any, field: str
) -> None:
    chat = make_chat()
    r = chat.post(body)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]]
    assert upstream.requests == []
    assert list(chat.store.iter_trails(llmtrail.TrailFilter("proj"))) == []


def test_auth_and_conflicts(make_chat: Callable[..., Chat]) -> None:
    chat = make_chat()
    body = {"messages": [{"role": "user", "content": "x"}], "contextLayers": 0, "messageId": "dup"}
    assert chat.post(body, headers={}).status_code == 401
    _, other_key = chat.store.create_api_key("other")
    assert chat.post(body, headers={"Authorization": f"Bearer {other_key}"}).status_code == 403
    assert chat.post(body).status_code == 200
    assert chat.post(body).status_code == 409  # the messageId is taken


def test_unconfigured_upstream_is_503(upstream: Upstream, sqlite_url: str) -> None:
    settings = Settings(admin_key=ADMIN, cleanup_cron="off")  # type: ignore[call-arg]
    with llmtrail.open_store(sqlite_url, settings=settings) as store:
        store.create_project("proj")
        with TestClient(create_app(store, settings)) as client:
            r = client.post(
                URL,
                json={"messages": [{"role": "user", "content": "x"}], "contextLayers": 0},
                headers={"Authorization": f"Bearer {ADMIN}"},
            )
    assert r.status_code == 503 and "UPSTREAM" in r.json()["detail"]
