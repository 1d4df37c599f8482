"""The recorder's guarantees: the caller's call never breaks, and no other trail is touched."""

from __future__ import annotations

from typing import Any

import pytest
from anthropic import Anthropic

from llmtrail import Store
from llmtrail.errors import UnavailableError
from llmtrail.integrations import Recorder
from llmtrail.integrations.anthropic import instrument
from tests.integrations.fake_upstream import Upstream

MSG = [{"role": "user", "content": "hi"}]


class PlaceholderDown:
    """A real store whose first ``create_placeholder`` fails (the database blipped)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.failures = 1

    def create_placeholder(self, *args: Any, **kwargs: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise UnavailableError("database unavailable")
        return self.inner.create_placeholder(*args, **kwargs)

    def update(self, message_id: str, **fields: Any) -> Any:
        return self.inner.update(message_id, **fields)

    def store(self, *args: Any) -> Any:
        return self.inner.store(*args)


def test_a_missed_placeholder_is_made_up_for_by_storing_the_whole_trail(
    upstream: Upstream, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    c = instrument(
        Anthropic(base_url=upstream.url, api_key="k", max_retries=0),
        PlaceholderDown(store),
        project_id="app",
    )
    msg = c.messages.create(
        model="claude-3-7-sonnet-20250219",
        max_tokens=9,
        messages=MSG,
        llmtrail_message_id="late-1",
        llmtrail_context_layers=5,
    )
    assert msg.content[1].type == "text"
    assert "could not record create_placeholder" in caplog.text
    t = store.get("late-1")
    assert t is not None and t.status == "completed" and t.context_layers == 5
    assert t.project_id == "app" and t.tokens.prompt == 24_000 and t.cost_source == "computed"


def test_a_taken_message_id_never_overwrites_the_other_trail(
    upstream: Upstream, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    other = store.store(
        {"messageId": "taken", "model": "gpt-4o", "metadata": {"owner": "someone"}}, "app"
    )
    c = instrument(
        Anthropic(base_url=upstream.url, api_key="k", max_retries=0), store, project_id="app"
    )
    c.messages.create(
        model="claude-3-7-sonnet-20250219", max_tokens=9, messages=MSG, llmtrail_message_id="taken"
    )
    assert store.get("taken") == other
    assert "could not record" in caplog.text


def test_failed_call_without_placeholder_is_stored_as_failed(store: Store) -> None:
    rec = Recorder(PlaceholderDown(store), project_id="app")
    with pytest.raises(ValueError), rec.track("gpt-4o", message_id="f-1"):
        raise ValueError("nope")
    t = store.get("f-1")
    assert t is not None and t.status == "failed"
    assert t.metadata is not None and t.metadata["error"] == "ValueError: nope"


def test_track_without_complete_completes_without_tokens(store: Store) -> None:
    rec = Recorder(store, project_id="app", metadata={"feature": "search"})
    with rec.track("gpt-4o", message_id="n-1", context_layers=2):
        pass
    t = store.get("n-1")
    assert t is not None and t.status == "completed" and t.context_layers == 2
    assert t.cost_source == "unpriced" and t.metadata == {"feature": "search"}


def test_atrack_with_an_async_store(store: Store) -> None:
    import asyncio

    from llmtrail import AsyncStore, TokenUsage

    async def main() -> None:
        rec = Recorder(AsyncStore(store), project_id="app")
        async with rec.atrack("claude-opus-4-5", message_id="at-1") as call:
            assert (await AsyncStore(store).get("at-1")).status == "pending"  # type: ignore[union-attr]
            await call.acomplete(tokens=TokenUsage(1_000, 100))
        with pytest.raises(KeyError):
            async with rec.atrack("claude-opus-4-5", message_id="at-2"):
                raise KeyError("k")

    asyncio.run(main())
    t = store.get("at-1")
    assert t is not None and t.status == "completed" and t.cost is not None
    assert str(t.cost.total) == "0.0075"
    t = store.get("at-2")
    assert t is not None and t.status == "failed"


def test_invalid_trail_options_are_logged_and_the_call_still_returns(
    upstream: Upstream, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    c = instrument(
        Anthropic(base_url=upstream.url, api_key="k", max_retries=0), store, project_id="app"
    )
    msg = c.messages.create(
        model="claude-3-7-sonnet-20250219",
        max_tokens=9,
        messages=MSG,
        llmtrail_message_id="bad-meta",
        llmtrail_metadata={"nested": {"not": "flat"}},  # type: ignore[dict-item]
    )
    assert msg.usage.input_tokens == 1000
    assert store.get("bad-meta") is None
    assert "metadata.nested" in caplog.text
