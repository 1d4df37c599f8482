"""Audit trails for the official ``openai`` SDK (Chat Completions and Responses).

    from openai import OpenAI
    from llmtrail.integrations.openai import instrument

    client = instrument(OpenAI(), store, project_id="my-app")
    client.chat.completions.create(model="gpt-4o", messages=[...])   # recorded

``instrument`` patches the client *instance* (its type and every other method stay as they
were) so that ``chat.completions.create`` and ``responses.create`` — sync or async, streamed
or not — create a ``pending`` trail when the call starts and complete it (tokens, cost from
the price table, reasoning text when the upstream returns it) when it ends, or mark it
``failed``. Per-call options: ``llmtrail_message_id=…``, ``llmtrail_context_layers=…``,
``llmtrail_metadata=…`` keyword arguments (removed before the SDK sees them), or a
``with trail_options(...)`` block.

Streamed Chat Completions only report usage when asked; unless ``stream_usage=False``,
``stream_options={"include_usage": True}`` is added when the caller did not pass
``stream_options`` (the stream then ends with one extra chunk whose ``choices`` is empty).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from llmtrail.integrations._core import (
    Outcome,
    Recorder,
    Sink,
    is_async_sink,
    is_coroutine_fn,
    usage_outcome,
)
from llmtrail.integrations._wrap import mark_instrumented, provider_of, recorder_for, wrap_call
from llmtrail.model.types import MetadataValue
from llmtrail.pricing.usage import as_dict, openai_chat_usage, openai_responses_usage

C = TypeVar("C")


def instrument(
    client: C,
    store: Sink = None,
    *,
    project_id: str | None = None,
    context_layers: int = 0,
    metadata: Mapping[str, MetadataValue] | None = None,
    stream_usage: bool = True,
    provider: str | None = None,
) -> C:
    """Record every Chat Completions / Responses call of ``client`` (``OpenAI`` or
    ``AsyncOpenAI``) into ``store`` (a ``Store``, ``AsyncStore``, ``TrailClient`` or
    ``AsyncTrailClient``; the default store when None). Returns the same client.

    Trails record ``provider``: ``openai``, or ``azure.ai.openai`` for ``AzureOpenAI`` and
    Azure hosts; pass ``provider`` for an OpenAI-compatible service (``deepseek``, ``groq``…).
    """
    recorder = recorder_for(
        client,
        store,
        project_id=project_id,
        context_layers=context_layers,
        metadata=metadata,
        provider=provider or provider_of(client, "openai", _PROVIDER_BY_CLASS),
    )
    if recorder is None:
        return client
    chat = getattr(getattr(client, "chat", None), "completions", None)
    responses = getattr(client, "responses", None)
    for resource, api in ((chat, "chat.completions"), (responses, "responses")):
        # ``stream()`` helpers call ``self.create(stream=True)``, so they are covered too;
        # ``parse()`` posts on its own and is wrapped as well.
        for method in ("create", "parse"):
            original = getattr(resource, method, None)
            if original is None:
                continue
            if not is_coroutine_fn(original) and is_async_sink(store):
                raise TypeError("a sync OpenAI client needs a sync store (Store or TrailClient)")
            resource.__dict__[method] = _wrap(original, recorder, api, stream_usage)
    mark_instrumented(client)
    return client


_PROVIDER_BY_CLASS = {"AzureOpenAI": "azure.ai.openai", "AsyncAzureOpenAI": "azure.ai.openai"}


def _prepare(kwargs: dict[str, Any], api: str, stream_usage: bool) -> bool:
    streaming = kwargs.get("stream") is True
    wants_usage = streaming and api == "chat.completions" and stream_usage
    # absent, None, or the SDK's ``omit``/``NOT_GIVEN`` sentinel (the ``stream()`` helper)
    if wants_usage and not isinstance(kwargs.get("stream_options"), Mapping):
        kwargs["stream_options"] = {"include_usage": True}
    return streaming


def _wrap(
    original: Callable[..., Any], recorder: Recorder, api: str, stream_usage: bool
) -> Callable[..., Any]:
    chat = api == "chat.completions"
    return wrap_call(
        original,
        recorder,
        outcome=lambda result: outcome_of(api, result),
        accumulator=ChatAccumulator if chat else ResponsesAccumulator,
        label=api,
        prepare=lambda kwargs: _prepare(kwargs, api, stream_usage),
    )


def outcome_of(api: str, result: Any) -> Outcome:
    """The outcome of a non-streamed ``ChatCompletion`` or ``Response``."""
    if api == "chat.completions":
        return chat_outcome(result)
    return responses_outcome(result)


def chat_outcome(completion: Any) -> Outcome:
    """Tokens and reasoning of a ``ChatCompletion``."""
    reasoning: list[str] = []
    for choice in getattr(completion, "choices", None) or []:
        text = _reasoning_text(getattr(choice, "message", None))
        if text:
            reasoning.append(text)
    return usage_outcome(
        "openai",
        "chat.completions",
        getattr(completion, "usage", None),
        openai_chat_usage,
        reasoning=reasoning or None,
        response_model=getattr(completion, "model", None),
        service_tier=getattr(completion, "service_tier", None),
    )


def _reasoning_text(message: Any) -> str | None:
    # OpenAI-compatible servers (DeepSeek, vLLM, …) return the reasoning as an extra field.
    for name in ("reasoning_content", "reasoning"):
        value = getattr(message, name, None)
        if isinstance(value, str) and value:
            return value
    return None


def responses_outcome(response: Any) -> Outcome:
    """Tokens and reasoning summaries of a Responses API ``Response``."""
    reasoning: list[str] = []
    for item in getattr(response, "output", None) or []:
        if getattr(item, "type", None) != "reasoning":
            continue
        for part in [
            *(getattr(item, "summary", None) or []),
            *(getattr(item, "content", None) or []),
        ]:
            text = getattr(part, "text", None)
            if isinstance(text, str) and text:
                reasoning.append(text)
    out = usage_outcome(
        "openai",
        "responses",
        getattr(response, "usage", None),
        openai_responses_usage,
        reasoning=reasoning or None,
        response_model=getattr(response, "model", None),
        service_tier=getattr(response, "service_tier", None),
    )
    status = getattr(response, "status", None)
    if status == "failed":
        error = getattr(response, "error", None)
        out.error = f"response failed: {getattr(error, 'message', None) or error}"
    elif status == "incomplete":
        details = getattr(response, "incomplete_details", None)
        out.metadata["llm.incomplete"] = str(getattr(details, "reason", None) or "unknown")
    return out


class ChatAccumulator:
    """Follows a streamed Chat Completion: reasoning deltas, finish reasons, the usage chunk."""

    def __init__(self) -> None:
        self.done = False
        self.usage: Any = None
        self.model: str | None = None
        self.service_tier: str | None = None
        self.reasoning: dict[int, list[str]] = {}

    def add(self, chunk: Any) -> None:
        self.model = getattr(chunk, "model", None) or self.model
        self.service_tier = getattr(chunk, "service_tier", None) or self.service_tier
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage
            self.done = True
        for choice in getattr(chunk, "choices", None) or []:
            text = _reasoning_text(getattr(choice, "delta", None))
            if text:
                self.reasoning.setdefault(getattr(choice, "index", 0), []).append(text)
            if getattr(choice, "finish_reason", None) is not None and self.usage is None:
                self.done = True  # without include_usage the last chunk has a finish reason

    def outcome(self) -> Outcome:
        texts = ["".join(parts) for _, parts in sorted(self.reasoning.items())]
        return usage_outcome(
            "openai",
            "chat.completions",
            self.usage,
            openai_chat_usage,
            reasoning=texts or None,
            response_model=self.model,
            service_tier=self.service_tier,
        )


class ResponsesAccumulator:
    """Follows a streamed Response: its final ``response.completed`` (or failure) event."""

    def __init__(self) -> None:
        self.done = False
        self.final: Any = None
        self.error: str | None = None

    def add(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            self.final = getattr(event, "response", None)
            self.done = True
        elif kind == "error":
            self.error = f"stream error: {as_dict(event).get('message', 'unknown')}"
            self.done = True

    def outcome(self) -> Outcome:
        if self.final is None:
            return Outcome(error=self.error or "stream ended without a final response")
        return responses_outcome(self.final)
