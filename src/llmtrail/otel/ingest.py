"""Record the LLM spans of one OTLP export as trails (the library side of ``POST /v1/traces``).

Spans are grouped by project, the two spans of one call (same message id) merged, and each
project's trails written with one ``store_many``: committed before this returns, so the
export is acknowledged only once its trails are durable. A span that cannot be a trail is
counted as rejected (OTLP ``partialSuccess``), never an error for the whole export.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmtrail.errors import AuditTrailError, ConflictError
from llmtrail.model import StoreOutcome, rules
from llmtrail.otel.decode import SpanRecord, spans
from llmtrail.otel.mapping import has_ids, is_llm_span, merged, project_of, to_trail
from llmtrail.store.base import Store

MAX_MESSAGES = 5  # rejection reasons quoted in partialSuccess.errorMessage


@dataclass(slots=True)
class IngestResult:
    """What one export became."""

    stored: int = 0
    #: spans of a call already recorded (its other span, or a re-sent export)
    duplicates: int = 0
    #: spans that are not model calls (HTTP, framework, tool spans): not trails
    ignored: int = 0
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def reject(self, record: SpanRecord, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < MAX_MESSAGES:
            self.reasons.append(f"span {record.span_id}: {reason}")

    @property
    def message(self) -> str:
        more = self.rejected - len(self.reasons)
        return "; ".join(self.reasons) + (f"; and {more} more" if more > 0 else "")


def ingest(
    store: Store,
    export: Any,
    *,
    project_id: str | None,
    create_project: bool = False,
) -> IngestResult:
    """Store the LLM spans of ``export`` (an ``ExportTraceServiceRequest``): under
    ``project_id`` (a project key's), or, when None (the admin key), under the project each
    resource names in ``llmtrail.project.id``."""
    result = IngestResult()
    by_project: dict[str, dict[str, tuple[SpanRecord, dict[str, Any]]]] = {}
    for record in spans(export):
        if not is_llm_span(record.attributes):
            result.ignored += 1
            continue
        if not has_ids(record):
            result.reject(record, "a span needs a 16-byte traceId and an 8-byte spanId")
            continue
        project = _project(record, project_id, result)
        if project is None:
            continue
        try:
            trail = to_trail(record)
        except Exception as e:  # a mapping bug costs one span, never the export (a 500)
            result.reject(record, f"unreadable span ({type(e).__name__})")
            continue
        if trail["model"] is None:
            result.reject(record, "an LLM span without a model name")
            continue
        calls = by_project.setdefault(project, {})
        seen = calls.get(trail["messageId"])
        if seen is not None:
            result.duplicates += 1
        calls[trail["messageId"]] = (
            (record, trail) if seen is None else merged(seen, (record, trail))
        )
    for project, calls in by_project.items():
        records = list(calls.values())
        for start in range(0, len(records), rules.MAX_BATCH):  # bounded transactions
            chunk = records[start : start + rules.MAX_BATCH]
            trails = [t for _, t in chunk]
            outcomes = store.store_many(trails, project, create_project=create_project)
            for (record, trail), outcome in zip(chunk, outcomes, strict=True):
                if isinstance(outcome, ConflictError) and not _same_call(store, project, trail):
                    result.reject(record, f"messageId {trail['messageId']!r} is another trail's")
                else:
                    _count(result, record, outcome)
    return result


def _same_call(store: Store, project: str, trail: dict[str, Any]) -> bool:
    """Whether the trail a span's messageId conflicts with is that call's (its other span,
    recorded earlier: same project and trace), not another trail that took the id."""
    stored = store.get(trail["messageId"])
    if stored is None or stored.project_id != project:
        return False
    return bool((stored.metadata or {}).get("traceId") == trail["metadata"].get("traceId"))


def _project(record: SpanRecord, key_project: str | None, result: IngestResult) -> str | None:
    named = project_of(record)
    if key_project is None:
        if named is None:
            result.reject(record, "the admin key needs the resource attribute llmtrail.project.id")
        return named
    if named is not None and named != key_project:
        result.reject(record, f"llmtrail.project.id {named!r} is not this key's project")
        return None
    return key_project


def _count(result: IngestResult, record: SpanRecord, outcome: object) -> None:
    if isinstance(outcome, StoreOutcome):
        if outcome.created:
            result.stored += 1
        else:
            result.duplicates += 1  # the same export again
    elif isinstance(outcome, ConflictError):
        result.duplicates += 1  # the call's other span was recorded first
    elif isinstance(outcome, AuditTrailError):
        result.reject(record, str(outcome))
