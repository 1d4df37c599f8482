"""Analytics (SPEC §4): the window and day logic, zero-filling and the result types.

Shared by every backend; the queries themselves live in the backends (``Store._usage``).
A window is a half-open UTC interval ``[start, end)`` plus the time zone that decides which
calendar day each instant belongs to. Backends return usage per (local day, model); this
module turns that into the exact totals, the zero-filled ``costByDay`` and ``costByModel``.

Every IANA zone's offset since 1972 is a multiple of 15 minutes and changes on a 15-minute
boundary, so a local day is an exact union of the 15-minute UTC buckets the SQL backend keeps
in ``usage_rollups``: ``Window.segments`` lists the constant-offset stretches of a window, and
``Window.aligned`` says whether that bucket arithmetic is exact for this zone and window.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal, localcontext
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from llmtrail.budgets import BudgetStatus
from llmtrail.errors import ValidationError
from llmtrail.model import AuditTrail, rules, trail_to_wire
from llmtrail.model.wire import JSONDecimal

#: the longest window (in days) one analytics call may cover
MAX_DAYS = 3_660
#: how many of the newest trails ``recentTrails`` holds
RECENT = 10
BUCKET = timedelta(minutes=15)
_AVERAGE_PLACES = Decimal(1).scaleb(-18)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch ``[start, end)`` of a window during which the zone's UTC offset is constant."""

    start: datetime
    end: datetime
    offset: timedelta


@dataclass(frozen=True)
class Window:
    """The instants ``[start, end)`` (UTC) analysed, and the zone whose days they fall into."""

    start: datetime
    end: datetime
    tz_name: str
    days: tuple[date, ...]
    zone: tzinfo = field(repr=False, compare=False)

    def day_of(self, ts: datetime) -> date:
        """The calendar day of ``ts`` in the window's zone."""
        return ts.astimezone(self.zone).date()

    @property
    def interior(self) -> tuple[datetime, datetime] | None:
        """The whole 15-minute buckets inside the window, or None when there are none."""
        first, last = ceil_bucket(self.start), floor_bucket(self.end)
        return (first, last) if first < last else None

    @property
    def edges(self) -> list[tuple[datetime, datetime]]:
        """The parts of the window outside whole buckets (to be read from raw trails)."""
        inner = self.interior
        if inner is None:
            return [(self.start, self.end)]
        parts = [(self.start, inner[0]), (inner[1], self.end)]
        return [(a, b) for a, b in parts if a < b]

    @functools.cached_property
    def segments(self) -> list[Segment]:
        """Constant-offset stretches covering the window, oldest first."""
        return _segments(self.start, self.end, self.zone)

    @property
    def aligned(self) -> bool:
        """Whether every offset and offset change is on a 15-minute boundary (rollups exact)."""
        return all(
            s.offset % BUCKET == timedelta(0) and (s.start == self.start or _on_bucket(s.start))
            for s in self.segments
        )


@dataclass(frozen=True, slots=True)
class Usage:
    """What a backend returns: the usage of one model on one local day of a window."""

    day: date
    model: str
    messages: int
    tokens: int
    cost: Decimal


@dataclass(frozen=True, slots=True)
class DayUsage:
    """One entry of ``costByDay``."""

    date: date
    cost: Decimal
    tokens: int
    messages: int

    def to_wire(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "cost": JSONDecimal(self.cost),
            "tokens": self.tokens,
            "messages": self.messages,
        }


@dataclass(frozen=True, slots=True)
class GroupUsage:
    """One entry of ``costByGroup``: a model, a provider or a metadata value (None: trails
    without one)."""

    group: str | int | float | bool | None
    cost: Decimal
    tokens: int
    messages: int

    def to_wire(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "cost": JSONDecimal(self.cost),
            "tokens": self.tokens,
            "messages": self.messages,
        }


@dataclass(frozen=True, slots=True)
class ModelUsage:
    """One entry of ``costByModel``."""

    model: str
    cost: Decimal
    tokens: int
    messages: int

    def to_wire(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "cost": JSONDecimal(self.cost),
            "tokens": self.tokens,
            "messages": self.messages,
        }


@dataclass(frozen=True, slots=True)
class Analytics:
    """The analytics of one project over one window (SPEC §4), every sum exact."""

    total_cost: Decimal
    total_tokens: int
    average_cost: Decimal
    message_count: int
    cost_by_day: list[DayUsage]
    cost_by_model: list[ModelUsage]
    recent_trails: list[AuditTrail]
    window: Window
    #: with ``group_by``: cost per group (SPEC §12), else None
    cost_by_group: list[GroupUsage] | None = None
    #: the project's budget and its current period's spend (a ``budgets.BudgetStatus``)
    budget: BudgetStatus | None = None

    def to_wire(self) -> dict[str, Any]:
        """``{"analytics": {...}}`` as SPEC §4 (dump with ``llmtrail.model.dumps``)."""
        return {
            "analytics": {
                "totalCost": JSONDecimal(self.total_cost),
                "totalTokens": self.total_tokens,
                "averageCost": JSONDecimal(self.average_cost),
                "messageCount": self.message_count,
                "costByDay": [d.to_wire() for d in self.cost_by_day],
                "costByModel": [m.to_wire() for m in self.cost_by_model],
                "recentTrails": [trail_to_wire(t) for t in self.recent_trails],
                **(
                    {"costByGroup": [g.to_wire() for g in self.cost_by_group]}
                    if self.cost_by_group is not None
                    else {}
                ),
                **({"budget": self.budget.to_wire()} if self.budget is not None else {}),
            }
        }


# -- windows ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def parse_tz(errs: rules.Errors, field_name: str, value: object) -> ZoneInfo | None:
    """An IANA zone such as ``Europe/Paris`` (or ``UTC``)."""
    if not isinstance(value, str) or value.strip() not in _zone_names():
        errs.add(field_name, "must be an IANA time zone name such as UTC or Europe/Paris")
        return None
    return ZoneInfo(value.strip())


def _days(errs: rules.Errors, value: object) -> int | None:
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 8:
        value = int(value.strip())
    return rules.integer(errs, "days", value, lo=1, hi=MAX_DAYS)


def day_start(d: date, zone: tzinfo) -> datetime:
    """The first instant (UTC) of calendar day ``d`` in ``zone``."""
    return datetime.combine(d, time(), tzinfo=zone).astimezone(UTC)


def make_window(
    now: datetime,
    *,
    days: object = 30,
    since: object = None,
    until: object = None,
    tz: object = "UTC",
) -> Window:
    """Validate the window arguments of ``Store.analytics`` and resolve them.

    Without ``since``/``until``: the last ``days`` calendar days in ``tz``, today included
    (midnight ``days - 1`` days ago up to tomorrow's midnight). With them: ``[since, until)``,
    ``until`` defaulting to now and ``since`` to ``days`` × 24 hours before ``until``.
    """
    errs = rules.Errors()
    zone = parse_tz(errs, "tz", tz)
    n = _days(errs, days)
    lo = rules.timestamp(errs, "since", since) if since is not None else None
    hi = rules.timestamp(errs, "until", until) if until is not None else None
    if errs:
        raise ValidationError(errs.items)
    assert zone is not None and n is not None
    tz_name = str(zone.key)
    try:
        if lo is None and hi is None:
            today = now.astimezone(zone).date()
            start = day_start(today - timedelta(days=n - 1), zone)
            end = day_start(today + timedelta(days=1), zone)
        else:
            end = hi if hi is not None else now.astimezone(UTC)
            start = lo if lo is not None else end - timedelta(days=n)
        first, last = start.astimezone(zone).date(), (end - timedelta.resolution).astimezone(zone)
    except OverflowError:
        raise ValidationError("is out of range", field="until" if hi else "since") from None
    if start >= end:
        raise ValidationError("must be later than since", field="until")
    if (last.date() - first).days + 1 > MAX_DAYS:
        raise ValidationError(f"the window must span at most {MAX_DAYS} days", field="since")
    span = tuple(first + timedelta(days=i) for i in range((last.date() - first).days + 1))
    return Window(start.astimezone(UTC), end.astimezone(UTC), tz_name, span, zone)


def floor_bucket(ts: datetime) -> datetime:
    """The start of the 15-minute bucket holding ``ts``."""
    return _EPOCH + ((ts - _EPOCH) // BUCKET) * BUCKET


def ceil_bucket(ts: datetime) -> datetime:
    """The first bucket start at or after ``ts``."""
    f = floor_bucket(ts)
    return f if f == ts else f + BUCKET


def _on_bucket(ts: datetime) -> bool:
    return floor_bucket(ts) == ts


def _offset(zone: tzinfo, ts: datetime) -> timedelta:
    off = ts.astimezone(zone).utcoffset()
    return off if off is not None else timedelta(0)


def _segments(start: datetime, end: datetime, zone: tzinfo) -> list[Segment]:
    """Find the offset changes in ``[start, end)``: compare offsets a day apart, then look at
    each 15-minute step of a day whose offset changed, then at each second of that step if
    the change is not on a bucket boundary (a zone that is not bucket-aligned)."""
    changes: list[tuple[datetime, timedelta]] = []
    cur = _offset(zone, start)
    t = start
    while t < end:
        nxt = min(t + timedelta(days=1), end)
        if _offset(zone, nxt - timedelta.resolution) != cur or _offset(zone, nxt) != cur:
            step = t
            while step < nxt:
                s2 = min(step + BUCKET, nxt)
                for probe in (step, s2 - timedelta.resolution):
                    off = _offset(zone, probe)
                    if off != cur:
                        at = probe if probe == step else _first_change(zone, step, s2, cur)
                        changes.append((at, off))
                        cur = off
                step = s2
        t = nxt
    out: list[Segment] = []
    seg_start, seg_off = start, _offset(zone, start)
    for at, off in changes:
        if at > seg_start:
            out.append(Segment(seg_start, at, seg_off))
        seg_start, seg_off = at, off
    out.append(Segment(seg_start, end, seg_off))
    return out


def _first_change(zone: tzinfo, a: datetime, b: datetime, cur: timedelta) -> datetime:
    lo, hi = a, b - timedelta.resolution  # offset(lo) == cur, offset(hi) != cur
    while hi - lo > timedelta.resolution:
        mid = lo + (hi - lo) / 2
        if _offset(zone, mid) == cur:
            lo = mid
        else:
            hi = mid
    return hi


# -- building the result ------------------------------------------------------------------------


def usage_of_trails(trails: Iterable[AuditTrail], window: Window) -> list[Usage]:
    """Brute force: usage per (day, model) of the trails whose timestamp is in the window."""
    acc: dict[tuple[date, str], list[Any]] = {}
    with localcontext() as ctx:
        ctx.prec = 60
        for t in trails:
            ts = t.timestamp
            if ts is None or not window.start <= ts < window.end:
                continue
            key = (window.day_of(ts), t.model)
            cell = acc.setdefault(key, [0, 0, Decimal(0)])
            cell[0] += 1
            cell[1] += t.tokens.total or 0
            cell[2] += (t.cost.total if t.cost is not None else None) or Decimal(0)
    return [Usage(d, m, c[0], c[1], c[2]) for (d, m), c in acc.items()]


def build(window: Window, usage: Iterable[Usage], recent: list[AuditTrail]) -> Analytics:
    """The analytics of a window from its usage rows (any order, repeats are summed)."""
    by_day: dict[date, list[Any]] = {d: [Decimal(0), 0, 0] for d in window.days}
    by_model: dict[str, list[Any]] = {}
    total_cost, total_tokens, count = Decimal(0), 0, 0
    with localcontext() as ctx:
        ctx.prec = 60
        for u in usage:
            if u.messages == 0 and u.tokens == 0 and u.cost == 0:
                continue
            for cell in (
                by_day.setdefault(u.day, [Decimal(0), 0, 0]),
                by_model.setdefault(u.model, [Decimal(0), 0, 0]),
            ):
                cell[0] += u.cost
                cell[1] += u.tokens
                cell[2] += u.messages
            total_cost += u.cost
            total_tokens += u.tokens
            count += u.messages
        average = (
            rules.plain((total_cost / count).quantize(_AVERAGE_PLACES)) if count else Decimal(0)
        )
    days = [DayUsage(d, rules.plain(c[0]), c[1], c[2]) for d, c in sorted(by_day.items())]
    models = [
        ModelUsage(m, rules.plain(c[0]), c[1], c[2])
        for m, c in sorted(by_model.items(), key=lambda kv: (-kv[1][0], -kv[1][2], kv[0]))
    ]
    return Analytics(
        total_cost=rules.plain(total_cost),
        total_tokens=total_tokens,
        average_cost=average,
        message_count=count,
        cost_by_day=days,
        cost_by_model=models,
        recent_trails=recent[:RECENT],
        window=window,
    )


# -- grouping (SPEC §12) ------------------------------------------------------------------------


def parse_group_by(errs: rules.Errors, value: object) -> str | None:
    """``model``, ``provider`` or ``metadata.<key>`` (else an error naming ``groupBy``)."""
    if value is None:
        return None
    if isinstance(value, str):
        if value in ("model", "provider"):
            return value
        key = value.removeprefix("metadata.")
        if value.startswith("metadata.") and 0 < len(key) <= rules.MAX_METADATA_KEY:
            return value
    errs.add("groupBy", "must be model, provider or metadata.<key>")
    return None


def group_of(trail: AuditTrail, group_by: str) -> str | int | float | bool | None:
    if group_by == "model":
        return trail.model
    if group_by == "provider":
        return trail.provider
    return (trail.metadata or {}).get(group_by.removeprefix("metadata."))


def groups_of_trails(
    trails: Iterable[AuditTrail], window: Window, group_by: str
) -> list[GroupUsage]:
    """Cost, tokens and messages per group over the trails in ``window``, exactly, the most
    expensive first."""
    acc: dict[tuple[str, Any], list[Any]] = {}
    with localcontext() as ctx:
        ctx.prec = 60
        for t in trails:
            ts = t.timestamp
            if ts is None or not window.start <= ts < window.end:
                continue
            value = group_of(t, group_by)
            cell = acc.setdefault((type(value).__name__, value), [value, Decimal(0), 0, 0])
            cell[1] += (t.cost.total if t.cost is not None else None) or Decimal(0)
            cell[2] += t.tokens.total or 0
            cell[3] += 1
    rows = sorted(acc.values(), key=lambda c: (-c[1], -c[3], str(c[0])))
    return [GroupUsage(c[0], rules.plain(c[1]), c[2], c[3]) for c in rows]


def groups_of_models(models: Iterable[ModelUsage]) -> list[GroupUsage]:
    """``costByModel`` as groups (from the aggregates: they cover trails past retention)."""
    return [GroupUsage(m.model, m.cost, m.tokens, m.messages) for m in models]
