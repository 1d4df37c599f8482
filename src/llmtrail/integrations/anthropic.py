"""Audit trails for the official ``anthropic`` SDK (Messages API).

    from anthropic import Anthropic
    from llmtrail.integrations.anthropic import instrument

    client = instrument(Anthropic(), store, project_id="my-app")
    client.messages.create(model="claude-sonnet-4-5", max_tokens=1024, messages=[...])

``instrument`` patches the client *instance* so that ``messages.create`` (streamed or not)
and ``messages.stream(...)`` — sync or async — create a ``pending`` trail when the call
starts and complete it when it ends (tokens with cache reads/writes added to ``prompt`` as
SPEC §1 wants, cost from the price table, the thinking text as ``reasoning``), or mark it
``failed``. Per-call options as in ``llmtrail.integrations.openai``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

from llmtrail.integrations._core import (
    Call,
    CallOptions,
    Outcome,
    Recorder,
    Sink,
    describe,
    is_async_sink,
    is_coroutine_fn,
    pop_options,
    usage_outcome,
)
from llmtrail.integrations._wrap import (
    follow,
    mark_instrumented,
    provider_of,
    recorder_for,
    wrap_call,
)
from llmtrail.model.types import MetadataValue
from llmtrail.pricing.usage import anthropic_usage, as_dict

C = TypeVar("C")


def instrument(
    client: C,
    store: Sink = None,
    *,
    project_id: str | None = None,
    context_layers: int = 0,
    metadata: Mapping[str, MetadataValue] | None = None,
    provider: str | None = None,
) -> C:
    """Record every Messages call of ``client`` (``Anthropic`` or ``AsyncAnthropic``) into
    ``store`` (``Store``, ``AsyncStore``, ``TrailClient``, ``AsyncTrailClient``; the default
    store when None). Returns the same client.

    Trails record ``provider``: ``anthropic``, ``aws.bedrock`` for ``AnthropicBedrock``,
    ``gcp.vertex_ai`` for ``AnthropicVertex``, or the ``provider`` given.
    """
    recorder = recorder_for(
        client,
        store,
        project_id=project_id,
        context_layers=context_layers,
        metadata=metadata,
        provider=provider or provider_of(client, "anthropic", _PROVIDER_BY_CLASS),
    )
    if recorder is None:
        return client
    messages = getattr(client, "messages", None)
    create = getattr(messages, "create", None)
    if messages is None or create is None:
        raise TypeError("not an Anthropic client: it has no messages.create")
    is_async = is_coroutine_fn(create)
    if not is_async and is_async_sink(store):
        raise TypeError("a sync Anthropic client needs a sync store (Store or TrailClient)")
    messages.__dict__["create"] = _wrap_create(create, recorder)
    stream = getattr(messages, "stream", None)
    if stream is not None:
        messages.__dict__["stream"] = _wrap_stream(stream, recorder, is_async)
    mark_instrumented(client)
    return client


def _wrap_create(original: Callable[..., Any], recorder: Recorder) -> Callable[..., Any]:
    return wrap_call(
        original,
        recorder,
        outcome=message_outcome,
        accumulator=MessageAccumulator,
        label="Anthropic",
    )


def _wrap_stream(
    original: Callable[..., Any], recorder: Recorder, is_async: bool
) -> Callable[..., Any]:
    @functools.wraps(original)
    def stream(*args: Any, **kwargs: Any) -> Any:
        options = pop_options(kwargs)
        manager = original(*args, **kwargs)
        call = recorder.call(str(kwargs.get("model") or ""), options)
        cls = _AsyncManager if is_async else _SyncManager
        return cls(manager, call)

    return stream


class _SyncManager:
    """``messages.stream(...)``'s context manager, recording the stream it opens."""

    def __init__(self, manager: Any, call: Call) -> None:
        self._manager = manager
        self._call = call

    def __enter__(self) -> Any:
        self._call.start()
        try:
            stream = self._manager.__enter__()
        except BaseException as e:
            self._call.fail(describe(e))
            raise
        follow(
            getattr(stream, "_raw_stream", None),
            self._call,
            MessageAccumulator(),
            "Anthropic",
            is_async=False,
        )
        return stream

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        if exc is not None:
            self._call.fail(describe(exc))
        return self._manager.__exit__(exc_type, exc, tb)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._manager, name)


class _AsyncManager:
    """``messages.stream(...)``'s async context manager, recording the stream it opens."""

    def __init__(self, manager: Any, call: Call) -> None:
        self._manager = manager
        self._call = call

    async def __aenter__(self) -> Any:
        await self._call.astart()
        try:
            stream = await self._manager.__aenter__()
        except BaseException as e:
            await self._call.afail(describe(e))
            raise
        follow(
            getattr(stream, "_raw_stream", None),
            self._call,
            MessageAccumulator(),
            "Anthropic",
            is_async=True,
        )
        return stream

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        if exc is not None:
            await self._call.afail(describe(exc))
        return await self._manager.__aexit__(exc_type, exc, tb)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._manager, name)


_PROVIDER_BY_CLASS = {
    "AnthropicBedrock": "aws.bedrock",
    "AsyncAnthropicBedrock": "aws.bedrock",
    "AnthropicVertex": "gcp.vertex_ai",
    "AsyncAnthropicVertex": "gcp.vertex_ai",
}


def message_outcome(message: Any) -> Outcome:
    """Tokens and thinking text of a ``Message``."""
    reasoning = [
        block.thinking
        for block in getattr(message, "content", None) or []
        if getattr(block, "type", None) == "thinking" and getattr(block, "thinking", None)
    ]
    return usage_outcome(
        "anthropic",
        "messages",
        getattr(message, "usage", None),
        anthropic_usage,
        reasoning=reasoning or None,
        response_model=getattr(message, "model", None),
        service_tier=getattr(getattr(message, "usage", None), "service_tier", None),
    )


class MessageAccumulator:
    """Follows the raw event stream: usage from ``message_start`` and ``message_delta``,
    thinking deltas, and ``message_stop`` as the end."""

    def __init__(self) -> None:
        self.done = False
        self.usage: dict[str, Any] | None = None
        self.model: str | None = None
        self.thinking: dict[int, list[str]] = {}

    def add(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind == "message_start":
            message = getattr(event, "message", None)
            self.model = getattr(message, "model", None)
            self.usage = as_dict(getattr(message, "usage", None))
        elif kind == "message_delta":
            delta = {
                k: v for k, v in as_dict(getattr(event, "usage", None)).items() if v is not None
            }
            self.usage = {**(self.usage or {}), **delta}  # message_delta counts are cumulative
        elif kind == "content_block_start":
            block = getattr(event, "content_block", None)
            if getattr(block, "type", None) == "thinking":
                self.thinking[event.index] = [getattr(block, "thinking", "") or ""]
        elif kind == "content_block_delta":
            part = getattr(event, "delta", None)
            if getattr(part, "type", None) == "thinking_delta":
                self.thinking.setdefault(event.index, []).append(getattr(part, "thinking", ""))
        elif kind == "message_stop":
            self.done = True

    def outcome(self) -> Outcome:
        texts = [t for t in ("".join(p) for _, p in sorted(self.thinking.items())) if t]
        return usage_outcome(
            "anthropic",
            "messages",
            self.usage,
            anthropic_usage,
            reasoning=texts or None,
            response_model=self.model,
            service_tier=(self.usage or {}).get("service_tier"),
        )


__all__ = ["CallOptions", "MessageAccumulator", "instrument", "message_outcome"]
