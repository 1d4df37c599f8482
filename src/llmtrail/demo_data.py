"""Realistic demo trails: a few weeks of messages over several models, for ``--demo``.

Deterministic for a given seed and ``now`` (message ids are derived from the seed), so a
newcomer's first ``llmtrail serve --demo`` shows charts with something in them.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from llmtrail.model import Project, TrailFilter
from llmtrail.store.base import Store

DEMO_PROJECT = "demo"
# model → (USD per prompt token, USD per completion token, relative traffic, reasoning model?)
MODELS: dict[str, tuple[Decimal, Decimal, int, bool]] = {
    "claude-3-7-sonnet-20250219": (Decimal("0.000003"), Decimal("0.000015"), 30, True),
    "claude-3-5-haiku-20241022": (Decimal("0.0000008"), Decimal("0.000004"), 25, False),
    "gpt-4o-2024-08-06": (Decimal("0.0000025"), Decimal("0.00001"), 20, False),
    "gpt-4o-mini-2024-07-18": (Decimal("0.00000015"), Decimal("0.0000006"), 15, False),
    "o3-mini-2025-01-31": (Decimal("0.0000011"), Decimal("0.0000044"), 10, True),
}
FEATURES = ("support-chat", "summarise", "code-review", "search")
STEPS = (
    "Read the system layer: the assistant answers billing questions for the support team.",
    "Layer 2 carries the customer's plan and the last three invoices.",
    "The user asks why this month's bill is higher than last month's.",
    "Compare usage per day; the spike is on the 14th, after the new feature shipped.",
    "Cached prompt tokens are cheaper, so most of the extra cost is completion tokens.",
    "Check the retention policy before quoting any numbers older than a week.",
    "Draft the answer: explain the spike, link the usage page, offer a cap.",
    "Verify the totals add up to the invoice before sending.",
)


def demo_trails(
    *, days: int = 21, per_day: int = 40, seed: int = 7, now: datetime | None = None
) -> list[dict[str, Any]]:
    """``days`` of trails (JSON shape of SPEC §1) ending at ``now``, busier on weekdays."""
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    names = list(MODELS)
    weights = [MODELS[m][2] for m in names]
    out: list[dict[str, Any]] = []
    for day in range(days, 0, -1):
        start = (now - timedelta(days=day)).replace(hour=0, minute=0, second=0, microsecond=0)
        count = int(per_day * (0.5 if start.weekday() >= 5 else 1) * rng.uniform(0.7, 1.3))
        if day % 7 == 3:
            count += per_day // 2  # a busy day now and then
        for _ in range(count):
            ts = start + timedelta(seconds=rng.randrange(86_400))
            if ts >= now:
                continue
            out.append(_trail(rng, rng.choices(names, weights)[0], ts, len(out)))
    return out


def _trail(rng: random.Random, model: str, ts: datetime, n: int) -> dict[str, Any]:
    p_price, c_price, _, reasons = MODELS[model]
    prompt = rng.randrange(400, 12_000)
    cache_read = rng.randrange(0, prompt // 2) if rng.random() < 0.4 else 0
    completion = rng.randrange(50, 2_000)
    reasoning_tokens = rng.randrange(0, completion) if reasons else 0
    status = "failed" if rng.random() < 0.03 else "completed"
    steps = rng.sample(STEPS, rng.randrange(2, 6)) if reasons or rng.random() < 0.3 else None
    tokens: dict[str, int] = {"prompt": prompt, "completion": completion}
    if cache_read:
        tokens["cacheRead"] = cache_read
    if reasoning_tokens:
        tokens["reasoning"] = reasoning_tokens
    if status == "failed":
        tokens, steps = {"prompt": prompt, "completion": 0}, None
    cost_prompt = (p_price * (prompt - cache_read) + p_price * cache_read / 10).quantize(
        Decimal("0.00000001")
    )
    cost_completion = (c_price * tokens["completion"]).quantize(Decimal("0.00000001"))
    return {
        "messageId": f"demo-{ts:%Y%m%d}-{n:05d}-{rng.randrange(16**6):06x}",
        "timestamp": ts.isoformat(),
        "model": model,
        "reasoning": steps,
        "contextLayers": rng.randrange(1, 6),
        "tokens": tokens,
        "cost": {"prompt": str(cost_prompt), "completion": str(cost_completion)},
        "status": status,
        "metadata": {
            "feature": rng.choice(FEATURES),
            "userId": f"user-{rng.randrange(1, 60):03d}",
        },
    }


def fill_demo(
    store: Store, project_id: str = DEMO_PROJECT, *, days: int = 21, seed: int = 7
) -> tuple[Project, int]:
    """Create the demo project (keeping trails 60 days) and fill it unless it has trails.

    Returns the project and how many trails were stored now (0 if it was already filled).
    """
    project = store.get_project(project_id)
    if project is None:
        project = store.create_project(project_id, "Demo project", retention_days=60)
    elif store.list_trails(TrailFilter(project_id), limit=1).items:
        return project, 0
    stored = 0
    trails = demo_trails(days=days, seed=seed)
    for i in range(0, len(trails), 500):
        results = store.store_many(trails[i : i + 500], project_id)
        stored += sum(1 for r in results if not isinstance(r, Exception))
    return project, stored
