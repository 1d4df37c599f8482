"""Listing and export filters by ``provider`` and messageId prefix (SPEC §12's explorer
filters), on every backend: exact, case-sensitive, LIKE wildcards taken literally."""

from __future__ import annotations

import pytest

from llmtrail import Store, TrailFilter, ValidationError


def seed(store: Store) -> None:
    for mid, provider in (
        ("chat-1", "openai"),
        ("chat-2", "anthropic"),
        ("CHAT-3", "openai"),
        ("ch%t-4", None),
        ("job_5", "openai"),
        ("jobx5", "openai"),
    ):
        data: dict[str, object] = {"messageId": mid, "model": "m"}
        if provider:
            data["provider"] = provider
        store.store(data, "p")


def ids(store: Store, **kw: object) -> set[str]:
    return {t.message_id for t in store.iter_trails(TrailFilter("p", **kw))}  # type: ignore[arg-type]


def test_provider_and_prefix_filters(store: Store) -> None:
    seed(store)
    assert ids(store, provider="openai") == {"chat-1", "CHAT-3", "job_5", "jobx5"}
    assert ids(store, message_id_prefix="chat") == {"chat-1", "chat-2"}  # case-sensitive
    assert ids(store, message_id_prefix="ch%") == {"ch%t-4"}  # no wildcard
    assert ids(store, message_id_prefix="job_") == {"job_5"}
    assert ids(store, provider="openai", message_id_prefix="chat") == {"chat-1"}
    assert ids(store, provider="azure") == set()


@pytest.mark.parametrize(
    ("kw", "field"),
    [({"provider": "Open AI"}, "provider"), ({"message_id_prefix": "a\x00"}, "messageIdPrefix")],
)
def test_bad_filters_are_validation_errors(store: Store, kw: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as e:
        store.list_trails(TrailFilter("p", **kw))  # type: ignore[arg-type]
    assert e.value.fields == [field]


def test_metadata_filters(store: Store) -> None:
    for mid, md in (
        ("a", {"userId": "u-1", "n": 3, "ok": True, "score": 0.25, "dotted.key": "x"}),
        ("b", {"userId": "u-2", "n": 30, "ok": False}),
        ("c", {"userId": "U-1"}),
        ("d", None),
        ("e", {"userId": "u-1", "feature": "chat"}),
    ):
        store.store({"messageId": mid, "model": "m", "metadata": md}, "p")
    assert ids(store, metadata=(("userId", "u-1"),)) == {"a", "e"}  # exact, case-sensitive
    assert ids(store, metadata=(("userId", "u-1"), ("feature", "chat"))) == {"e"}  # all of them
    assert ids(store, metadata=(("n", "3"),)) == {"a"}
    assert ids(store, metadata=(("ok", "true"),)) == {"a"}
    assert ids(store, metadata=(("ok", "false"),)) == {"b"}
    assert ids(store, metadata=(("score", "0.25"),)) == {"a"}
    assert ids(store, metadata=(("dotted.key", "x"),)) == {"a"}
    assert ids(store, metadata=(("missing", ""),)) == set()
    assert ids(store, metadata=(("userId", "u-%"),)) == set()  # no wildcard
