"""The schedule: crontab parsing (cron's day-of-week), fire times across DST, tick identity."""

from __future__ import annotations

import os
import re
import socket
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from llmtrail.errors import ValidationError


def _zone_name(tick: datetime) -> str:
    return str(getattr(tick.tzinfo, "key", tick.tzinfo))


def tick_record(tick: datetime) -> dict[str, Any]:
    """What ``store_state`` keeps about a finished tick."""
    return {
        "tick": tick.isoformat(),
        "local": tick.replace(tzinfo=None).isoformat(),
        "tz": _zone_name(tick),
        "by": whoami(),
    }


def tick_done(record: dict[str, Any], tick: datetime) -> bool:
    """Whether a recorded tick covers ``tick`` (the same tick or a later one)."""
    if record.get("tz") == _zone_name(tick) and isinstance(record.get("local"), str):
        try:
            return datetime.fromisoformat(record["local"]) >= tick.replace(tzinfo=None)
        except ValueError:
            pass
    return parse_instant(record.get("tick")) >= tick


def parse_instant(value: Any) -> datetime:
    try:
        d = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return d if d.tzinfo else d.replace(tzinfo=UTC)


# -- the schedule ---------------------------------------------------------------------------------

_DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DOW_ITEM = re.compile(r"^(\*|[a-z0-9]+)(?:-([a-z0-9]+))?(?:/(\d+))?$")


def _dow_value(token: str) -> int:
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token) % 7
    if token[:3] in _DOW_NAMES:
        return _DOW_NAMES.index(token[:3])
    raise ValueError(f"bad day of week {token!r}")


def _cron_dow(field: str) -> str:
    """A cron day-of-week field (0 or 7 = Sunday) as APScheduler names (where 0 is Monday)."""
    days: set[int] = set()
    for item in field.lower().split(","):
        m = _DOW_ITEM.match(item)
        if m is None:
            raise ValueError(f"bad day-of-week item {item!r}")
        first, last, step = m.group(1), m.group(2), int(m.group(3) or 1)
        if step < 1:
            raise ValueError("a step must be at least 1")
        if first == "*":
            lo, hi = 0, 6
        else:
            lo = _dow_value(first)
            hi = (7 if last == "7" else _dow_value(last)) if last else (lo if not m.group(3) else 6)
        if hi < lo:
            raise ValueError(f"bad day-of-week range {item!r}")
        days.update(d % 7 for d in range(lo, hi + 1, step))
    if len(days) == 7:
        return "*"
    return ",".join(_DOW_NAMES[d] for d in sorted(days))


def parse_schedule(cron: str, tz: str) -> CronTrigger | None:
    """The trigger of a crontab in a time zone; None for ``off``. Raises ValidationError."""
    if cron.strip().lower() in ("off", "none", "disabled", "false", ""):
        return None
    try:
        zone: tzinfo = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValidationError(
            f"unknown time zone {tz!r} (use an IANA name such as Europe/Berlin)",
            field="AUDIT_TRAIL_CLEANUP_TZ",
        ) from e
    fields = cron.split()
    try:
        if len(fields) == 5:
            fields = ["0", *fields]
        if len(fields) != 6:
            raise ValueError(f"expected 5 fields (or 6 with seconds first), got {len(fields)}")
        second, minute, hour, day, month, dow = fields
        return CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_cron_dow(dow),
            timezone=zone,
        )
    except ValueError as e:
        raise ValidationError(
            f"is not a valid crontab ({e}); e.g. '0 2 * * *', or 'off'",
            field="AUDIT_TRAIL_CLEANUP_CRON",
        ) from e


def next_fire_times(trigger: CronTrigger, after: datetime, count: int = 1) -> list[datetime]:
    """The next ``count`` fire times strictly after ``after`` (in the schedule's zone)."""
    out: list[datetime] = []
    t = after.astimezone(UTC)  # step in UTC: wall-clock arithmetic breaks across DST
    while len(out) < count:
        nxt = trigger.get_next_fire_time(None, t + _EPSILON)
        if nxt is None:
            break
        out.append(nxt)
        t = nxt.astimezone(UTC)
    return out


def latest_fire_time(trigger: CronTrigger, now: datetime) -> datetime:
    """The latest fire time at or before ``now``: the tick a job running at ``now`` belongs to."""
    now_utc = now.astimezone(UTC)
    span = timedelta(seconds=1)
    while span < timedelta(days=800):
        first = trigger.get_next_fire_time(None, now_utc - span)
        if first is not None and first <= now_utc:
            latest: datetime = first
            while True:
                nxt = trigger.get_next_fire_time(None, latest.astimezone(UTC) + _EPSILON)
                if nxt is None or nxt > now_utc:
                    return latest
                latest = nxt
        span *= 2
    return now.astimezone(trigger.timezone)


_EPSILON = timedelta(microseconds=1)


def whoami() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
