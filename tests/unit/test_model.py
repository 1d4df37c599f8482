"""Pure domain rules: parsing, exact money, JSON shape, ids and cursors."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmtrail.errors import ValidationError
from llmtrail.ids import uuid7
from llmtrail.model import dumps, loads, parse_trail, parse_update, same_content, trail_to_wire
from llmtrail.model.rules import plain
from llmtrail.store.cursor import decode_cursor, encode_cursor

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def parse(data: dict[str, object]) -> object:
    return parse_trail(data, "p1", now=NOW).trail


def test_defaults() -> None:
    t = parse_trail({"messageId": "m", "model": "x"}, "p1", now=NOW).trail
    assert t.timestamp == NOW
    assert t.status == "completed" and t.context_layers == 0
    assert t.tokens.total == 0 and t.cost is not None and t.cost.total == 0
    assert t.cost_source == "unpriced"


def test_json_money_is_exact_and_plain() -> None:
    data = loads('{"messageId":"m","model":"x","cost":{"prompt":0.1,"completion":0.2}}')
    t = parse_trail(data, "p1", now=NOW).trail
    text = dumps(trail_to_wire(t))
    assert '"total": 0.3' in text
    tiny = parse_trail(
        {"messageId": "m", "model": "x", "cost": {"prompt": "0.0000001", "completion": "0"}},
        "p1",
        now=NOW,
    ).trail
    assert '"prompt": 0.0000001' in dumps(trail_to_wire(tiny))


def test_loads_rejects_nan_and_infinity() -> None:
    for text in ('{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}'):
        with pytest.raises(ValueError):
            loads(text)


def test_same_content_ignores_server_defaults() -> None:
    first = parse_trail({"messageId": "m", "model": "x"}, "p1", now=NOW)
    later = parse_trail({"messageId": "m", "model": "x"}, "p1", now=datetime.now(UTC))
    assert same_content(first.trail, later)
    other = parse_trail({"messageId": "m", "model": "y"}, "p1", now=NOW)
    assert not same_content(first.trail, other)


def test_update_accepts_only_mutable_fields() -> None:
    assert set(parse_update({"status": "failed", "metadata": None}).fields) == {
        "status",
        "metadata",
    }
    with pytest.raises(ValidationError) as e:
        parse_update({"timestamp": "2026-01-01T00:00:00Z"})
    assert e.value.fields == ["timestamp"]


def test_offsets_are_converted_to_utc() -> None:
    t = parse_trail(
        {"messageId": "m", "model": "x", "timestamp": "2026-06-01T12:00:00-07:00"}, "p1", now=NOW
    ).trail
    assert t.timestamp == datetime(2026, 6, 1, 19, 0, tzinfo=UTC)
    assert trail_to_wire(t)["timestamp"] == "2026-06-01T19:00:00Z"


@given(
    st.decimals(min_value=0, max_value=10**9, places=18, allow_nan=False, allow_infinity=False),
    st.decimals(min_value=0, max_value=10**9, places=18, allow_nan=False, allow_infinity=False),
)
def test_money_sums_exactly(a: Decimal, b: Decimal) -> None:
    t = parse_trail(
        {"messageId": "m", "model": "x", "cost": {"prompt": str(a), "completion": b}}, "p1", now=NOW
    ).trail
    assert t.cost is not None and t.cost.total == a + b
    assert loads(dumps(trail_to_wire(t)))["cost"]["total"] == a + b


@given(st.decimals(allow_nan=False, allow_infinity=False, places=12))
def test_plain_keeps_the_value(d: Decimal) -> None:
    assert plain(d) == d
    assert "E" not in format(plain(d), "f")


def test_uuid7_sorts_in_creation_order() -> None:
    ids = [uuid7() for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5000
    assert all(i[14] == "7" for i in ids)


def test_cursor_round_trip_and_rejects_garbage() -> None:
    c = encode_cursor(NOW, "abc")
    assert decode_cursor(c) == (NOW, "abc")
    for bad in ("", "!!!", "e30", "x" * 500, encode_cursor(NOW, "a")[:-3]):
        with pytest.raises(ValidationError):
            decode_cursor(bad)
