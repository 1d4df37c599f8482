"""Following a streamed LLM answer: the SDK's own stream object keeps working unchanged,
while its items pass through an accumulator that completes (or fails) the trail at the end."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from typing import Any, Protocol

from llmtrail.integrations._core import Call, Outcome, describe, log
from llmtrail.pricing.usage import UsageError


class Accumulator(Protocol):
    """Collects a stream's items into an ``Outcome``."""

    done: bool

    def add(self, item: Any) -> None: ...

    def outcome(self) -> Outcome: ...


def safe_outcome(make: Callable[[], Outcome]) -> Outcome:
    """``make()``, with bad upstream usage turned into ``usage_error`` (never raised)."""
    try:
        return make()
    except UsageError as e:
        return Outcome(usage_error=str(e))
    except Exception as e:
        log.warning("llmtrail: could not read the call's usage: %s", e)
        return Outcome(usage_error=f"unreadable usage: {describe(e)}")


CLOSED_EARLY = "stream closed by the caller before it ended"


def watch_stream(it: Iterator[Any], call: Call, acc: Accumulator) -> Generator[Any, None, None]:
    """Yield ``it``'s items unchanged, completing or failing ``call`` when the stream ends."""
    try:
        for item in it:
            try:
                acc.add(item)
            except Exception as e:  # a recording bug must not break the caller's stream
                log.warning("llmtrail: could not read a stream event: %s", e)
            yield item
    except GeneratorExit:
        if acc.done:
            call.complete(safe_outcome(acc.outcome))
        else:
            call.fail(CLOSED_EARLY)
        raise
    except BaseException as e:
        call.fail(f"stream broke: {describe(e)}")
        raise
    if acc.done:
        call.complete(safe_outcome(acc.outcome))
    else:
        call.fail("stream ended before the final event (cut off)")


async def awatch_stream(
    it: AsyncIterator[Any], call: Call, acc: Accumulator
) -> AsyncGenerator[Any, None]:
    """``watch_stream`` for async streams."""
    try:
        async for item in it:
            try:
                acc.add(item)
            except Exception as e:
                log.warning("llmtrail: could not read a stream event: %s", e)
            yield item
    except GeneratorExit:
        # aclose() (explicit, or asyncio's finaliser hook) runs this as a coroutine: awaiting
        # here is allowed, only yielding is not.
        if acc.done:
            await call.acomplete(safe_outcome(acc.outcome))
        else:
            await call.afail(CLOSED_EARLY)
        raise
    except BaseException as e:
        await call.afail(f"stream broke: {describe(e)}")
        raise
    if acc.done:
        await call.acomplete(safe_outcome(acc.outcome))
    else:
        await call.afail("stream ended before the final event (cut off)")


def wrap_stream_object(stream: Any, call: Call, acc: Accumulator, *, is_async: bool) -> None:
    """Route an SDK ``Stream``/``AsyncStream``'s iterator through ``watch_stream`` in place,
    so the caller keeps the SDK's own stream object (same type, same methods)."""
    inner = stream._iterator  # the SDKs iterate ``self._iterator``; created on first access
    original_close = stream.close
    if is_async:
        awrapped = awatch_stream(inner, call, acc)
        stream.__dict__["_iterator"] = awrapped

        async def aclose() -> None:
            try:
                await original_close()
            finally:
                await awrapped.aclose()

        stream.__dict__["close"] = aclose
    else:
        wrapped = watch_stream(inner, call, acc)
        stream.__dict__["_iterator"] = wrapped

        def close() -> None:
            try:
                original_close()
            finally:
                wrapped.close()

        stream.__dict__["close"] = close
