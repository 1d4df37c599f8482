"""Repricing history after a price change or a new price file (SPEC §6).

``reprice`` walks a project's trails in a time window, page by page, and gives each trail
whose cost llmtrail computed (or could not compute: ``unpriced``) the cost its tokens have at
today's price data for the price in force at its timestamp. A cost the caller provided is
never touched. Every trail is rewritten on its own, in its own short transaction, through the
store's ``rewrite`` (compare-and-set, analytics aggregates adjusted in the same transaction),
so ingest never waits on a long lock and the aggregates stay exact at every instant.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext

from llmtrail.errors import NotFoundError, ValidationError
from llmtrail.model import AuditTrail, Pricer, TrailFilter
from llmtrail.model.parse import cost_fields, pricing_fields
from llmtrail.store.base import Store

_REPRICED = ("computed", "unpriced")


@dataclass(slots=True)
class ModelTotals:
    """Old and new cost totals (USD) of one model's repriced trails."""

    trails: int = 0
    changed: int = 0
    old_total: Decimal = Decimal(0)
    new_total: Decimal = Decimal(0)


@dataclass(slots=True)
class RepriceReport:
    """What ``reprice`` found and did."""

    dry_run: bool
    scanned: int = 0
    #: trails whose cost the caller provided: never repriced
    provided: int = 0
    changed: int = 0
    models: dict[str, ModelTotals] = field(default_factory=dict)

    def to_wire(self) -> dict[str, object]:
        return {
            "dryRun": self.dry_run,
            "scanned": self.scanned,
            "skippedProvided": self.provided,
            "changed": self.changed,
            "models": {
                name: {
                    "trails": m.trails,
                    "changed": m.changed,
                    "oldTotal": format(m.old_total, "f"),
                    "newTotal": format(m.new_total, "f"),
                }
                for name, m in sorted(self.models.items())
            },
        }


def repriced(trail: AuditTrail, pricer: Pricer | None, now: datetime) -> AuditTrail:
    """``trail`` with the cost its tokens have now (itself if that is what it has)."""
    if trail.cost_source not in _REPRICED:
        return trail
    fields = cost_fields(pricing_fields(trail), None, pricer)
    if all(getattr(trail, k) == v for k, v in fields.items()):
        return trail
    return dataclasses.replace(trail, **fields, updated_at=now)


def reprice(
    store: Store,
    project_id: str,
    *,
    since: datetime,
    until: datetime | None = None,
    model: str | None = None,
    dry_run: bool = False,
    batch: int = 500,
    progress: Callable[[RepriceReport], None] | None = None,
) -> RepriceReport:
    """Reprice the computed and unpriced trails of ``project_id`` from ``since`` (inclusive)
    to ``until`` (exclusive), of ``model`` only if given, with the store's price data;
    ``dry_run`` only reports. Returns old and new totals per model."""
    if since is None:
        raise ValidationError("is required", field="since")
    if store.get_project(project_id) is None:
        raise NotFoundError(f"no project {project_id!r}")
    report = RepriceReport(dry_run=dry_run)
    filter = TrailFilter(project_id, since=since, until=until, model=model)
    with localcontext() as ctx:
        ctx.prec = 60  # sums of NUMERIC(38,18) values stay exact
        for trail in store.iter_trails(filter, batch=batch):
            _reprice_one(store, trail, report)
            if progress is not None and report.scanned % batch == 0:
                progress(report)
    return report


def _reprice_one(store: Store, trail: AuditTrail, report: RepriceReport) -> None:
    report.scanned += 1
    if trail.cost_source == "provided":
        report.provided += 1
        return
    new = repriced(trail, store.pricer, store.clock())
    if new is not trail and not report.dry_run:
        seen: list[AuditTrail] = []

        def change(stored: AuditTrail) -> AuditTrail:
            # the row as the store's compare-and-set read it: a completion that landed
            # meanwhile is repriced from its own tokens, not overwritten with this page's copy
            seen.append(stored)
            return repriced(stored, store.pricer, store.clock())

        try:
            new = store.rewrite(trail.message_id, change)
        except NotFoundError:
            return  # deleted meanwhile (cleanup): nothing left to reprice
        trail = seen[-1] if seen else trail
        if trail.cost_source == "provided":  # the caller gave it a cost meanwhile
            report.provided += 1
            return
    totals = report.models.setdefault(trail.model, ModelTotals())
    totals.trails += 1
    totals.old_total += _total(trail)
    totals.new_total += _total(new)
    if (new.cost, new.cost_source, new.price_version) != (
        trail.cost,
        trail.cost_source,
        trail.price_version,
    ):
        totals.changed += 1
        report.changed += 1


def _total(t: AuditTrail) -> Decimal:
    return (t.cost.total if t.cost is not None else None) or Decimal(0)
