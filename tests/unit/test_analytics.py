"""The window and day logic of ``llmtrail.analytics`` (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmtrail import ValidationError
from llmtrail.analytics import (
    MAX_DAYS,
    Usage,
    build,
    ceil_bucket,
    floor_bucket,
    make_window,
)

NOW = datetime(2026, 11, 30, 12, 34, 56, tzinfo=UTC)


def test_days_window_is_calendar_days_including_today() -> None:
    w = make_window(NOW, days=7)
    assert w.start == datetime(2026, 11, 24, tzinfo=UTC)
    assert w.end == datetime(2026, 12, 1, tzinfo=UTC)
    assert w.days == tuple(date(2026, 11, 24) + timedelta(days=i) for i in range(7))
    assert w.interior == (w.start, w.end) and w.edges == []


def test_days_window_in_a_zone_ahead_of_utc() -> None:
    # 12:34 UTC is already 01:34 on Dec 1 in Auckland (UTC+13 in summer)
    w = make_window(NOW, days=1, tz="Pacific/Auckland")
    assert w.days == (date(2026, 12, 1),)
    assert w.start == datetime(2026, 11, 30, 11, tzinfo=UTC)
    assert w.end == datetime(2026, 12, 1, 11, tzinfo=UTC)


def test_dst_days_are_23_and_25_hours_long() -> None:
    spring = make_window(datetime(2026, 3, 29, 12, tzinfo=UTC), days=1, tz="Europe/Paris")
    assert spring.end - spring.start == timedelta(hours=23)
    assert [s.offset for s in spring.segments] == [timedelta(hours=1), timedelta(hours=2)]
    assert spring.segments[1].start == datetime(2026, 3, 29, 1, tzinfo=UTC)
    autumn = make_window(datetime(2026, 10, 25, 12, tzinfo=UTC), days=1, tz="Europe/Paris")
    assert autumn.end - autumn.start == timedelta(hours=25)
    assert spring.aligned and autumn.aligned


def test_half_and_quarter_hour_zones_are_bucket_aligned() -> None:
    for tz in ("Asia/Kolkata", "Asia/Kathmandu", "Pacific/Chatham", "Australia/Lord_Howe"):
        w = make_window(NOW, days=400, tz=tz)
        assert w.aligned, tz
        assert w.interior == (w.start, w.end)


def test_a_zone_with_a_non_quarter_hour_offset_is_not_aligned() -> None:
    # Liberia used UTC-0:44:30 until 1972: bucket arithmetic would be wrong there.
    w = make_window(
        NOW, since="1971-06-01T00:00:00Z", until="1972-06-01T00:00:00Z", tz="Africa/Monrovia"
    )
    assert not w.aligned
    assert w.segments[0].offset == -timedelta(minutes=44, seconds=30)
    assert w.segments[1].start == datetime(1972, 1, 7, 0, 44, 30, tzinfo=UTC)


def test_since_until_edges() -> None:
    w = make_window(NOW, since="2026-11-01T10:07:00Z", until="2026-11-02T08:52:10+00:00")
    assert w.interior == (
        datetime(2026, 11, 1, 10, 15, tzinfo=UTC),
        datetime(2026, 11, 2, 8, 45, tzinfo=UTC),
    )
    assert w.edges == [
        (datetime(2026, 11, 1, 10, 7, tzinfo=UTC), datetime(2026, 11, 1, 10, 15, tzinfo=UTC)),
        (datetime(2026, 11, 2, 8, 45, tzinfo=UTC), datetime(2026, 11, 2, 8, 52, 10, tzinfo=UTC)),
    ]
    inside = make_window(NOW, since="2026-11-01T10:01:00Z", until="2026-11-01T10:14:00Z")
    assert inside.interior is None and inside.edges == [(inside.start, inside.end)]
    assert inside.days == (date(2026, 11, 1),)


def test_until_defaults_to_now_since_to_days_before() -> None:
    w = make_window(NOW, since="2026-11-29T00:00:00Z")
    assert w.end == NOW
    w = make_window(NOW, until="2026-11-10T00:00:00Z", days=3)
    assert w.start == datetime(2026, 11, 7, tzinfo=UTC)
    w = make_window(NOW, since=datetime(2026, 11, 29, 1, tzinfo=ZoneInfo("Asia/Tokyo")))
    assert w.start == datetime(2026, 11, 28, 16, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"days": 0}, "days"),
        ({"days": MAX_DAYS + 1}, "days"),
        ({"days": "7d"}, "days"),
        ({"days": None}, "days"),
        ({"tz": "Europe/Nowhere"}, "tz"),
        ({"tz": None}, "tz"),
        ({"since": "2026-11-01"}, "since"),
        ({"until": 12}, "until"),
        ({"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"}, "until"),
        ({"since": "2000-01-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"}, "since"),
    ],
)
def test_bad_arguments_name_the_field(kw: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as e:
        make_window(NOW, **kw)
    assert field in e.value.fields


def test_days_as_digit_string_is_accepted() -> None:
    assert len(make_window(NOW, days="14").days) == 14


def test_build_zero_fills_sums_and_sorts() -> None:
    w = make_window(NOW, days=5)
    usage = [
        Usage(date(2026, 11, 28), "b", 2, 30, Decimal("0.1")),
        Usage(date(2026, 11, 28), "a", 1, 10, Decimal("0.2")),
        Usage(date(2026, 11, 30), "b", 4, 5, Decimal("0.000000000000000001")),
        Usage(date(2026, 11, 28), "b", 1, 1, Decimal("0.1")),  # repeats are summed
    ]
    a = build(w, usage, [])
    assert [d.date.day for d in a.cost_by_day] == [26, 27, 28, 29, 30]
    assert [d.messages for d in a.cost_by_day] == [0, 0, 4, 0, 4]
    assert a.total_cost == Decimal("0.400000000000000001")
    assert a.message_count == 8 and a.total_tokens == 46
    assert [m.model for m in a.cost_by_model] == ["b", "a"]
    assert a.average_cost == Decimal("0.050000000000000000")  # 18 places, half-even
    wire = a.to_wire()["analytics"]
    assert wire["costByDay"][0] == {"date": "2026-11-26", "cost": 0, "tokens": 0, "messages": 0}
    assert str(wire["totalCost"]) == "0.400000000000000001"


def test_empty_window_has_zero_average() -> None:
    a = build(make_window(NOW, days=2), [], [])
    assert a.average_cost == 0 and a.total_cost == 0 and len(a.cost_by_day) == 2


def test_buckets() -> None:
    t = datetime(2026, 1, 1, 10, 15, tzinfo=UTC)
    assert floor_bucket(t) == ceil_bucket(t) == t
    u = t + timedelta(microseconds=1)
    assert floor_bucket(u) == t and ceil_bucket(u) == t + timedelta(minutes=15)


@settings(max_examples=150, deadline=None)
@given(
    tz=st.sampled_from(
        [
            "UTC",
            "Europe/Paris",
            "America/Santiago",
            "Asia/Kathmandu",
            "Pacific/Chatham",
            "America/Havana",
            "Australia/Lord_Howe",
        ]
    ),
    start=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2037, 1, 1)),
    length=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=800)),
)
def test_segments_give_every_instant_its_local_day(
    tz: str, start: datetime, length: timedelta
) -> None:
    """The per-segment offset arithmetic the SQL backend uses agrees with zoneinfo."""
    lo = start.replace(tzinfo=UTC)
    w = make_window(lo + length, since=lo, until=lo + length, tz=tz)
    zone = ZoneInfo(tz)
    assert w.aligned
    assert w.segments[0].start == w.start and w.segments[-1].end == w.end
    for s in w.segments:
        for probe in (s.start, s.end - timedelta(microseconds=1), s.start + (s.end - s.start) / 2):
            assert (probe + s.offset).date() == probe.astimezone(zone).date()
        assert s.offset == s.start.astimezone(zone).utcoffset()
    assert w.days[0] == w.start.astimezone(zone).date()
    assert len(w.days) == len(set(w.days))
