"""The real ``anthropic`` SDK, pointed at the fake upstream, recorded by ``instrument``."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import anthropic
import pytest
from anthropic import Anthropic, AsyncAnthropic

from llmtrail import AsyncStore, Store
from llmtrail.integrations.anthropic import instrument
from tests.integrations.fake_upstream import Upstream

MODEL = "claude-3-7-sonnet-20250219"
# 1,000 plain input * 3 + 20,000 cache reads * 0.30 + 3,000 cache writes * 3.75 = 20,250
# 500 output * 15 = 7,500  ->  $0.02775, each token counted once
EXPECTED = Decimal("0.02775")


def client(upstream: Upstream) -> Anthropic:
    return Anthropic(base_url=upstream.url, api_key="sk-ant-test", max_retries=0)


def aclient(upstream: Upstream) -> AsyncAnthropic:
    return AsyncAnthropic(base_url=upstream.url, api_key="sk-ant-test", max_retries=0)


def say(scenario: str = "ok") -> list[dict[str, str]]:
    return [{"role": "user", "content": f"hi [scenario:{scenario}]"}]


def check_completed(store: Store, mid: str, reasoning: list[str]) -> None:
    t = store.get(mid)
    assert t is not None and t.status == "completed", t
    # Anthropic's input_tokens EXCLUDES cache reads/writes: prompt = 1000 + 20000 + 3000
    assert (t.tokens.prompt, t.tokens.cache_read, t.tokens.cache_write) == (24_000, 20_000, 3_000)
    assert t.tokens.completion == 500
    assert t.cost is not None and t.cost.total == EXPECTED and t.cost_source == "computed"
    assert t.reasoning == reasoning
    assert t.metadata is not None and t.metadata["llm.provider"] == "anthropic"
    raw = json.loads(str(t.metadata["usage.raw"]))
    assert raw["input_tokens"] == 1000 and raw["cache_read_input_tokens"] == 20_000


def test_message_is_recorded_with_cache_tokens_added_to_prompt(
    upstream: Upstream, any_store: Store
) -> None:
    seen: list[str] = []
    upstream.hook = lambda p, b: seen.append(any_store.get("a-1").status)  # type: ignore[union-attr]
    c = instrument(client(upstream), any_store, project_id="app", context_layers=2)
    msg = c.messages.create(model=MODEL, max_tokens=100, messages=say(), llmtrail_message_id="a-1")
    assert isinstance(msg, anthropic.types.Message)
    assert msg.content[1].type == "text" and msg.content[1].text == "Hello from Claude"
    assert seen == ["pending"]
    check_completed(any_store, "a-1", ["Let me think about it."])
    t = any_store.get("a-1")
    assert t is not None and t.context_layers == 2 and t.project_id == "app"


def test_create_stream_true(upstream: Upstream, store: Store) -> None:
    c = instrument(client(upstream), store, project_id="app")
    stream = c.messages.create(
        model=MODEL, max_tokens=100, messages=say(), stream=True, llmtrail_message_id="a-2"
    )
    assert isinstance(stream, anthropic.Stream)
    assert store.get("a-2").status == "pending"  # type: ignore[union-attr]
    types = [e.type for e in stream]
    assert types[0] == "message_start" and types[-1] == "message_stop"
    check_completed(store, "a-2", ["Let me think."])


def test_messages_stream_helper(upstream: Upstream, store: Store) -> None:
    c = instrument(client(upstream), store, project_id="app")
    with c.messages.stream(
        model=MODEL, max_tokens=100, messages=say(), llmtrail_message_id="a-3"
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello from Claude"
    assert final.usage.cache_read_input_tokens == 20_000
    check_completed(store, "a-3", ["Let me think."])


def test_error_event_inside_the_stream_fails_the_trail(upstream: Upstream, store: Store) -> None:
    c = instrument(client(upstream), store, project_id="app")
    stream = c.messages.create(
        model=MODEL,
        max_tokens=9,
        messages=say("stream-error"),
        stream=True,
        llmtrail_message_id="a-4",
    )
    with pytest.raises(anthropic.APIStatusError):
        list(stream)
    t = store.get("a-4")
    assert t is not None and t.status == "failed"
    assert t.metadata is not None and "Overloaded" in str(t.metadata["error"])


def test_stream_cut_halfway(upstream: Upstream, store: Store) -> None:
    c = instrument(client(upstream), store, project_id="app")
    with pytest.raises(Exception):  # noqa: B017, SIM117 - whatever the SDK raises
        with c.messages.stream(
            model=MODEL, max_tokens=9, messages=say("cut"), llmtrail_message_id="a-5"
        ) as stream:
            for _ in stream.text_stream:
                pass
    t = store.get("a-5")
    assert t is not None and t.status == "failed"
    assert t.metadata is not None and t.metadata["error"]


def test_upstream_http_error(upstream: Upstream, store: Store) -> None:
    c = instrument(client(upstream), store, project_id="app")
    with pytest.raises(anthropic.InternalServerError):
        c.messages.create(
            model=MODEL, max_tokens=9, messages=say("error"), llmtrail_message_id="a-6"
        )
    t = store.get("a-6")
    assert t is not None and t.status == "failed"
    assert t.metadata is not None and "InternalServerError" in str(t.metadata["error"])


def test_negative_usage_fails_the_trail_and_the_call_returns(
    upstream: Upstream, store: Store
) -> None:
    c = instrument(client(upstream), store, project_id="app")
    msg = c.messages.create(
        model=MODEL, max_tokens=9, messages=say("bad-usage"), llmtrail_message_id="a-7"
    )
    assert msg.usage.output_tokens == -7
    t = store.get("a-7")
    assert t is not None and t.status == "failed"
    assert t.metadata is not None and "output_tokens must not be negative" in str(
        t.metadata["error"]
    )


def test_async_client_create_stream_and_helper(upstream: Upstream, store: Store) -> None:
    astore = AsyncStore(store)

    async def main() -> str:
        c = instrument(aclient(upstream), astore, project_id="app")
        await c.messages.create(
            model=MODEL, max_tokens=9, messages=say(), llmtrail_message_id="b-1"
        )
        s = await c.messages.create(
            model=MODEL, max_tokens=9, messages=say(), stream=True, llmtrail_message_id="b-2"
        )
        assert isinstance(s, anthropic.AsyncStream)
        async for _ in s:
            pass
        async with c.messages.stream(
            model=MODEL, max_tokens=9, messages=say(), llmtrail_message_id="b-3"
        ) as stream:
            return "".join([t async for t in stream.text_stream])

    assert asyncio.run(main()) == "Hello from Claude"
    check_completed(store, "b-1", ["Let me think about it."])
    check_completed(store, "b-2", ["Let me think."])
    check_completed(store, "b-3", ["Let me think."])


def test_async_failures_with_a_sync_store(upstream: Upstream, store: Store) -> None:
    async def main() -> None:
        c = instrument(aclient(upstream), store, project_id="app")
        with pytest.raises(anthropic.InternalServerError):
            await c.messages.create(
                model=MODEL, max_tokens=9, messages=say("error"), llmtrail_message_id="b-4"
            )
        s = await c.messages.create(
            model=MODEL,
            max_tokens=9,
            messages=say("stream-error"),
            stream=True,
            llmtrail_message_id="b-5",
        )
        with pytest.raises(anthropic.APIStatusError):
            async for _ in s:
                pass

    asyncio.run(main())
    for mid in ("b-4", "b-5"):
        t = store.get(mid)
        assert t is not None and t.status == "failed", mid


def test_track_context_manager_for_any_call(store: Store) -> None:
    from llmtrail import TokenUsage
    from llmtrail.integrations import Recorder

    rec = Recorder(store, project_id="app")
    with rec.track("claude-haiku-4-5", message_id="t-1") as call:
        assert store.get("t-1").status == "pending"  # type: ignore[union-attr]
        call.complete(tokens=TokenUsage(1_000, 1_000), reasoning=["r"])
    t = store.get("t-1")
    assert t is not None and t.status == "completed" and t.cost is not None
    assert t.cost.total == Decimal("0.006")
    with pytest.raises(RuntimeError), rec.track("claude-haiku-4-5", message_id="t-2"):
        raise RuntimeError("upstream exploded")
    t = store.get("t-2")
    assert t is not None and t.status == "failed"
    assert t.metadata is not None and t.metadata["error"] == "RuntimeError: upstream exploded"


def test_one_hour_cache_writes_and_the_provider_are_recorded(
    upstream: Upstream, store: Store
) -> None:
    c = instrument(client(upstream), store, project_id="app")
    c.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=10,
        messages=say("cache-hour"),
        llmtrail_message_id="h",
    )
    t = store.get("h")
    assert t is not None and t.status == "completed" and t.provider == "anthropic"
    assert (t.tokens.cache_write, t.tokens.cache_write_1h) == (3_000, 1_000)
    # claude-sonnet-4-5: 1000*3 + 20000*0.30 + 2000*3.75 + 1000*6 = 22,500; 500*15 = 7,500
    assert t.cost is not None and t.cost.total == Decimal("0.03")


def test_the_same_call_streamed_records_the_one_hour_writes_too(
    upstream: Upstream, store: Store
) -> None:
    c = instrument(client(upstream), store, project_id="app")
    with c.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=10,
        messages=say("cache-hour"),
        llmtrail_message_id="hs",
    ) as stream:
        stream.until_done()
    t = store.get("hs")
    assert t is not None and t.status == "completed"
    assert t.tokens.cache_write_1h == 1_000 and t.cost is not None
    assert t.cost.total == Decimal("0.03")


def test_the_provider_follows_the_client() -> None:
    from llmtrail.integrations._wrap import provider_of
    from llmtrail.integrations.anthropic import _PROVIDER_BY_CLASS

    bedrock = anthropic.AnthropicBedrock(
        aws_access_key="a", aws_secret_key="b", aws_region="us-east-1"
    )
    assert provider_of(bedrock, "anthropic", _PROVIDER_BY_CLASS) == "aws.bedrock"
    plain = Anthropic(api_key="k")
    assert provider_of(plain, "anthropic", _PROVIDER_BY_CLASS) == "anthropic"


def test_an_explicit_provider_wins(upstream: Upstream, store: Store) -> None:
    c = instrument(client(upstream), store, project_id="app", provider="gcp.vertex_ai")
    c.messages.create(model=MODEL, max_tokens=10, messages=say(), llmtrail_message_id="v")
    t = store.get("v")
    assert t is not None and t.provider == "gcp.vertex_ai"
