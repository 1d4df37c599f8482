"""Wrapping one SDK method (sync or async) so each call is recorded: the part every
integration shares. An integration says only what is its own: how to read a request
(``prepare``), a result (``outcome``) and a stream (``accumulator``)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from llmtrail.errors import ValidationError
from llmtrail.integrations._core import (
    Call,
    Outcome,
    Recorder,
    Sink,
    describe,
    is_coroutine_fn,
    log,
    pop_options,
)
from llmtrail.integrations._streams import Accumulator, safe_outcome, wrap_stream_object
from llmtrail.model import rules
from llmtrail.model.types import MetadataValue

MARK = "_llmtrail_instrumented"


def recorder_for(
    client: Any,
    store: Sink,
    *,
    project_id: str | None,
    context_layers: int,
    metadata: Mapping[str, MetadataValue] | None,
    provider: str | None = None,
) -> Recorder | None:
    """The recorder ``instrument`` wraps ``client``'s methods with, or None when the client
    is instrumented already (instrumenting twice records once)."""
    if provider is not None:  # checked now: a bad one would fail every trail of the client
        errs = rules.Errors()
        if rules.provider(errs, "provider", provider) is None:
            raise ValidationError(errs.items)
    if getattr(client, MARK, False):
        return None
    return Recorder(
        store,
        project_id=project_id,
        context_layers=context_layers,
        metadata=metadata,
        provider=provider,
    )


def provider_of(client: Any, default: str, by_class: Mapping[str, str]) -> str:
    """The ``gen_ai.provider.name`` of an SDK client: by its class (``AzureOpenAI``,
    ``AnthropicBedrock``, …), by an Azure host, else the SDK's own service."""
    for cls in type(client).__mro__:
        if cls.__name__ in by_class:
            return by_class[cls.__name__]
    host = str(getattr(getattr(client, "base_url", None), "host", "") or "")
    if host.endswith((".openai.azure.com", ".services.ai.azure.com")):
        return "azure.ai.openai"
    return default


def mark_instrumented(client: Any) -> None:
    setattr(client, MARK, True)


def is_streaming(kwargs: dict[str, Any]) -> bool:
    """The default ``prepare``: whether the call asks for a stream."""
    return kwargs.get("stream") is True


def follow(stream: Any, call: Call, acc: Accumulator, label: str, *, is_async: bool) -> None:
    """Complete ``call`` when the SDK ``stream`` ends (``wrap_stream_object``); a stream this
    version cannot follow is left alone and logged (the caller's stream is never broken)."""
    try:
        wrap_stream_object(stream, call, acc, is_async=is_async)
    except Exception as e:
        log.warning("llmtrail: cannot follow this %s stream: %s", label, e)
        call.finished = True


def wrap_call(
    original: Callable[..., Any],
    recorder: Recorder,
    *,
    outcome: Callable[[Any], Outcome],
    accumulator: Callable[[], Accumulator],
    label: str,
    prepare: Callable[[dict[str, Any]], bool] = is_streaming,
) -> Callable[..., Any]:
    """``original`` recording each call: a placeholder before it, then the outcome of its
    result, or of its stream when it ends (``prepare`` may adjust the request's kwargs and
    tells whether it streams), or ``failed`` when it raises. The caller gets the SDK's own
    result or exception, unchanged."""

    def watch(result: Any, call: Call, is_async: bool) -> None:
        follow(result, call, accumulator(), label, is_async=is_async)

    if is_coroutine_fn(original):

        @functools.wraps(original)
        async def acreate(*args: Any, **kwargs: Any) -> Any:
            call = recorder.call(str(kwargs.get("model") or ""), pop_options(kwargs))
            streaming = prepare(kwargs)
            await call.astart()
            try:
                result = await original(*args, **kwargs)
            except BaseException as e:
                await call.afail(describe(e))
                raise
            if streaming:
                watch(result, call, True)
            else:
                await call.acomplete(safe_outcome(lambda: outcome(result)))
            return result

        return acreate

    @functools.wraps(original)
    def create(*args: Any, **kwargs: Any) -> Any:
        call = recorder.call(str(kwargs.get("model") or ""), pop_options(kwargs))
        streaming = prepare(kwargs)
        call.start()
        try:
            result = original(*args, **kwargs)
        except BaseException as e:
            call.fail(describe(e))
            raise
        if streaming:
            watch(result, call, False)
        else:
            call.complete(safe_outcome(lambda: outcome(result)))
        return result

    return create
