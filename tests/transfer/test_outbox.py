"""The outbox and its replayer on their own: durable across reopen, ordered, and one entry
that keeps failing is set aside (dead table) instead of blocking the others."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import llmtrail
from llmtrail.model.wire import trail_to_wire
from llmtrail.store.dual import DualStore
from llmtrail.store.memory import MemoryStore
from llmtrail.store.outbox import Outbox
from llmtrail.store.replay import MAX_ATTEMPTS
from tests.transfer.conftest import trail


def test_outbox_is_durable_and_ordered(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.append("trail", [("a", {"n": 1}), ("b", {"n": 2})])
    box.append("project", [("p", {"id": "p"})])
    box.close()
    box = Outbox(tmp_path / "o.db")
    try:
        assert box.pending() == 3 and box.has_pending("b") and not box.has_pending("zzz")
        head = box.head()
        assert [(e.kind, e.key, e.payload) for e in head] == [
            ("trail", "a", {"n": 1}),
            ("trail", "b", {"n": 2}),
            ("project", "p", {"id": "p"}),
        ]
        box.done([head[0].seq])
        assert [e.key for e in box.head()] == ["b", "p"]
        with box.replaying() as mine, Outbox(tmp_path / "o.db").replaying() as theirs:
            assert mine and not theirs  # one replayer per outbox file
    finally:
        box.close()


def test_a_poison_entry_is_buried_and_the_rest_replays_in_order(
    sqlite_url: str, tmp_path: Path
) -> None:
    source = MemoryStore()
    target = llmtrail.open_store(sqlite_url)
    box = Outbox(tmp_path / "o.db")
    dual = DualStore(source, target, box, replayer=False)
    try:
        v1 = source.store(trail(1))
        v2 = dataclasses.replace(v1, status="failed", updated_at=v1.updated_at)
        bad = {**trail_to_wire(v1), "messageId": "bad", "contextLayers": -1}
        box.append("trail", [(v1.message_id, trail_to_wire(v1))])
        box.append("trail", [("bad", bad)])
        box.append("trail", [(v2.message_id, trail_to_wire(v2))])
        for _ in range(MAX_ATTEMPTS):
            dual.replay()
        assert box.pending() == 0 and box.dead() == 1
        got = target.get(v1.message_id)
        assert got is not None and got.status == "failed"  # v2 after v1, not the other way
        assert target.get("bad") is None
    finally:
        dual.close()
