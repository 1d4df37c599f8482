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
from typing import TextIO

from llmtrail.errors import FieldError, ValidationError
from llmtrail.model import AuditTrail, TrailFilter, parse_trail
from llmtrail.model.wire import dumps, loads, trail_to_wire
from llmtrail.store.base import MAX_PAGE, Store
from llmtrail.store.replicate import PutStats, put_trails

MAX_REPORTED = 20


@dataclass
class ImportReport:
    """What an import did."""

    lines: int = 0
    trails: PutStats = field(default_factory=PutStats)


def _read(path: Path) -> Iterator[tuple[int, AuditTrail | list[FieldError]]]:
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
                trail = parse_trail(data, None, now=now, trusted=True).trail
            except ValidationError as e:
                yield n, [FieldError(f"line {n}: {f.field}", f.message) for f in e.errors]
                continue
            if trail.project_id is None:
                yield n, [FieldError(f"line {n}: projectId", "is required")]
                continue
            yield n, trail


def check_jsonl(path: Path) -> int:
    """Validate a JSONL file; returns its number of trails or raises ``ValidationError``
    listing the first bad lines."""
    errors: list[FieldError] = []
    count = 0
    for _, item in _read(path):
        if isinstance(item, AuditTrail):
            count += 1
        elif len(errors) < MAX_REPORTED:
            errors.extend(item)
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
    bad). Projects named in the file are created if missing."""
    check_jsonl(path)
    report = ImportReport()
    pending: list[AuditTrail] = []
    for _, item in _read(path):
        assert isinstance(item, AuditTrail)
        pending.append(item)
        report.lines += 1
        if len(pending) >= batch:
            report.trails.add(put_trails(target, pending))
            if progress is not None:
                progress(len(pending))
            pending = []
    if pending:
        report.trails.add(put_trails(target, pending))
        if progress is not None:
            progress(len(pending))
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
