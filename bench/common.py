"""Shared helpers of the benchmark scripts in ``bench/`` (see /work/shared/BENCHMARKS.md).

- ``gen_messages``: fixed-seed data — projects, 30 days of timestamps, a handful of models,
  reasoning of ~1 KB with a few large ones (~1 % of ~64 KB), tokens and exact decimal costs.
- ``fresh_database``: a new PostgreSQL database (migrated by llmtrail, or empty), dropped after.
- ``interleave``: run arms A B C, B C A, … round after round (``interleave_units``: unit by
  unit, the fairest on a noisy machine); ``Spread`` (median, min–max),
  ``percentile``/``latency_summary``, ``ratio_line`` (a ratio against its target).
- ``bench_args`` (``--quick``, ``--seed``, ``--pg``), ``print_header``, ``print_table``.

Scripts import it as ``from common import …`` (the ``bench/`` directory is on ``sys.path`` when a
script there is run as ``.venv/bin/python bench/<script>.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

SEED = 20_261_201
PG_ADMIN = os.environ.get("LLMTRAIL_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
MODELS = (
    "gpt-4o",
    "gpt-4o-mini",
    "claude-sonnet-4",
    "claude-3-5-haiku",
    "gemini-2.0-flash",
    "llama-3.1-70b",
)
# USD per token (prompt, completion): only to give every message a plausible exact cost.
PRICES = {
    "gpt-4o": (Decimal("0.0000025"), Decimal("0.00001")),
    "gpt-4o-mini": (Decimal("0.00000015"), Decimal("0.0000006")),
    "claude-sonnet-4": (Decimal("0.000003"), Decimal("0.000015")),
    "claude-3-5-haiku": (Decimal("0.0000008"), Decimal("0.000004")),
    "gemini-2.0-flash": (Decimal("0.0000001"), Decimal("0.0000004")),
    "llama-3.1-70b": (Decimal("0.00000088"), Decimal("0.00000088")),
}
_TEXT = (
    "the user asked about retention so I check the policy first then compare the cost of "
    "each model against the budget and note that cached prompt tokens are cheaper while "
    "reasoning tokens count as completion consider the context layers summarise the answer "
    "verify the numbers against the invoice and flag anything unusual for the audit log"
)
_WORDS = _TEXT.split()


# -- data ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Msg:
    """One generated LLM message: what the seed's lifecycle stores (placeholder, then result)."""

    message_id: str
    project_id: str
    timestamp: datetime
    model: str
    reasoning: list[str]
    context_layers: int
    prompt_tokens: int
    completion_tokens: int
    cost_prompt: Decimal
    cost_completion: Decimal
    metadata: dict[str, str | int] = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost_total(self) -> Decimal:
        return self.cost_prompt + self.cost_completion

    def as_input(self, status: str = "completed") -> dict[str, Any]:
        """The complete trail as llmtrail input (SPEC §1 camelCase mapping)."""
        return {
            "messageId": self.message_id,
            "projectId": self.project_id,
            "timestamp": self.timestamp,
            "model": self.model,
            "reasoning": self.reasoning,
            "contextLayers": self.context_layers,
            "tokens": {"prompt": self.prompt_tokens, "completion": self.completion_tokens},
            "cost": {"prompt": self.cost_prompt, "completion": self.cost_completion},
            "status": status,
            "metadata": self.metadata,
        }

    def completion(self) -> dict[str, Any]:
        """The keyword arguments of the lifecycle's completion update (``store.update``)."""
        return {
            "reasoning": self.reasoning,
            "tokens": {"prompt": self.prompt_tokens, "completion": self.completion_tokens},
            "cost": {"prompt": self.cost_prompt, "completion": self.cost_completion},
            "status": "completed",
        }


def project_ids(n: int = 8) -> list[str]:
    """The generated projects' ids."""
    return [f"bench-proj-{i:02d}" for i in range(n)]


def _reasoning(rng: random.Random, large: bool, large_bytes: int) -> list[str]:
    target = large_bytes if large else rng.randint(700, 1_300)
    steps: list[str] = []
    size = 0
    per_step = max(200, target // rng.randint(2, 5))
    while size < target:
        words: list[str] = []
        n = 0
        while n < min(per_step, target - size):
            w = rng.choice(_WORDS)
            words.append(w)
            n += len(w) + 1
        s = " ".join(words)
        steps.append(s)
        size += len(s)
    return steps


def gen_messages(
    n: int,
    *,
    seed: int = SEED,
    projects: int = 8,
    days: int = 30,
    end: datetime | None = None,
    large_fraction: float = 0.01,
    large_bytes: int = 64_000,
    prefix: str = "msg",
) -> list[Msg]:
    """``n`` messages from a fixed seed, timestamps spread over ``days`` days before ``end``.

    ``end`` defaults to the start of the current UTC hour (so retention-style benchmarks see a
    realistic age spread); pass a fixed datetime for byte-identical data across days.
    """
    rng = random.Random(seed)
    end = end or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    span = int(timedelta(days=days).total_seconds() * 1_000_000)
    pids = project_ids(projects)
    out: list[Msg] = []
    for i in range(n):
        model = rng.choice(MODELS)
        prompt = rng.randint(50, 8_000)
        completion = rng.randint(10, 2_000)
        p_price, c_price = PRICES[model]
        out.append(
            Msg(
                message_id=f"{prefix}-{seed}-{i:08d}",
                project_id=pids[rng.randrange(len(pids))],
                timestamp=end - timedelta(microseconds=rng.randrange(span)),
                model=model,
                reasoning=_reasoning(rng, rng.random() < large_fraction, large_bytes),
                context_layers=rng.randint(0, 12),
                prompt_tokens=prompt,
                completion_tokens=completion,
                cost_prompt=prompt * p_price,
                cost_completion=completion * c_price,
                metadata={"user": f"u{rng.randrange(500)}", "turn": rng.randint(1, 40)},
            )
        )
    return out


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``items`` in consecutive slices of ``size``."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


# -- databases -----------------------------------------------------------------------------------


def _pg_base(admin: str) -> str:
    return admin.rsplit("/", 1)[0]


def admin_connect(admin: str = PG_ADMIN) -> psycopg.Connection[Any]:
    """An autocommit connection to the admin database (exits with a clear message if down)."""
    try:
        return psycopg.connect(admin, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        sys.exit(f"PostgreSQL is not reachable at {admin}: {str(e).strip().splitlines()[0]}")


@contextlib.contextmanager
def fresh_database(
    prefix: str = "bench", *, migrated: bool = True, admin: str = PG_ADMIN, keep: bool = False
) -> Iterator[str]:
    """A brand-new PostgreSQL database for one script; yields its plain ``postgresql://`` URL.

    ``migrated`` applies llmtrail's Alembic migrations (the schema the raw arms use too).
    The database is dropped (``WITH (FORCE)``) on exit unless ``keep``.
    """
    name = f"llmtrail_{prefix}_{uuid.uuid4().hex[:10]}"
    with admin_connect(admin) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = f"{_pg_base(admin)}/{name}"
    try:
        if migrated:
            from llmtrail.store.sql.dialects import make_engine, normalize_url
            from llmtrail.store.sql.migrate import upgrade

            engine = make_engine(normalize_url(url))
            try:
                upgrade(engine)
            finally:
                engine.dispose()
        yield url
    finally:
        if not keep:
            with admin_connect(admin) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def pg_facts(url: str) -> dict[str, str]:
    """Server version and the durability settings a benchmark must state."""
    with psycopg.connect(url, autocommit=True) as conn:
        facts = {}
        for name in ("server_version", "fsync", "synchronous_commit", "shared_buffers"):
            row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
            facts[name] = str(row[0]) if row else "?"
        return facts


def vacuum_analyze(url: str, *tables: str) -> None:
    """VACUUM ANALYZE (outside a transaction), so arms start from the same table state."""
    with psycopg.connect(url, autocommit=True) as conn:
        for t in tables or ("",):
            conn.execute(
                sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(t))
                if t
                else sql.SQL("VACUUM ANALYZE")
            )


# -- measuring -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spread:
    """Median of several runs with their min and max."""

    median: float
    lo: float
    hi: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values))

    def fmt(self, digits: int = 0, unit: str = "") -> str:
        return f"{self.median:,.{digits}f}{unit} ({self.lo:,.{digits}f}–{self.hi:,.{digits}f})"


@dataclass(slots=True)
class Run:
    """One run of one arm: how many items it handled, how long it took, per-item latencies."""

    count: int
    seconds: float
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else float("inf")


def settle() -> None:
    """Collect garbage and freeze what is left (the harness's generated data), so the garbage
    collections that happen during the measured arms only scan what the arms allocate."""
    gc.collect()
    gc.freeze()


def interleave(
    arms: Sequence[tuple[str, Callable[[int], Run]]], rounds: int, *, rotate: bool = True
) -> dict[str, list[Run]]:
    """Run every arm ``rounds`` times, interleaved (A B C, B C A, … when ``rotate``).

    Each arm is called with the round number (0-based) so it can pick its own slice of data.
    """
    settle()
    results: dict[str, list[Run]] = {name: [] for name, _ in arms}
    for r in range(rounds):
        order = list(arms)
        if rotate and order:
            k = r % len(order)
            order = order[k:] + order[:k]
        for name, fn in order:
            results[name].append(fn(r))
    return results


def interleave_units(
    arms: Sequence[tuple[str, Callable[[int], Any]]],
    rounds: int,
    units: int,
    *,
    items_per_unit: int = 1,
) -> dict[str, list[Run]]:
    """Fine-grained interleaving: every arm does one unit of work in turn (A B C, B C A, …).

    ``fn(k)`` does unit ``k`` (0 … rounds × units − 1) and is timed here. A round is ``units``
    units of each arm; its ``Run`` is the sum of the unit times, the latencies are the unit
    times. On a shared, noisy machine this exposes every arm to the same background load,
    which block-wise A B A B cannot do when the load changes within a block.
    """
    settle()
    results: dict[str, list[Run]] = {name: [] for name, _ in arms}
    clock = time.perf_counter
    for r in range(rounds):
        lat: dict[str, list[float]] = {name: [] for name, _ in arms}
        for u in range(units):
            k = r * units + u
            shift = k % len(arms)
            for name, fn in list(arms[shift:]) + list(arms[:shift]):
                t0 = clock()
                fn(k)
                lat[name].append(clock() - t0)
        for name, xs in lat.items():
            results[name].append(Run(units * items_per_unit, sum(xs), xs))
    return results


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()``'s result and its wall-clock seconds."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0–100) by linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    f = int(k)
    c = min(f + 1, len(s) - 1)
    return s[f] + (s[c] - s[f]) * (k - f)


def rates(runs: Sequence[Run]) -> Spread:
    """Throughput (items/s) over runs: median and min–max."""
    return Spread.of([r.rate for r in runs])


def latency_summary(runs: Sequence[Run], ps: Sequence[float] = (50, 99)) -> dict[float, Spread]:
    """Per percentile, the median over runs (and min–max) of that run's percentile, in ms."""
    return {
        p: Spread.of([percentile(r.latencies, p) * 1000 for r in runs if r.latencies]) for p in ps
    }


def pooled_percentile(runs: Sequence[Run], p: float) -> float:
    """The percentile, in ms, of every latency of every run pooled together."""
    return percentile([x for r in runs for x in r.latencies], p) * 1000


def ratio_line(
    label: str, value: float, baseline: float, target: float, *, higher_is_better: bool = True
) -> tuple[str, bool]:
    """A printable 'label: 0.93× (target ≥ 0.8×) MET' line and whether the target is met."""
    ratio = value / baseline if baseline else float("inf")
    met = ratio >= target if higher_is_better else ratio <= target
    sign = "≥" if higher_is_better else "≤"
    return f"{label}: {ratio:.2f}× (target {sign} {target}×) {'MET' if met else 'MISSED'}", met


# -- output --------------------------------------------------------------------------------------


def bench_args(
    description: str,
    argv: Sequence[str] | None = None,
    extra: Sequence[tuple[str, str]] = (),
) -> argparse.Namespace:
    """Common command line: ``--quick`` (a fast sanity run), ``--seed``, ``--pg`` (admin URL),
    plus ``extra`` string options given as (flag, help)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help="small sizes: a fast sanity run")
    ap.add_argument("--seed", type=int, default=SEED, help="data generator seed")
    ap.add_argument("--pg", default=PG_ADMIN, help="admin database URL of the PostgreSQL server")
    for flag, help_text in extra:
        ap.add_argument(flag, help=help_text)
    return ap.parse_args(argv)


def print_header(title: str, url: str | None = None, **details: Any) -> None:
    """The script's title, the machine, and (with ``url``) PostgreSQL durability settings."""
    print(f"== {title} ==")
    print(
        f"   {datetime.now(UTC):%Y-%m-%d %H:%M UTC}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {platform.platform(terse=True)}"
    )
    if url is not None:
        f = pg_facts(url)
        print(
            f"   PostgreSQL {f['server_version']} on loopback: fsync={f['fsync']}, "
            f"synchronous_commit={f['synchronous_commit']}, shared_buffers={f['shared_buffers']}"
        )
    for k, v in details.items():
        print(f"   {k.replace('_', ' ')}: {v}")
    print()


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain aligned text table (first column left-aligned, others right-aligned)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, r in enumerate(cells):
        print(
            "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r))
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print()


def check(label: str, ok: bool, detail: str = "") -> None:
    """Print a correctness check; exit non-zero when it fails (a benchmark must be correct)."""
    print(f"   check {label}: {'ok' if ok else 'FAILED'}{(' — ' + detail) if detail else ''}")
    if not ok:
        sys.exit(f"correctness check failed: {label} {detail}")
