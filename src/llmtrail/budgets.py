"""Project budgets (SPEC §12): a spending limit per UTC day or month, and where spend stands.

Spend is the exact sum of the cost of the project's trails whose ``timestamp`` falls in the
current period — read from the usage aggregates, so it stays exact after raw trails are
cleaned up. Periods are UTC calendar days and months. A budget is ``exceeded`` once spend
reaches its amount (100% used).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from llmtrail.model import Budget
from llmtrail.model.wire import JSONDecimal, iso

#: the shares of a budget at which an alert is sent (SPEC §12)
THRESHOLDS = (Decimal("0.8"), Decimal("1"))


def period_of(period: str, now: datetime) -> tuple[datetime, datetime]:
    """The UTC ``[start, end)`` of the budget period containing ``now``."""
    now = now.astimezone(UTC)
    if period == "day":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + timedelta(days=1)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = (start + timedelta(days=32)).replace(day=1)
    return start, nxt


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """Where a project's spend stands in the current period."""

    project_id: str
    budget: Budget
    start: datetime
    end: datetime
    spent: Decimal

    @property
    def remaining(self) -> Decimal:
        return max(self.budget.amount - self.spent, Decimal(0))

    @property
    def exceeded(self) -> bool:
        return self.spent >= self.budget.amount

    @property
    def used(self) -> Decimal:
        """The share of the budget spent (1 = all of it)."""
        return self.spent / self.budget.amount

    def crossed(self) -> list[Decimal]:
        """The alert thresholds spend has reached."""
        return [t for t in THRESHOLDS if self.spent >= self.budget.amount * t]

    def period_key(self) -> str:
        """The period's name: ``2026-12-04`` for a day, ``2026-12`` for a month."""
        return self.start.strftime("%Y-%m-%d" if self.budget.period == "day" else "%Y-%m")

    def to_wire(self) -> dict[str, Any]:
        return {
            "amount": JSONDecimal(self.budget.amount),
            "period": self.budget.period,
            "spent": JSONDecimal(self.spent),
            "remaining": JSONDecimal(self.remaining),
            "exceeded": self.exceeded,
            "periodStart": iso(self.start),
            "periodEnd": iso(self.end),
        }
