"""Every stream shape, through the sync and the async SDK client: both record the same status.

Issue 12: the async half of ``Call`` ignored an outcome's error, so an ``AsyncOpenAI``
Responses stream that reported ``error``/``response.failed`` and then dropped was recorded
``completed`` while the sync client recorded ``failed``. One sans-I/O flow now drives both.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from anthropic import Anthropic, AsyncAnthropic
from openai import AsyncOpenAI, OpenAI

from llmtrail import Store
from llmtrail.integrations import anthropic as lt_anthropic
from llmtrail.integrations import openai as lt_openai
from tests.integrations.fake_upstream import Upstream

# (api, scenario, the status the trail must get)
SHAPES = [
    ("openai.chat", "ok", "completed"),
    ("openai.chat", "cut", "failed"),
    ("openai.responses", "ok", "completed"),
    ("openai.responses", "cut", "failed"),
    ("openai.responses", "stream-error", "failed"),
    ("openai.responses", "stream-failed", "failed"),
    ("anthropic.messages", "ok", "completed"),
    ("anthropic.messages", "cut", "failed"),
    ("anthropic.messages", "stream-error", "failed"),
]


def _request(api: str, scenario: str) -> tuple[str, dict[str, Any]]:
    text = f"hello [scenario:{scenario}]"
    if api == "openai.chat":
        return "chat", {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}
    if api == "openai.responses":
        return "responses", {"model": "o4-mini", "input": text}
    return "messages", {
        "model": "claude-3-7-sonnet-20250219",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": text}],
    }


def _sync_stream(upstream: Upstream, store: Store, api: str, scenario: str, mid: str) -> None:
    kind, kw = _request(api, scenario)
    if api.startswith("openai"):
        c = lt_openai.instrument(
            OpenAI(base_url=f"{upstream.url}/v1", api_key="k", max_retries=0), store, project_id="p"
        )
        create = c.chat.completions.create if kind == "chat" else c.responses.create
    else:
        a = lt_anthropic.instrument(
            Anthropic(base_url=upstream.url, api_key="k", max_retries=0), store, project_id="p"
        )
        create = a.messages.create
    stream = create(stream=True, llmtrail_message_id=mid, **kw)
    try:
        for _ in stream:
            pass
    except Exception:  # the dropped connection reaches the caller, as without llmtrail
        pass


async def _async_stream(
    upstream: Upstream, store: Store, api: str, scenario: str, mid: str
) -> None:
    kind, kw = _request(api, scenario)
    if api.startswith("openai"):
        c = lt_openai.instrument(
            AsyncOpenAI(base_url=f"{upstream.url}/v1", api_key="k", max_retries=0),
            store,
            project_id="p",
        )
        create = c.chat.completions.create if kind == "chat" else c.responses.create
    else:
        a = lt_anthropic.instrument(
            AsyncAnthropic(base_url=upstream.url, api_key="k", max_retries=0), store, project_id="p"
        )
        create = a.messages.create
    stream = await create(stream=True, llmtrail_message_id=mid, **kw)
    try:
        async for _ in stream:
            pass
    except Exception:
        pass


@pytest.mark.parametrize(("api", "scenario", "status"), SHAPES)
def test_sync_and_async_streams_record_the_same_status(
    upstream: Upstream, store: Store, api: str, scenario: str, status: str
) -> None:
    _sync_stream(upstream, store, api, scenario, "sync")
    asyncio.run(_async_stream(upstream, store, api, scenario, "async"))
    got = {mid: store.get(mid) for mid in ("sync", "async")}
    for mid, t in got.items():
        assert t is not None and t.status == status, (mid, t)
    if status == "failed":
        errors = [str((t.metadata or {}).get("error")) for t in got.values() if t]
        assert all(errors) and errors[0] == errors[1], errors
