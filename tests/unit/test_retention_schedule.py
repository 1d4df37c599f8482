"""The cleanup schedule: crontab parsing, time zones and DST, ticks, and the scheduler itself."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import llmtrail
from llmtrail import ValidationError
from llmtrail.config import load_settings
from llmtrail.retention import (
    latest_fire_time,
    next_fire_times,
    parse_schedule,
    start_scheduler,
    tick_done,
    tick_record,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def fires(cron: str, tz: str, after: datetime, n: int) -> list[datetime]:
    trigger = parse_schedule(cron, tz)
    assert trigger is not None
    return [f.astimezone(UTC) for f in next_fire_times(trigger, after, n)]


@pytest.mark.parametrize("cron", ["off", "OFF", " off ", "disabled", ""])
def test_off_disables_the_schedule(cron: str) -> None:
    assert parse_schedule(cron, "UTC") is None
    assert (
        start_scheduler(llmtrail.open_store("memory://"), load_settings(cleanup_cron=cron)) is None
    )


def test_default_is_daily_at_two_utc() -> None:
    s = load_settings()
    assert fires(s.cleanup_cron, s.cleanup_tz, utc(2026, 1, 10, 3), 3) == [
        utc(2026, 1, 11, 2),
        utc(2026, 1, 12, 2),
        utc(2026, 1, 13, 2),
    ]


@pytest.mark.parametrize(
    ("tz", "after", "expected"),
    [
        ("Europe/Berlin", utc(2026, 1, 10), utc(2026, 1, 10, 1)),  # CET, UTC+1
        ("Europe/Berlin", utc(2026, 7, 9, 12), utc(2026, 7, 10, 0)),  # CEST, UTC+2
        ("America/New_York", utc(2026, 1, 10), utc(2026, 1, 10, 7)),  # EST, UTC-5
        ("America/New_York", utc(2026, 7, 10), utc(2026, 7, 10, 6)),  # EDT, UTC-4
        ("Asia/Kolkata", utc(2026, 1, 10), utc(2026, 1, 10, 20, 30)),  # UTC+5:30
        ("Pacific/Chatham", utc(2026, 7, 10), utc(2026, 7, 10, 13, 15)),  # UTC+12:45
    ],
)
def test_two_oclock_in_the_schedules_zone(tz: str, after: datetime, expected: datetime) -> None:
    assert fires("0 2 * * *", tz, after, 1) == [expected]


def test_spring_forward_still_runs_once_that_day() -> None:
    # 2026-03-29 in Berlin: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist that day.
    got = fires("30 2 * * *", "Europe/Berlin", utc(2026, 3, 27, 12), 3)
    assert [f.date().isoformat() for f in got] == ["2026-03-28", "2026-03-29", "2026-03-30"]
    assert got[1] == utc(2026, 3, 29, 1, 30)  # one hour after the gap opened


def test_fall_back_repeats_the_wall_time_but_the_tick_is_one() -> None:
    # 2026-10-25 in Berlin: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
    trigger = parse_schedule("30 2 * * *", "Europe/Berlin")
    assert trigger is not None
    first, second = next_fire_times(trigger, utc(2026, 10, 24, 12), 2)
    assert first.astimezone(UTC) == utc(2026, 10, 25, 0, 30)
    assert second.astimezone(UTC) == utc(2026, 10, 25, 1, 30)
    # APScheduler fires at both instants; the second is recognised as the tick already done
    assert tick_done(tick_record(first), second)
    later = next_fire_times(trigger, second, 1)[0]
    assert not tick_done(tick_record(second), later)


@pytest.mark.parametrize(
    ("dow", "weekdays"),
    [
        ("0", {"Sun"}),
        ("7", {"Sun"}),
        ("1-5", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
        ("mon-fri", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
        ("*/2", {"Sun", "Tue", "Thu", "Sat"}),
        ("0,6", {"Sat", "Sun"}),
        ("5-7", {"Fri", "Sat", "Sun"}),
        ("SUN", {"Sun"}),
        ("1-5/2", {"Mon", "Wed", "Fri"}),
        ("mon-fri/2", {"Mon", "Wed", "Fri"}),
        ("2/3", {"Tue", "Fri"}),
        ("*", {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}),
    ],
)
def test_day_of_week_follows_cron_not_apscheduler(dow: str, weekdays: set[str]) -> None:
    # cron counts 0 (and 7) as Sunday; APScheduler 3 counts 0 as Monday
    got = fires(f"0 2 * * {dow}", "UTC", utc(2026, 1, 4), 14)
    assert {f.strftime("%a") for f in got} == weekdays


def test_six_fields_have_seconds_first() -> None:
    assert fires("15 * * * * *", "UTC", utc(2026, 1, 1, 0, 0, 20), 2) == [
        utc(2026, 1, 1, 0, 1, 15),
        utc(2026, 1, 1, 0, 2, 15),
    ]


@pytest.mark.parametrize("cron", ["61 * * * *", "* * *", "0 2 * * funday", "0 25 * * *", "a b"])
def test_a_bad_crontab_names_the_setting(cron: str) -> None:
    with pytest.raises(ValidationError) as e:
        parse_schedule(cron, "UTC")
    assert e.value.fields == ["AUDIT_TRAIL_CLEANUP_CRON"]
    with pytest.raises(ValidationError):
        start_scheduler(llmtrail.open_store("memory://"), load_settings(cleanup_cron=cron))


@pytest.mark.parametrize("tz", ["Mars/Olympus_Mons", "", "../etc/passwd"])
def test_a_bad_time_zone_names_the_setting(tz: str) -> None:
    with pytest.raises(ValidationError) as e:
        parse_schedule("0 2 * * *", tz)
    assert e.value.fields == ["AUDIT_TRAIL_CLEANUP_TZ"]


def test_latest_fire_time_is_the_tick_being_run() -> None:
    trigger = parse_schedule("0 2 * * *", "Europe/Berlin")
    assert trigger is not None
    tick = utc(2026, 1, 10, 1)  # 02:00 Berlin
    assert latest_fire_time(trigger, tick) == tick
    assert latest_fire_time(trigger, tick + timedelta(milliseconds=40)) == tick
    assert latest_fire_time(trigger, tick + timedelta(hours=23)) == tick
    assert latest_fire_time(trigger, tick - timedelta(seconds=1)) == tick - timedelta(days=1)
    every_minute = parse_schedule("* * * * *", "UTC")
    assert every_minute is not None
    assert latest_fire_time(every_minute, utc(2026, 1, 1, 5, 7, 59)) == utc(2026, 1, 1, 5, 7)


def test_scheduler_runs_in_its_zone_and_shuts_down() -> None:
    store = llmtrail.open_store("memory://")
    sched = start_scheduler(store, load_settings(cleanup_cron="0 2 * * *", cleanup_tz="Asia/Tokyo"))
    assert sched is not None
    try:
        nxt = sched.next_run_time
        assert nxt is not None
        assert nxt.utcoffset() == timedelta(hours=9)
        assert (nxt.hour, nxt.minute) == (2, 0)
        assert timedelta(0) < nxt - datetime.now(UTC) <= timedelta(days=1)
    finally:
        sched.shutdown()
    assert sched.next_run_time is None or not sched._scheduler.running


def poll(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not true within {timeout} s")


def test_the_scheduler_really_fires_and_cleans_up() -> None:
    store = llmtrail.open_store("memory://")
    store.store(
        {
            "messageId": "old",
            "timestamp": datetime.now(UTC) - timedelta(days=30),
            "model": "m",
            "contextLayers": 0,
        }
    )
    sched = start_scheduler(store, load_settings(cleanup_cron="* * * * * *"))  # every second
    assert sched is not None
    try:
        poll(lambda: any(r is not None and r.deleted_count == 1 for _, r in sched.results))
        assert store.get("old") is None
        result = next(r for _, r in sched.results if r is not None)
        assert result.to_wire() == {"deletedCount": 1, "backend": "memory"}
        assert result.trigger.startswith("schedule ")
    finally:
        sched.shutdown()
