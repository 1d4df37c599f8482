"""Analytics (SPEC §4) on every backend equal a brute-force computation over the raw trails:
day windows in several zones (DST changes, 30/45-minute offsets), arbitrary since/until
instants (partial 15-minute buckets), after updates, after cleanup and after project deletion.

The brute force here is written independently of ``llmtrail.analytics``: it filters the trails
it stored itself and groups them with ``zoneinfo``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, localcontext
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import llmtrail
from llmtrail import NotFoundError, Store, ValidationError
from llmtrail.model import dumps, loads

# Just after Europe's spring-forward (2026-03-29) and within a week of North America's.
NOW = datetime(2026, 3, 30, 10, 20, 30, 123456, tzinfo=UTC)
ZONES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Pacific/Chatham",
    "Australia/Lord_Howe",
]
MODELS = ["gpt-4o", "claude-3-7-sonnet-20250219", "m" * 200, "gemini-2.0-flash"]
P = "proj-a"


@dataclass
class Row:
    message_id: str
    ts: datetime
    model: str
    tokens: int
    cost: Decimal


@pytest.fixture
def clocked(open_backend: Callable[..., Store]) -> Callable[..., Store]:
    def make(now: datetime = NOW, **kw: Any) -> Store:
        return open_backend(clock=lambda: now, **kw)

    return make


def _edge_times() -> list[datetime]:
    """Instants on and around day, bucket and DST boundaries of the zones under test."""
    out: list[datetime] = []
    for name in ZONES:
        zone = ZoneInfo(name)
        for back in range(0, 45):
            d = (NOW.astimezone(zone) - timedelta(days=back)).date()
            midnight = datetime.combine(d, time(), tzinfo=zone).astimezone(UTC)
            out += [midnight, midnight - timedelta(microseconds=1)]
    # Europe/Paris 2026-03-29 01:00Z (02:00 -> 03:00 local), New York 2026-03-08 07:00Z
    for t in (datetime(2026, 3, 29, 1, tzinfo=UTC), datetime(2026, 3, 8, 7, tzinfo=UTC)):
        out += [t, t - timedelta(microseconds=1), t + timedelta(minutes=14, seconds=59)]
    # today's future (later today), and the very end of today in UTC
    out += [NOW + timedelta(hours=5), datetime(2026, 3, 30, 23, 59, 59, 999999, tzinfo=UTC)]
    return out


def seed(store: Store, n: int = 400, *, seed_value: int = 1) -> list[Row]:
    """Random trails over ~50 days before NOW plus every edge instant; two projects."""
    rng = random.Random(seed_value)
    store.create_project(P)
    store.create_project("proj-b")
    times = [
        NOW - timedelta(seconds=rng.randint(0, 50 * 86400), microseconds=rng.randint(0, 999999))
        for _ in range(n)
    ] + _edge_times()
    rows: list[Row] = []
    batch: list[dict[str, Any]] = []
    for i, ts in enumerate(times):
        model = rng.choice(MODELS)
        prompt, completion = rng.randint(0, 5000), rng.randint(0, 2000)
        cp = Decimal(rng.randint(0, 10**9)).scaleb(-rng.randint(6, 18))
        cc = Decimal(rng.randint(0, 10**6)).scaleb(-rng.randint(3, 18))
        mid = f"a-{seed_value}-{i}"
        batch.append(
            {
                "messageId": mid,
                "model": model,
                "timestamp": ts,
                "tokens": {"prompt": prompt, "completion": completion},
                "cost": {"prompt": cp, "completion": cc},
            }
        )
        with localcontext() as ctx:
            ctx.prec = 60
            rows.append(Row(mid, ts, model, prompt + completion, cp + cc))
    for start in range(0, len(batch), 200):
        out = store.store_many(batch[start : start + 200], P)
        assert all(not isinstance(o, Exception) for o in out), out
    # noise in another project, same models and times
    store.store_many([{**b, "messageId": "b-" + b["messageId"]} for b in batch[:50]], "proj-b")
    return rows


def day_window(days: int, tz: str, now: datetime = NOW) -> tuple[datetime, datetime, list[date]]:
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(today + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
    return start, end, [first + timedelta(days=i) for i in range(days)]


def brute(
    rows: list[Row], start: datetime, end: datetime, tz: str, days: list[date]
) -> dict[str, Any]:
    zone = ZoneInfo(tz)
    by_day = {d: [Decimal(0), 0, 0] for d in days}
    by_model: dict[str, list[Any]] = {}
    total, tokens, count = Decimal(0), 0, 0
    with localcontext() as ctx:
        ctx.prec = 60
        for r in rows:
            if not start <= r.ts < end:
                continue
            d = r.ts.astimezone(zone).date()
            for cell in (
                by_day.setdefault(d, [Decimal(0), 0, 0]),
                by_model.setdefault(r.model, [Decimal(0), 0, 0]),
            ):
                cell[0] += r.cost
                cell[1] += r.tokens
                cell[2] += 1
            total += r.cost
            tokens += r.tokens
            count += 1
    return {
        "totalCost": total,
        "totalTokens": tokens,
        "messageCount": count,
        "costByDay": [(d.isoformat(), c[0], c[1], c[2]) for d, c in sorted(by_day.items())],
        "costByModel": {m: (c[0], c[1], c[2]) for m, c in by_model.items()},
        "recent": [
            r.message_id
            for r in sorted(
                (r for r in rows if start <= r.ts < end), key=lambda r: r.ts, reverse=True
            )[:10]
        ],
    }


def got(store: Store, **kw: Any) -> dict[str, Any]:
    """The analytics as they travel: through the exact JSON text and back."""
    a = loads(dumps(store.analytics(P, **kw).to_wire()))["analytics"]
    assert set(a) == {
        "totalCost",
        "totalTokens",
        "averageCost",
        "messageCount",
        "costByDay",
        "costByModel",
        "recentTrails",
    }
    count = a["messageCount"]
    if count:
        expected_avg = (a["totalCost"] / count).quantize(Decimal(1).scaleb(-18))
        assert a["averageCost"] == expected_avg
    else:
        assert a["averageCost"] == 0
    return {
        "totalCost": a["totalCost"],
        "totalTokens": a["totalTokens"],
        "messageCount": count,
        "costByDay": [(d["date"], d["cost"], d["tokens"], d["messages"]) for d in a["costByDay"]],
        "costByModel": {
            m["model"]: (m["cost"], m["tokens"], m["messages"]) for m in a["costByModel"]
        },
        "recent": [t["messageId"] for t in a["recentTrails"]],
    }


# -- day windows ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tz", ZONES)
def test_day_windows_equal_brute_force(clocked: Callable[..., Store], tz: str) -> None:
    store = clocked()
    rows = seed(store)
    for days in (1, 7, 30, 90):
        start, end, span = day_window(days, tz)
        expected = brute(rows, start, end, tz, span)
        assert got(store, days=days, tz=tz) == expected, (tz, days)
        assert len(expected["costByDay"]) == days


def test_default_window_is_30_days_utc(clocked: Callable[..., Store]) -> None:
    store = clocked()
    rows = seed(store, 100)
    start, end, span = day_window(30, "UTC")
    assert got(store) == brute(rows, start, end, "UTC", span)


def test_cost_by_model_sorted_by_cost_and_days_ascending(clocked: Callable[..., Store]) -> None:
    store = clocked()
    seed(store, 200)
    a = store.analytics(P, days=60)
    costs = [m.cost for m in a.cost_by_model]
    assert costs == sorted(costs, reverse=True)
    days = [d.date for d in a.cost_by_day]
    assert days == sorted(days) and len(set(days)) == 60
    assert days[-1] == NOW.date()


# -- arbitrary instants ------------------------------------------------------------------------


def test_since_until_windows_equal_brute_force(clocked: Callable[..., Store]) -> None:
    store = clocked()
    rows = seed(store)
    rng = random.Random(5)
    cases: list[tuple[datetime, datetime]] = [
        # inside one bucket; across two partial buckets; exactly on buckets
        (datetime(2026, 3, 20, 10, 3, 7, tzinfo=UTC), datetime(2026, 3, 20, 10, 11, tzinfo=UTC)),
        (datetime(2026, 3, 20, 10, 7, tzinfo=UTC), datetime(2026, 3, 20, 10, 22, tzinfo=UTC)),
        (datetime(2026, 3, 20, 10, 0, tzinfo=UTC), datetime(2026, 3, 20, 10, 15, tzinfo=UTC)),
        (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 29, 1, tzinfo=UTC)),
    ]
    # windows that start or end exactly on a trail's timestamp, or a microsecond off it
    for r in rng.sample(rows, 6):
        cases.append((r.ts, r.ts + timedelta(hours=rng.randint(1, 300))))
        cases.append((r.ts - timedelta(days=3), r.ts))
        cases.append((r.ts + timedelta(microseconds=1), NOW))
    for _ in range(6):
        a = NOW - timedelta(seconds=rng.randint(0, 55 * 86400), microseconds=rng.randint(0, 10**6))
        cases.append((a, a + timedelta(seconds=rng.randint(1, 20 * 86400))))
    for tz in ("UTC", "Europe/Paris", "Asia/Kathmandu"):
        zone = ZoneInfo(tz)
        for start, end in cases:
            first = start.astimezone(zone).date()
            last = (end - timedelta(microseconds=1)).astimezone(zone).date()
            span = [first + timedelta(days=i) for i in range((last - first).days + 1)]
            expected = brute(rows, start, end, tz, span)
            # given as datetimes in another zone, and as RFC 3339 text
            assert got(store, since=start.astimezone(zone), until=end, tz=tz) == expected
            assert got(store, since=start.isoformat(), until=end.isoformat(), tz=tz) == expected


def test_until_defaults_to_now_and_since_to_days_before(clocked: Callable[..., Store]) -> None:
    store = clocked()
    rows = seed(store, 150)
    since = NOW - timedelta(days=3, minutes=7)
    first, span_end = since.date(), NOW.date()
    span = [first + timedelta(days=i) for i in range((span_end - first).days + 1)]
    assert got(store, since=since) == brute(rows, since, NOW, "UTC", span)
    until = NOW - timedelta(days=2, seconds=1)
    lo = until - timedelta(days=5)
    span = [lo.date() + timedelta(days=i) for i in range((until.date() - lo.date()).days + 1)]
    assert got(store, until=until, days=5) == brute(rows, lo, until, "UTC", span)


# -- keeping exact through writes --------------------------------------------------------------


def test_exact_after_updates(clocked: Callable[..., Store]) -> None:
    store = clocked()
    rows = seed(store, 200)
    rng = random.Random(9)
    for r in rng.sample(rows, 60):
        cost = Decimal(rng.randint(0, 10**7)).scaleb(-9)
        prompt = rng.randint(0, 9000)
        store.update(
            r.message_id,
            tokens={"prompt": prompt, "completion": 1},
            cost={"prompt": cost, "completion": "0.000000000000000001"},
        )
        r.tokens, r.cost = prompt + 1, cost + Decimal("0.000000000000000001")
    for r in rng.sample(rows, 20):  # updates that do not touch usage
        store.update(r.message_id, status="failed", metadata={"k": "v"})
    for tz in ("UTC", "America/New_York"):
        start, end, span = day_window(45, tz)
        assert got(store, days=45, tz=tz) == brute(rows, start, end, tz, span)
    a = NOW - timedelta(days=20, minutes=3)
    span = [a.date() + timedelta(days=i) for i in range((NOW.date() - a.date()).days + 1)]
    assert got(store, since=a, until=NOW) == brute(rows, a, NOW, "UTC", span)


def test_day_totals_outlive_cleanup(clocked: Callable[..., Store], backend: str) -> None:
    store = clocked()
    rows = seed(store, 300)
    start, end, span = day_window(40, "Europe/Paris")
    before = brute(rows, start, end, "Europe/Paris", span)
    deleted = store.cleanup(7)
    assert deleted > 0
    after = got(store, days=40, tz="Europe/Paris")
    live = [r for r in rows if r.ts >= NOW - timedelta(days=7)]
    live_recent = brute(live, start, end, "Europe/Paris", span)["recent"]
    assert after["recent"] == live_recent
    if backend == "memory":
        # The memory backend keeps no aggregates: it reports what it still holds.
        assert after == brute(live, start, end, "Europe/Paris", span)
        return
    # Database backends: every day, cleaned up or not, still shows its usage.
    assert {k: v for k, v in after.items() if k != "recent"} == {
        k: v for k, v in before.items() if k != "recent"
    }
    old_days = [
        d for d in after["costByDay"] if d[0] < (NOW - timedelta(days=9)).date().isoformat()
    ]
    assert sum(d[3] for d in old_days) > 0


def test_rollups_older_than_their_retention_go(clocked: Callable[..., Store], backend: str) -> None:
    store = clocked(rollup_retention_days=20)
    rows = seed(store, 200)
    store.cleanup(7)
    if backend == "memory":  # no aggregates: only the trails it still holds count
        live = [r for r in rows if r.ts >= NOW - timedelta(days=7)]
        start, end, span = day_window(40, "UTC")
        assert got(store, days=40) == brute(live, start, end, "UTC", span)
        return
    _start, _end, span = day_window(40, "UTC")
    after = got(store, days=40)
    cut = NOW - timedelta(days=20)
    by_day = {d[0]: d[3] for d in after["costByDay"]}
    for day in span:
        n = sum(1 for r in rows if r.ts.date() == day)
        if day > cut.date():
            assert by_day[day.isoformat()] == n
        elif day < cut.date():
            assert by_day[day.isoformat()] == 0


def test_project_deletion_takes_its_analytics(clocked: Callable[..., Store]) -> None:
    store = clocked()
    seed(store, 100)
    assert store.analytics(P).message_count > 0
    other = store.analytics("proj-b", days=90)
    store.delete_project(P)
    with pytest.raises(NotFoundError):
        store.analytics(P)
    store.create_project(P)
    a = store.analytics(P, days=90)
    assert a.message_count == 0 and a.total_cost == 0 and a.total_tokens == 0
    assert a.cost_by_model == [] and a.recent_trails == []
    assert len(a.cost_by_day) == 90 and all(d.messages == 0 for d in a.cost_by_day)
    assert store.analytics("proj-b", days=90).to_wire() == other.to_wire()


def test_exact_decimal_sums(clocked: Callable[..., Store]) -> None:
    store = clocked()
    store.create_project(P)
    for i in range(10):
        store.store(
            {"messageId": f"d{i}", "model": "m", "timestamp": NOW, "cost": {"prompt": "0.1"}}, P
        )
    store.store({"messageId": "d-3", "model": "m", "timestamp": NOW, "cost": {"prompt": 0.2}}, P)
    text = dumps(store.analytics(P, days=1).to_wire())
    assert '"totalCost": 1.2' in text and "1.2000000" not in text
    assert '"averageCost": 0.109090909090909091' in text
    numbers = text.split('"recentTrails"')[0]
    assert not re.search(r"\d[eE][-+]?\d", numbers)  # no exponent notation


def test_recent_trails_are_the_10_newest_in_the_window(clocked: Callable[..., Store]) -> None:
    store = clocked()
    rows = seed(store, 80)
    a = store.analytics(P, days=30)
    start, end, _ = day_window(30, "UTC")
    newest = sorted((r for r in rows if start <= r.ts < end), key=lambda r: r.ts)
    assert [t.message_id for t in a.recent_trails] == [r.message_id for r in newest[::-1][:10]]
    assert all(t.project_id == P for t in a.recent_trails)


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"days": 0}, "days"),
        ({"days": -3}, "days"),
        ({"days": 100_000}, "days"),
        ({"days": 1.5}, "days"),
        ({"days": True}, "days"),
        ({"days": "ten"}, "days"),
        ({"tz": "Mars/Olympus_Mons"}, "tz"),
        ({"tz": "../../etc/passwd"}, "tz"),
        ({"tz": ""}, "tz"),
        ({"tz": 5}, "tz"),
        ({"since": "2026-03-01"}, "since"),
        ({"since": "2026-03-01T00:00:00"}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01T00:00:00Z"}, "until"),
        ({"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, "until"),
        ({"since": "2026-03-01T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, "until"),
        ({"since": "1970-01-01T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, "since"),
        ({"since": datetime(2026, 3, 1)}, "since"),
    ],
)
def test_bad_window_names_the_field(
    clocked: Callable[..., Store], kw: dict[str, Any], field: str
) -> None:
    store = clocked()
    store.create_project(P)
    with pytest.raises(ValidationError) as e:
        store.analytics(P, **kw)
    assert field in e.value.fields


def test_unknown_or_invalid_project(clocked: Callable[..., Store]) -> None:
    store = clocked()
    with pytest.raises(NotFoundError):
        store.analytics("nope")
    with pytest.raises(ValidationError) as e:
        store.analytics("bad id!")
    assert e.value.fields == ["projectId"]


# -- scale ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_million_micro_dollars_make_exactly_one_dollar(sqlite_url: str) -> None:
    """1,000,000 trails of $0.000001 through the public API: analytics total exactly $1."""
    n, step = 1_000_000, timedelta(seconds=2.5)  # spread over ~29 days
    store = llmtrail.open_store(sqlite_url, clock=lambda: NOW)
    try:
        store.create_project("big")
        micro = Decimal("0.000001")
        models = ["gpt-4o", "claude-3-7-sonnet-20250219", "gemini-2.0-flash"]
        for b in range(0, n, 5_000):
            batch = [
                {
                    "messageId": f"u{i}",
                    "model": models[i % 3],
                    "timestamp": NOW - i * step,
                    "tokens": {"prompt": 1, "completion": 0},
                    "cost": {"prompt": micro},
                }
                for i in range(b, b + 5_000)
            ]
            out = store.store_many(batch, "big")
            assert not any(isinstance(o, Exception) for o in out)
        a = store.analytics("big", days=30)
        assert a.total_cost == Decimal(1) and str(a.total_cost) == "1"
        assert a.message_count == n and a.total_tokens == n
        assert a.average_cost == micro
        assert sum(d.messages for d in a.cost_by_day) == n
        assert sum(m.cost for m in a.cost_by_model) == 1
        assert '"totalCost": 1,' in dumps(a.to_wire())
        # an arbitrary window (partial buckets at both ends) is exact too
        since = NOW - timedelta(days=10, minutes=7, seconds=1)
        until = NOW - timedelta(days=1, seconds=3.7)
        inside = sum(1 for i in range(n) if since <= NOW - i * step < until)
        b = store.analytics("big", since=since, until=until)
        assert b.message_count == inside and b.total_cost == inside * micro
    finally:
        store.close()
