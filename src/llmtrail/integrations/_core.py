"""The recording machinery shared by the SDK integrations.

A ``Recorder`` writes to a *sink*: a local ``Store``, an ``AsyncStore``, or a remote server
through ``TrailClient``/``AsyncTrailClient``. Each LLM call is one ``Call``: a ``pending``
placeholder when it starts, ``completed`` (tokens, reasoning, raw usage) or ``failed`` (with
``metadata.error``) when it ends. Recording never breaks the caller's LLM call: its errors are
logged, and the call's own result or exception passes through unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import logging
from collections.abc import (
    AsyncIterator,
    Callable,
    Generator,
    Iterator,
    Mapping,
)
from dataclasses import dataclass, field
from typing import Any, Protocol

from llmtrail.errors import ValidationError
from llmtrail.ids import uuid7
from llmtrail.model import rules
from llmtrail.model.types import MetadataValue, TokenUsage
from llmtrail.pricing.usage import UsageError, raw_usage_metadata

log = logging.getLogger("llmtrail.integrations")
MAX_ERROR_TEXT = 1_000


class TrailSink(Protocol):
    """Where trails go (sync): ``Store`` and ``TrailClient`` have these methods."""

    def create_placeholder(
        self,
        message_id: str,
        model: str,
        context_layers: int = 0,
        project_id: str | None = None,
        **extra: Any,
    ) -> Any: ...

    def update(self, message_id: str, **fields: Any) -> Any: ...

    def store(self, trail: Any, project_id: str | None = None) -> Any: ...


class AsyncTrailSink(Protocol):
    """Where trails go (async): ``AsyncStore`` and ``AsyncTrailClient`` have these methods."""

    async def create_placeholder(
        self,
        message_id: str,
        model: str,
        context_layers: int = 0,
        project_id: str | None = None,
        **extra: Any,
    ) -> Any: ...

    async def update(self, message_id: str, **fields: Any) -> Any: ...

    async def store(self, trail: Any, project_id: str | None = None) -> Any: ...


#: what ``instrument``/``Recorder`` accept as the place to write trails (None: the default store)
Sink = TrailSink | AsyncTrailSink | None


@dataclass(frozen=True, slots=True)
class CallOptions:
    """Per-call trail options (set with ``trail_options``)."""

    message_id: str | None = None
    context_layers: int | None = None
    project_id: str | None = None
    metadata: Mapping[str, MetadataValue] | None = None


_OPTIONS: contextvars.ContextVar[CallOptions | None] = contextvars.ContextVar(
    "llmtrail_call_options", default=None
)
#: keyword arguments the wrapped SDK methods accept (and remove) besides their own
OPTION_KWARGS = {
    "llmtrail_message_id": "message_id",
    "llmtrail_context_layers": "context_layers",
    "llmtrail_project_id": "project_id",
    "llmtrail_metadata": "metadata",
}


@contextlib.contextmanager
def trail_options(
    *,
    message_id: str | None = None,
    context_layers: int | None = None,
    project_id: str | None = None,
    metadata: Mapping[str, MetadataValue] | None = None,
) -> Iterator[CallOptions]:
    """Options for the instrumented calls made inside the block (e.g. the message id)."""
    opts = CallOptions(message_id, context_layers, project_id, metadata)
    token = _OPTIONS.set(opts)
    try:
        yield opts
    finally:
        _OPTIONS.reset(token)


def pop_options(kwargs: dict[str, Any]) -> CallOptions:
    """The call's options: ``llmtrail_*`` keyword arguments (removed) over ``trail_options``."""
    base = _OPTIONS.get() or CallOptions()
    given = {OPTION_KWARGS[k]: kwargs.pop(k) for k in list(kwargs) if k in OPTION_KWARGS}
    if not given:
        return base
    merged: dict[str, Any] = {
        "message_id": base.message_id,
        "context_layers": base.context_layers,
        "project_id": base.project_id,
        "metadata": base.metadata,
    }
    merged.update(given)
    return CallOptions(**merged)


@dataclass(slots=True)
class Outcome:
    """What an LLM call produced, as far as the trail is concerned."""

    tokens: TokenUsage | None = None
    reasoning: list[str] | None = None
    metadata: dict[str, MetadataValue] = field(default_factory=dict)
    #: the upstream reported usage that cannot be right (negative, absurd, inconsistent)
    usage_error: str | None = None
    #: the upstream reported a failure inside an otherwise successful response or stream
    error: str | None = None


def usage_outcome(
    provider: str,
    api: str,
    usage: object,
    normalise: Callable[[object], TokenUsage],
    *,
    reasoning: list[str] | None = None,
    response_model: object = None,
    service_tier: object = None,
) -> Outcome:
    """The outcome of a call whose provider reported ``usage`` (raw usage kept in metadata;
    the service tier that served it in ``llm.service_tier``, which prices flex/priority)."""
    meta: dict[str, MetadataValue] = {"llm.provider": provider, "llm.api": api}
    if isinstance(response_model, str) and response_model:
        meta["llm.response_model"] = response_model[: rules.MAX_METADATA_STRING]
    if isinstance(service_tier, str) and service_tier:
        meta["llm.service_tier"] = service_tier[:64]
    if usage is None:
        meta["usage.missing"] = True
        return Outcome(reasoning=reasoning, metadata=meta)
    meta.update(raw_usage_metadata(provider, api, usage))
    try:
        tokens = normalise(usage)
    except UsageError as e:
        return Outcome(metadata=meta, usage_error=str(e))
    return Outcome(tokens=tokens, reasoning=reasoning, metadata=meta)


def is_coroutine_fn(fn: object) -> bool:
    """Whether ``fn`` (possibly wrapped by decorators, as the SDKs' methods are) is async."""
    if not callable(fn):
        return False
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(inspect.unwrap(fn))


def is_async_sink(sink: object) -> bool:
    return is_coroutine_fn(getattr(sink, "update", None))


class Recorder:
    """Records LLM calls into a sink (``Store``, ``AsyncStore``, ``TrailClient``…)."""

    def __init__(
        self,
        sink: Sink = None,
        *,
        project_id: str | None = None,
        context_layers: int = 0,
        metadata: Mapping[str, MetadataValue] | None = None,
        provider: str | None = None,
    ) -> None:
        self._sink = sink
        self.project_id = project_id
        self.context_layers = context_layers
        self.metadata = dict(metadata or {})
        #: who serves the calls (the trail's ``provider``: prices Bedrock, Azure, … right)
        self.provider = provider

    @property
    def sink(self) -> Any:
        if self._sink is None:
            from llmtrail.default import default_store

            self._sink = default_store()
        return self._sink

    @property
    def is_async(self) -> bool:
        return is_async_sink(self._sink)

    def call(self, model: str, options: CallOptions | None = None) -> Call:
        """A new call of ``model`` (not yet started)."""
        opts = options or _OPTIONS.get() or CallOptions()
        meta: dict[str, MetadataValue] = {**self.metadata, **(opts.metadata or {})}
        return Call(
            self,
            message_id=opts.message_id or uuid7(),
            model=model if isinstance(model, str) and model else "unknown",
            context_layers=(
                opts.context_layers if opts.context_layers is not None else self.context_layers
            ),
            project_id=opts.project_id or self.project_id,
            metadata=meta,
            provider=self.provider,
        )

    @contextlib.contextmanager
    def track(self, model: str, **options: Any) -> Iterator[Call]:
        """Record a call made by any code: ``with recorder.track("gpt-4o") as call: …``.

        Call ``call.complete(tokens=…, reasoning=…)`` inside the block; an exception marks
        the trail ``failed`` (and propagates); leaving without ``complete`` completes it.
        """
        c = self.call(model, CallOptions(**options))
        c.start()
        try:
            yield c
        except BaseException as e:
            c.fail(describe(e))
            raise
        if not c.finished:
            c.complete(Outcome())

    @contextlib.asynccontextmanager
    async def atrack(self, model: str, **options: Any) -> AsyncIterator[Call]:
        """``track`` for async code: ``async with recorder.atrack("gpt-4o") as call: …``."""
        c = self.call(model, CallOptions(**options))
        await c.astart()
        try:
            yield c
        except BaseException as e:
            await c.afail(describe(e))
            raise
        if not c.finished:
            await c.acomplete(Outcome())


def describe(error: BaseException) -> str:
    """A short, single-line reason for ``metadata.error``."""
    text = f"{type(error).__name__}: {error}".replace("\n", " ")
    return text[:MAX_ERROR_TEXT]


#: One write of a call's trail: (sink method, positional args, keyword args).
Write = tuple[str, tuple[Any, ...], dict[str, Any]]
#: A call's steps as a sans-I/O flow (httpx's ``auth_flow`` shape): it yields each write and is
#: sent whether the sink took it (True) or failed (False); a ``ValidationError`` of the sink is
#: thrown into it. Its return value is the status the trail got. The sync and async drivers
#: only perform the I/O, so both always record the same thing.
Flow = Generator[Write, bool, str | None]


class Call:
    """One recorded LLM call: ``start`` → ``complete`` or ``fail`` (sync or ``a``-prefixed)."""

    def __init__(
        self,
        recorder: Recorder,
        *,
        message_id: str,
        model: str,
        context_layers: int,
        project_id: str | None,
        metadata: dict[str, MetadataValue],
        provider: str | None = None,
    ) -> None:
        self.recorder = recorder
        self.provider = provider
        self.message_id = message_id
        self.model = model
        self.context_layers = context_layers
        self.project_id = project_id
        self.metadata = metadata
        self.started = False
        self.finished = False
        #: the status the trail got when the call ended (``completed``/``failed``), else None
        self.status: str | None = None

    # -- the flows (no I/O) ------------------------------------------------------------------

    def _start_flow(self) -> Flow:
        extra: dict[str, Any] = {}
        if self.metadata:
            extra["metadata"] = _capped_metadata(self.metadata)
        if self.provider:
            extra["provider"] = self.provider
        args = (self.message_id, self.model, self.context_layers, self.project_id)
        try:
            self.started = yield "create_placeholder", args, extra
        except ValidationError as e:
            log.warning("llmtrail: placeholder for %s rejected: %s", self.message_id, e)
        return "pending" if self.started else None

    def _end_flow(
        self,
        outcome: Outcome | None,
        reason: str | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
    ) -> Flow:
        """Complete with ``outcome``, or fail with ``reason`` (also when the outcome holds an
        error or bad usage, or the sink rejects the usage); once per call."""
        if self.finished:
            return self.status
        self.finished = True
        extra: Mapping[str, MetadataValue] = metadata or {}
        if outcome is not None:
            extra = outcome.metadata
            if outcome.error is not None or outcome.usage_error is not None:
                reason = _failure(outcome)
        if reason is None and outcome is not None:
            try:
                yield self._write(self._complete_args(outcome))
                self.status = "completed"
                return self.status
            except ValidationError as e:
                reason = f"invalid usage from upstream: {e}"
        try:
            yield self._write(self._fail_args(reason or "failed", extra))
        except ValidationError as e:
            log.warning("llmtrail: could not mark %s failed: %s", self.message_id, e)
        self.status = "failed"
        return self.status

    def _complete_args(self, outcome: Outcome) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "status": "completed",
            "metadata": _capped_metadata({**outcome.metadata, **self.metadata}),
        }
        if outcome.tokens is not None:
            fields["tokens"] = outcome.tokens
        if outcome.reasoning:
            fields["reasoning"] = cap_reasoning(outcome.reasoning)
        return fields

    def _fail_args(self, reason: str, extra: Mapping[str, MetadataValue]) -> dict[str, Any]:
        meta = {**extra, **self.metadata, "error": reason[:MAX_ERROR_TEXT]}
        return {"status": "failed", "metadata": _capped_metadata(meta)}

    def _write(self, fields: dict[str, Any]) -> Write:
        """How to record the end: update our placeholder, or — if it could not be written
        (store down, or the messageId taken by another trail) — insert the whole trail, which
        a taken messageId turns into a logged conflict instead of overwriting someone else's."""
        if self.started:
            return "update", (self.message_id,), fields
        trail = {
            "messageId": self.message_id,
            "model": self.model,
            "contextLayers": self.context_layers,
            **({"provider": self.provider} if self.provider else {}),
            **fields,
        }
        return "store", (trail, self.project_id), {}

    # -- sync driver -------------------------------------------------------------------------

    def _drive(self, flow: Flow) -> str | None:
        try:
            step = next(flow)
            while True:
                try:
                    ok = self._run(*step)
                except ValidationError as e:
                    step = flow.throw(e)
                else:
                    step = flow.send(ok)
        except StopIteration as stop:
            result: str | None = stop.value
            return result

    def _run(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        try:
            getattr(self.recorder.sink, name)(*args, **kwargs)
            return True
        except ValidationError:
            raise
        except Exception as e:
            log.warning("llmtrail: could not record %s for %s: %s", name, self.message_id, e)
            return False

    def start(self) -> None:
        """Create the ``pending`` placeholder (errors are logged, never raised)."""
        self._drive(self._start_flow())

    def complete(self, outcome: Outcome | None = None, **kw: Any) -> str | None:
        """Mark the trail ``completed`` with tokens/reasoning, or ``failed`` if the outcome
        holds an error or bad usage; the status it got (None if the call had ended before)."""
        return self._drive(self._end_flow(outcome or Outcome(**kw)))

    def fail(self, reason: str, metadata: Mapping[str, MetadataValue] | None = None) -> str | None:
        """Mark the trail ``failed`` with ``metadata.error = reason`` (once)."""
        return self._drive(self._end_flow(None, reason, metadata))

    # -- async driver ------------------------------------------------------------------------

    async def _adrive(self, flow: Flow) -> str | None:
        try:
            step = next(flow)
            while True:
                try:
                    ok = await self._arun(*step)
                except ValidationError as e:
                    step = flow.throw(e)
                else:
                    step = flow.send(ok)
        except StopIteration as stop:
            result: str | None = stop.value
            return result

    async def _arun(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        sink = self.recorder.sink
        try:
            if is_async_sink(sink):
                await getattr(sink, name)(*args, **kwargs)
            else:
                fn = functools.partial(getattr(sink, name), *args, **kwargs)
                await asyncio.to_thread(fn)
            return True
        except ValidationError:
            raise
        except Exception as e:
            log.warning("llmtrail: could not record %s for %s: %s", name, self.message_id, e)
            return False

    async def astart(self) -> None:
        """``start`` without blocking the event loop."""
        await self._adrive(self._start_flow())

    async def acomplete(self, outcome: Outcome | None = None, **kw: Any) -> str | None:
        """``complete`` without blocking the event loop."""
        return await self._adrive(self._end_flow(outcome or Outcome(**kw)))

    async def afail(
        self, reason: str, metadata: Mapping[str, MetadataValue] | None = None
    ) -> str | None:
        """``fail`` without blocking the event loop."""
        return await self._adrive(self._end_flow(None, reason, metadata))


def _failure(outcome: Outcome) -> str:
    if outcome.error is not None:
        return outcome.error
    return f"invalid usage from upstream: {outcome.usage_error}"


def _capped_metadata(meta: Mapping[str, MetadataValue]) -> dict[str, MetadataValue]:
    out: dict[str, MetadataValue] = {}
    for k, v in meta.items():
        if len(out) >= rules.MAX_METADATA_KEYS:
            break
        if isinstance(v, str) and len(v) > rules.MAX_METADATA_STRING:
            v = v[: rules.MAX_METADATA_STRING - 1] + "…"
        out[k] = v
    return out


def cap_reasoning(items: list[str]) -> list[str]:
    """Reasoning texts trimmed to the trail limits (1,000 items, 1,000,000 bytes in all)."""
    out: list[str] = []
    budget = rules.MAX_REASONING_BYTES
    for text in items[: rules.MAX_REASONING_ITEMS]:
        data = text.encode("utf-8", "replace")
        if len(data) > budget:
            out.append(data[:budget].decode("utf-8", "ignore"))
            break
        out.append(data.decode("utf-8"))
        budget -= len(data)
    return out
