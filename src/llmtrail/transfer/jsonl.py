"""JSON Lines export and import: one ``trail_to_wire`` object per line.

This is the format of ``GET /api/projects/{projectId}/audit-trails/export?format=jsonl``, so a
memory-backed service's trails can be saved before it restarts and loaded into a database.
Import keeps ids, timestamps and cost sources, is idempotent (a trail already there with the
same content is left alone; a newer copy replaces an older one), and validates the whole file
before writing anything: a bad line is reported with its line number and field, and nothing
is imported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from llmtrail.errors import FieldError, ValidationError
from llmtrail.model import ApiKey, AuditTrail, Project, TrailFilter, parse_trail, rules
from llmtrail.model.rules import Errors
from llmtrail.model.wire import dumps, loads, trail_to_wire
from llmtrail.store.base import MAX_PAGE, Store
from llmtrail.store.replicate import PutStats, put_trails

MAX_REPORTED = 20


@dataclass
class ImportReport:
    """What an import did."""

    lines: int = 0
    trails: PutStats = field(default_factory=PutStats)


Record = AuditTrail | Project | tuple[ApiKey, str]


def _record(data: object, n: int, now: datetime) -> Record:
    if isinstance(data, dict) and len(data) == 1 and "project" in data:
        p = data["project"]
        errs = Errors()
        pid = rules.project_id(errs, f"line {n}: project.id", _get(p, "id"))
        name = rules.text(errs, f"line {n}: project.name", _get(p, "name"), max_len=200)
        days = _get(p, "retentionDays")
        if days is not None:
            days = rules.integer(
                errs, f"line {n}: project.retentionDays", days, lo=0, hi=rules.MAX_RETENTION_DAYS
            )
        content_days = _get(p, "contentRetentionDays")
        if content_days is not None:
            content_days = rules.integer(
                errs, f"line {n}: project.contentRetentionDays", content_days, lo=0,
                hi=rules.MAX_RETENTION_DAYS,
            )  # fmt: skip
        hold = _get(p, "legalHold") or False
        if not isinstance(hold, bool):
            errs.add(f"line {n}: project.legalHold", "must be true or false")
        created = _get(p, "createdAt")
        if created is not None:
            created = rules.timestamp(errs, f"line {n}: project.createdAt", created)
        limit = rules.budget(errs, f"line {n}: project.budget", _get(p, "budget"))
        if errs:
            raise ValidationError(errs.items)
        assert pid is not None and name is not None
        return Project(pid, name, days, created, content_days, bool(hold), limit)
    if isinstance(data, dict) and len(data) == 1 and "apiKey" in data:
        k = data["apiKey"]
        errs = Errors()
        kid = rules.text(errs, f"line {n}: apiKey.id", _get(k, "id"), max_len=64)
        pid = rules.project_id(errs, f"line {n}: apiKey.projectId", _get(k, "projectId"))
        prefix = rules.text(errs, f"line {n}: apiKey.prefix", _get(k, "prefix"), max_len=16)
        digest = rules.text(errs, f"line {n}: apiKey.keyHash", _get(k, "keyHash"), max_len=64)
        created = rules.timestamp(errs, f"line {n}: apiKey.createdAt", _get(k, "createdAt"))
        revoked = _get(k, "revokedAt")
        if revoked is not None:
            revoked = rules.timestamp(errs, f"line {n}: apiKey.revokedAt", revoked)
        if errs:
            raise ValidationError(errs.items)
        assert kid and pid and prefix and digest and created
        return ApiKey(kid, pid, prefix, created, revoked), digest
    try:
        trail = parse_trail(data, None, now=now, trusted=True).trail  # type: ignore[arg-type]
    except ValidationError as e:
        raise ValidationError(
            [FieldError(f"line {n}: {f.field}".rstrip(": "), f.message) for f in e.errors]
        ) from None
    if trail.project_id is None:
        raise ValidationError("is required", field=f"line {n}: projectId")
    return trail


def _get(obj: object, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else None


def _read(path: Path) -> Iterator[tuple[int, Record | list[FieldError]]]:
    now = datetime.now(UTC)
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                data = loads(line)
            except ValueError as e:
                yield n, [FieldError(f"line {n}", f"is not valid JSON ({e})")]
                continue
            try:
                yield n, _record(data, n, now)
            except ValidationError as e:
                yield n, e.errors


def check_jsonl(path: Path) -> int:
    """Validate a JSONL file; returns its number of trails or raises ``ValidationError``
    listing the first bad lines."""
    errors: list[FieldError] = []
    count = 0
    for _, item in _read(path):
        if isinstance(item, list):
            if len(errors) < MAX_REPORTED:
                errors.extend(item)
        elif isinstance(item, AuditTrail):
            count += 1
    if errors:
        raise ValidationError(errors)
    return count


def import_jsonl(
    path: Path,
    target: Store,
    *,
    batch: int = 2_000,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Load a JSONL export into ``target`` (validated first; nothing written if any line is
    bad). Besides trail lines, ``{"project": {…}}`` and ``{"apiKey": {…, "keyHash": …}}``
    lines (from ``GET /api/admin/snapshot``) restore projects and keys; projects only named
    by trails are created on the fly."""
    check_jsonl(path)
    report = ImportReport()
    pending: list[AuditTrail] = []

    def flush() -> None:
        nonlocal pending
        if pending:
            report.trails.add(put_trails(target, pending))
            if progress is not None:
                progress(len(pending))
            pending = []

    for _, item in _read(path):
        report.lines += 1
        if isinstance(item, AuditTrail):
            pending.append(item)
            if len(pending) >= batch:
                flush()
        elif isinstance(item, Project):
            flush()
            target.put_project(item)
        elif isinstance(item, tuple):
            flush()
            target.put_key(*item)
    flush()
    return report


def export_jsonl(
    source: Store,
    out: TextIO,
    *,
    project_ids: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write every trail (of the given projects, or of all) as JSON Lines; returns the count."""
    ids = project_ids if project_ids is not None else [p.id for p in source.list_projects()]
    n = 0
    for pid in ids:
        for t in source.iter_trails(TrailFilter(pid), batch=MAX_PAGE):
            out.write(dumps(trail_to_wire(t)))
            out.write("\n")
            n += 1
            if progress is not None and n % 1000 == 0:
                progress(1000)
    return n
