"""The real ``openai`` SDK, pointed at the fake upstream, recorded by ``instrument``."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from llmtrail import AsyncStore, Store
from llmtrail.integrations import TrailClient, trail_options
from llmtrail.integrations.openai import instrument
from llmtrail.pricing import make_pricer
from tests.integrations.fake_upstream import Upstream

MSG = [{"role": "user", "content": "hello"}]


def client(upstream: Upstream) -> OpenAI:
    return OpenAI(base_url=f"{upstream.url}/v1", api_key="sk-test", max_retries=0)


def aclient(upstream: Upstream) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=f"{upstream.url}/v1", api_key="sk-test", max_retries=0)


def say(scenario: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"hello [scenario:{scenario}]"}]


def test_chat_completion_is_recorded_with_exact_cost_and_returned_unchanged(
    upstream: Upstream, any_store: Store
) -> None:
    seen: list[str] = []
    upstream.hook = lambda path, body: seen.append(any_store.get("m-chat").status)  # type: ignore[union-attr]
    c = instrument(client(upstream), any_store, project_id="app", context_layers=3)
    result = c.chat.completions.create(
        model="gpt-4o", messages=MSG, llmtrail_message_id="m-chat", llmtrail_metadata={"user": "u1"}
    )
    assert isinstance(result, openai.types.chat.ChatCompletion)
    assert result.choices[0].message.content == "Hello!"
    assert seen == ["pending"]  # the placeholder existed while the upstream was answering
    assert "llmtrail_message_id" not in upstream.last("/v1/chat/completions")
    t = any_store.get("m-chat")
    assert t is not None and t.status == "completed" and t.project_id == "app"
    assert t.model == "gpt-4o" and t.context_layers == 3
    assert (t.tokens.prompt, t.tokens.completion, t.tokens.cache_read, t.tokens.reasoning) == (
        2000,
        300,
        1024,
        128,
    )
    # 976 * 2.50 + 1024 * 1.25 = 3720 -> 0.00372; 300 * 10 -> 0.003 (reasoning counted once)
    assert t.cost is not None and t.cost.total == Decimal("0.00672")
    assert t.cost_source == "computed" and t.price_version == make_pricer().version
    assert t.reasoning == ["Thinking about hello."]
    assert t.metadata is not None
    assert t.metadata["user"] == "u1" and t.metadata["llm.provider"] == "openai"
    assert t.metadata["llm.response_model"] == "gpt-4o-2024-08-06"
    assert (
        json.loads(str(t.metadata["usage.raw"]))["prompt_tokens_details"]["cached_tokens"] == 1024
    )


def test_streamed_chat_asks_for_usage_and_completes_at_the_end(
    upstream: Upstream, store: Store
) -> None:
    c = instrument(client(upstream), store, project_id="app")
    with trail_options(message_id="m-stream"):
        stream = c.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True)
    assert isinstance(stream, openai.Stream)
    assert store.get("m-stream").status == "pending"  # type: ignore[union-attr]
    text = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
    assert text == "Hello!"
    assert upstream.last("/v1/chat/completions")["stream_options"] == {"include_usage": True}
    t = store.get("m-stream")
    assert t is not None and t.status == "completed"
    assert t.tokens.prompt == 2000 and t.tokens.cache_read == 1024
    assert t.reasoning == ["Thinking hard."]
    # gpt-4o-mini: 976 * 0.15 + 1024 * 0.075 = 223.2; 300 * 0.60 = 180
    assert t.cost is not None and t.cost.total == Decimal("0.0004032")


def test_stream_without_usage_still_completes_when_the_caller_opts_out(
    upstream: Upstream, store: Store
) -> None:
    c = instrument(client(upstream), store, project_id="app", stream_usage=False)
    stream = c.chat.completions.create(
        model="gpt-4o", messages=MSG, stream=True, llmtrail_message_id="m-nousage"
    )
    assert len(list(stream)) == 6
    assert "stream_options" not in upstream.last("/v1/chat/completions")
    t = store.get("m-nousage")
    assert t is not None and t.status == "completed" and t.tokens.prompt == 0
    assert t.metadata is not None and t.metadata["usage.missing"] is True


def test_stream_cut_halfway_marks_the_trail_failed(upstream: Upstream, store: Store) -> None:
    c = instrument(client(upstream), store, project_id="app")
    stream = c.chat.completions.create(
        model="gpt-4o", messages=say("cut"), stream=True, llmtrail_message_id="m-cut"
    )
    got: list[Any] = []
    with pytest.raises(Exception):  # noqa: B017 - whatever the SDK raises for a dropped body
        for chunk in stream:
            got.append(chunk)
    assert 0 < len(got) < 6
    t = store.get("m-cut")
    assert t is not None and t.status == "failed"
    assert t.metadata is not None and "stream broke" in str(t.metadata["error"])


def test_caller_closing_the_stream_early_marks_it_failed(upstream: Upstream, store: Store) -> None:
    c = instrument(client(upstream), store, project_id="app")
    with c.chat.completions.create(
        model="gpt-4o", messages=MSG, stream=True, llmtrail_message_id="m-early"
    ) as stream:
        next(iter(stream))
    t = store.get("m-early")
    assert t is not None and t.status == "failed"
    assert t.metadata is not None and "closed by the caller" in str(t.metadata["error"])


def test_upstream_error_marks_failed_and_the_sdk_error_reaches_the_caller(
    upstream: Upstream, store: Store
) -> None:
    c = instrument(client(upstream), store, project_id="app")
    with pytest.raises(openai.InternalServerError):
        c.chat.completions.create(
            model="gpt-4o", messages=say("error"), llmtrail_message_id="m-err"
        )
    t = store.get("m-err")
    assert t is not None and t.status == "failed"
    assert t.metadata is not None and "InternalServerError" in str(t.metadata["error"])


def test_negative_usage_fails_the_trail_but_the_call_returns(
    upstream: Upstream, store: Store
) -> None:
    c = instrument(client(upstream), store, project_id="app")
    result = c.chat.completions.create(
        model="gpt-4o", messages=say("bad-usage"), llmtrail_message_id="m-bad"
    )
    assert result.usage is not None and result.usage.prompt_tokens == -5
    t = store.get("m-bad")
    assert t is not None and t.status == "failed" and t.tokens.prompt == 0
    assert t.metadata is not None
    assert "prompt_tokens must not be negative" in str(t.metadata["error"])
    assert '"prompt_tokens":-5' in str(t.metadata["usage.raw"])


def test_unknown_model_is_completed_and_unpriced(upstream: Upstream, store: Store) -> None:
    c = instrument(client(upstream), store, project_id="app")
    c.chat.completions.create(model="my-local-llm", messages=MSG, llmtrail_message_id="m-unk")
    t = store.get("m-unk")
    assert t is not None and t.status == "completed" and t.cost_source == "unpriced"
    assert t.tokens.prompt == 2000


def test_responses_api_with_reasoning_tokens(upstream: Upstream, store: Store) -> None:
    c = instrument(client(upstream), store, project_id="app")
    r = c.responses.create(model="o4-mini", input="why?", llmtrail_message_id="m-resp")
    assert r.output_text == "Hi there"
    t = store.get("m-resp")
    assert t is not None and t.status == "completed"
    assert (t.tokens.prompt, t.tokens.completion, t.tokens.reasoning) == (1200, 5000, 4000)
    # 1,200 * 1.10 + 5,000 * 4.40 (the 4,000 reasoning tokens are inside the 5,000)
    assert t.cost is not None and t.cost.total == Decimal("0.02332")
    assert t.reasoning == ["Considered the question."]


def test_responses_stream(upstream: Upstream, store: Store) -> None:
    c = instrument(client(upstream), store, project_id="app")
    events = list(
        c.responses.create(model="o4-mini", input="x", stream=True, llmtrail_message_id="m-rs")
    )
    assert [e.type for e in events][-1] == "response.completed"
    t = store.get("m-rs")
    assert t is not None and t.status == "completed" and t.tokens.reasoning == 4000


def test_responses_stream_cut(upstream: Upstream, store: Store) -> None:
    c = instrument(client(upstream), store, project_id="app")
    with pytest.raises(Exception):  # noqa: B017
        list(
            c.responses.create(
                model="o4-mini", input="[scenario:cut]", stream=True, llmtrail_message_id="m-rc"
            )
        )
    t = store.get("m-rc")
    assert t is not None and t.status == "failed"


def test_async_client_with_async_store(upstream: Upstream, store: Store) -> None:
    astore = AsyncStore(store)

    async def main() -> tuple[str | None, str]:
        c = instrument(aclient(upstream), astore, project_id="app")
        r = await c.chat.completions.create(
            model="gpt-4o", messages=MSG, llmtrail_message_id="m-a1"
        )
        s = await c.chat.completions.create(
            model="gpt-4o", messages=MSG, stream=True, llmtrail_message_id="m-a2"
        )
        assert isinstance(s, openai.AsyncStream)
        parts = [ch.choices[0].delta.content or "" async for ch in s if ch.choices]
        return r.choices[0].message.content, "".join(parts)

    assert asyncio.run(main()) == ("Hello!", "Hello!")
    for mid in ("m-a1", "m-a2"):
        t = store.get(mid)
        assert t is not None and t.status == "completed" and t.cost is not None
        assert t.cost.total == Decimal("0.00672")


def test_async_client_with_sync_store_and_errors(upstream: Upstream, store: Store) -> None:
    async def main() -> None:
        c = instrument(aclient(upstream), store, project_id="app")
        with pytest.raises(openai.InternalServerError):
            await c.chat.completions.create(
                model="gpt-4o", messages=say("error"), llmtrail_message_id="m-ae"
            )
        s = await c.chat.completions.create(
            model="gpt-4o", messages=say("cut"), stream=True, llmtrail_message_id="m-ac"
        )
        with pytest.raises(Exception):  # noqa: B017
            async for _ in s:
                pass
        r = await c.responses.create(
            model="o4-mini", input="[scenario:bad-usage]", llmtrail_message_id="m-ab"
        )
        assert r.usage is not None and r.usage.output_tokens == -1

    asyncio.run(main())
    for mid, needle in (
        ("m-ae", "InternalServerError"),
        ("m-ac", "stream broke"),
        ("m-ab", "output_tokens"),
    ):
        t = store.get(mid)
        assert t is not None and t.status == "failed", mid
        assert t.metadata is not None and needle in str(t.metadata["error"])


def test_recording_errors_never_break_the_call(
    upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    dead = TrailClient("http://127.0.0.1:9", key="k", project_id="app", timeout=0.5)
    c = instrument(client(upstream), dead)
    r = c.chat.completions.create(model="gpt-4o", messages=MSG)
    assert r.choices[0].message.content == "Hello!"
    assert "could not record" in caplog.text
    s = c.chat.completions.create(model="gpt-4o", messages=MSG, stream=True)
    assert len(list(s)) == 7


def test_sync_client_rejects_an_async_store(store: Store) -> None:
    with pytest.raises(TypeError):
        instrument(OpenAI(api_key="x", base_url="http://127.0.0.1:9"), AsyncStore(store))


def test_instrumenting_twice_records_once(upstream: Upstream, store: Store) -> None:
    c = instrument(instrument(client(upstream), store, project_id="app"), store, project_id="app")
    c.chat.completions.create(model="gpt-4o", messages=MSG, llmtrail_message_id="m-twice")
    assert store.get("m-twice") is not None


def test_stream_helpers_and_parse_are_recorded_too(upstream: Upstream, store: Store) -> None:
    c = instrument(client(upstream), store, project_id="app")
    with (
        trail_options(message_id="h-1"),
        c.chat.completions.stream(model="gpt-4o", messages=MSG) as s,
    ):
        final = s.get_final_completion()
    assert final.choices[0].message.content == "Hello!"
    with trail_options(message_id="h-2"), c.responses.stream(model="o4-mini", input="x") as rs:
        assert rs.get_final_response().output_text == "Hi there"
    with trail_options(message_id="h-3"):
        parsed = c.chat.completions.parse(model="gpt-4o", messages=MSG)
    assert parsed.choices[0].message.content == "Hello!"
    for mid, total in (("h-1", "0.00672"), ("h-2", "0.02332"), ("h-3", "0.00672")):
        t = store.get(mid)
        assert t is not None and t.status == "completed", mid
        assert t.cost is not None and t.cost.total == Decimal(total), mid


def test_async_stream_closed_early_marks_it_failed(upstream: Upstream, store: Store) -> None:
    async def main() -> None:
        c = instrument(aclient(upstream), AsyncStore(store), project_id="app")
        s = await c.chat.completions.create(
            model="gpt-4o", messages=MSG, stream=True, llmtrail_message_id="m-aclose"
        )
        async with s:
            await s.__anext__()

    asyncio.run(main())
    t = store.get("m-aclose")
    assert t is not None and t.status == "failed"
    assert t.metadata is not None and "closed by the caller" in str(t.metadata["error"])


def test_the_provider_is_recorded_and_follows_the_client(upstream: Upstream, store: Store) -> None:
    from llmtrail.integrations._wrap import provider_of
    from llmtrail.integrations.openai import _PROVIDER_BY_CLASS

    c = instrument(client(upstream), store, project_id="app")
    c.chat.completions.create(model="gpt-4o", messages=say("ok"), llmtrail_message_id="prov")
    t = store.get("prov")
    assert t is not None and t.provider == "openai"
    azure = openai.AzureOpenAI(
        api_key="k", azure_endpoint="https://acme.openai.azure.com", api_version="2024-10-21"
    )
    assert provider_of(azure, "openai", _PROVIDER_BY_CLASS) == "azure.ai.openai"
    hosted = OpenAI(api_key="k", base_url="https://acme.openai.azure.com/openai/v1")
    assert provider_of(hosted, "openai", _PROVIDER_BY_CLASS) == "azure.ai.openai"


def test_an_explicit_provider_is_recorded_and_prices_the_call(
    upstream: Upstream, store: Store
) -> None:
    c = instrument(client(upstream), store, project_id="app", provider="azure")
    c.chat.completions.create(model="gpt-4o", messages=say("ok"), llmtrail_message_id="az")
    t = store.get("az")
    assert t is not None and t.provider == "azure" and t.cost_source == "computed"


@pytest.mark.parametrize("stream", [False, True])
def test_the_priority_tier_is_recorded_and_priced_at_its_own_rate(
    upstream: Upstream, store: Store, stream: bool
) -> None:
    c = instrument(client(upstream), store, project_id="app")
    result = c.chat.completions.create(
        model="gpt-4o", messages=say("priority"), stream=stream, llmtrail_message_id="tier"
    )
    if stream:
        for _ in result:  # type: ignore[union-attr]
            pass
    t = store.get("tier")
    assert t is not None and t.metadata is not None
    assert t.metadata["llm.service_tier"] == "priority"
    # gpt-4o priority: 976 plain * 4.25 + 1024 cached * 2.125 = 6,324; 300 * 17 = 5,100
    assert t.cost is not None and t.cost.total == Decimal("0.011424")
    c.chat.completions.create(model="gpt-4o", messages=say("ok"), llmtrail_message_id="std")
    standard = store.get("std")
    assert standard is not None and standard.metadata is not None
    assert standard.metadata["llm.service_tier"] == "default"
    assert standard.cost is not None and standard.cost.total == Decimal("0.00672")


@pytest.mark.parametrize("bad", ["AWS", "a b", "x" * 65, "é"])
def test_a_bad_provider_is_refused_when_instrumenting(store: Store, bad: str) -> None:
    from llmtrail import ValidationError

    with pytest.raises(ValidationError, match="provider"):
        instrument(OpenAI(api_key="k"), store, project_id="app", provider=bad)
