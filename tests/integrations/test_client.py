"""``TrailClient``/``AsyncTrailClient`` against the real app served by uvicorn on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from openai import AsyncOpenAI, OpenAI

import llmtrail
from llmtrail import AuditTrail, Store, TokenUsage
from llmtrail.config import Settings
from llmtrail.errors import (
    AuthError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnavailableError,
    ValidationError,
)
from llmtrail.integrations import AsyncTrailClient, TrailClient
from llmtrail.integrations.openai import instrument
from llmtrail.pricing import make_pricer
from llmtrail.server.app import create_app
from tests.integrations.fake_upstream import Running, Upstream

ADMIN = "admin-key-for-client-tests-0123"


@dataclass
class Server:
    url: str
    store: Store
    key: str
    other_key: str


@pytest.fixture
def server(sqlite_url: str) -> Iterator[Server]:
    settings = Settings(admin_key=ADMIN, cleanup_cron="off")  # type: ignore[call-arg]
    store = llmtrail.open_store(sqlite_url, settings=settings)
    store.create_project("proj")
    store.create_project("other")
    _, key = store.create_api_key("proj")
    _, other = store.create_api_key("other")
    running = Running(app=create_app(store, settings))
    running.start()
    try:
        yield Server(f"http://127.0.0.1:{running.port}", store, key, other)
    finally:
        running.stop()
        store.close()


def test_store_get_update_round_trip_with_server_side_pricing(server: Server) -> None:
    with TrailClient(server.url, server.key, "proj") as c:
        t = c.store(
            {
                "messageId": "r-1",
                "model": "gpt-4o",
                "tokens": {"prompt": 2000, "completion": 300, "cacheRead": 1024},
                "metadata": {"user": "u1"},
            }
        )
        assert isinstance(t, AuditTrail) and t.id and t.created_at is not None
        assert t.cost is not None and t.cost.total == Decimal("0.00672")
        assert t.cost_source == "computed" and t.price_version == make_pricer().version
        assert (
            c.store(
                {
                    "messageId": "r-1",
                    "model": "gpt-4o",
                    "tokens": {"prompt": 2000, "completion": 300, "cacheRead": 1024},
                    "metadata": {"user": "u1"},
                }
            )
            == t
        )
        assert c.get("r-1") == t
        assert c.get("nope") is None
        p = c.create_placeholder("r-2", "claude-haiku-4-5", 3)
        assert p.status == "pending" and p.context_layers == 3 and p.project_id == "proj"
        u = c.update("r-2", tokens=TokenUsage(1_000, 1_000), status="completed", reasoning=["r"])
        assert u.status == "completed" and u.cost is not None and u.cost.total == Decimal("0.006")
        stored = server.store.get("r-2")
        assert stored is not None and stored.cost == u.cost and stored.reasoning == ["r"]
        trail = AuditTrail(message_id="r-3", model="gpt-4o-mini", tokens=TokenUsage(10, 10))
        assert c.store(trail).message_id == "r-3"


def test_errors_map_to_the_library_errors(server: Server) -> None:
    with TrailClient(server.url, server.key, "proj") as c:
        with pytest.raises(ValidationError) as exc:
            c.store({"messageId": "bad", "model": "m", "tokens": {"prompt": -1}})
        assert "tokens.prompt" in exc.value.fields
        c.store({"messageId": "dup", "model": "m"})
        with pytest.raises(ConflictError):
            c.store({"messageId": "dup", "model": "other"})
        with pytest.raises(NotFoundError):
            c.update("missing", status="failed")
        with pytest.raises(ForbiddenError):
            c.store({"messageId": "x", "model": "m"}, project_id="other")
    with TrailClient(server.url, "wrong-key", "proj") as c, pytest.raises(AuthError):
        c.get("dup")
    dead = TrailClient("http://127.0.0.1:9", server.key, "proj", timeout=0.5)
    with dead, pytest.raises(UnavailableError):
        dead.get("dup")


def test_openai_calls_recorded_on_a_remote_server(server: Server) -> None:
    up = Upstream()
    fake = Running(up)
    fake.start()
    try:
        with TrailClient(server.url, server.key, "proj") as trails:
            c = instrument(OpenAI(base_url=f"{up.url}/v1", api_key="k", max_retries=0), trails)
            c.chat.completions.create(
                model="gpt-4o",
                messages=[{"role": "user", "content": "hi"}],
                llmtrail_message_id="rem-1",
            )

        async def main() -> None:
            async with AsyncTrailClient(server.url, server.key, "proj") as atrails:
                ac = instrument(
                    AsyncOpenAI(base_url=f"{up.url}/v1", api_key="k", max_retries=0), atrails
                )
                s = await ac.chat.completions.create(
                    model="gpt-4o",
                    messages=[{"role": "user", "content": "hi"}],
                    stream=True,
                    llmtrail_message_id="rem-2",
                )
                async for _ in s:
                    pass
                got = await atrails.get("rem-2")
                assert got is not None and got.status == "completed"

        asyncio.run(main())
    finally:
        fake.stop()
    for mid in ("rem-1", "rem-2"):
        t = server.store.get(mid)
        assert t is not None and t.status == "completed" and t.project_id == "proj"
        assert t.cost is not None and t.cost.total == Decimal("0.00672")
        assert t.metadata is not None and t.metadata["llm.provider"] == "openai"


def test_async_client_errors(server: Server) -> None:
    async def main() -> None:
        async with AsyncTrailClient(server.url, server.key, "proj") as c:
            await c.create_placeholder("a-1", "gpt-4o")
            with pytest.raises(ValidationError):
                await c.update("a-1", status="done")
            assert (await c.update("a-1", status="failed")).status == "failed"
            assert await c.get("zzz") is None

    asyncio.run(main())
