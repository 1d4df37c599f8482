"""``llmtrail verify``: prove two stores hold the same projects and trails.

Both sides are streamed project by project in the same stable order (timestamp, id — newest
first) and merged like a sort-merge join, comparing a checksum of each trail's canonical JSON
(every field, ids and timestamps included). Memory stays proportional to the differences, not
to the data: only trails without a partner at the same position are remembered (by messageId
and checksum). At the end each remaining trail is fetched again from both sides, so trails
that were mid-write during the scan settle, and changed trails are reported with the names of
the fields that differ. Projects are compared by id, name and retention (not by createdAt:
a project created implicitly by an import gets the time of the import).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from llmtrail.model import AuditTrail, Project, TrailFilter
from llmtrail.store.base import MAX_PAGE, Store
from llmtrail.store.replicate import checksum, diff_fields

RECHECK_LIMIT = 20_000


@dataclass(frozen=True)
class Difference:
    """One trail (or project) that differs: ``missing`` from the target, ``extra`` on the
    target, or ``changed`` (with the JSON names of the differing fields)."""

    kind: str
    project_id: str
    message_id: str | None
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        what = f"trail {self.message_id}" if self.message_id is not None else "project"
        detail = f" ({', '.join(self.fields)})" if self.fields else ""
        return f"{self.kind:<7} {self.project_id} {what}{detail}"


@dataclass
class VerifyReport:
    """Counts per project on both sides and every difference found."""

    counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    @property
    def source_total(self) -> int:
        return sum(s for s, _ in self.counts.values())

    @property
    def target_total(self) -> int:
        return sum(t for _, t in self.counts.values())

    def summary(self) -> dict[str, int]:
        out = {"missing": 0, "extra": 0, "changed": 0}
        for d in self.differences:
            out[d.kind] = out.get(d.kind, 0) + 1
        return out


def _stream(store: Store, project_id: str, batch: int) -> Iterator[AuditTrail]:
    yield from store.iter_trails(TrailFilter(project_id), batch=min(batch, MAX_PAGE))


def _key(t: AuditTrail) -> tuple[datetime, str]:
    assert t.timestamp is not None
    return (t.timestamp, t.id or "")


def verify_stores(
    source: Store,
    target: Store,
    *,
    batch: int = MAX_PAGE,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Compare every project and trail of two stores (see the module docstring)."""
    report = VerifyReport()
    src_projects = {p.id: p for p in source.list_projects()}
    tgt_projects = {p.id: p for p in target.list_projects()}
    for pid in sorted(src_projects.keys() | tgt_projects.keys()):
        _compare_project(report, pid, src_projects.get(pid), tgt_projects.get(pid))
        missing: dict[str, bytes] = {}
        extra: dict[str, bytes] = {}
        n_src, n_tgt = _merge(
            _stream(source, pid, batch) if pid in src_projects else iter(()),
            _stream(target, pid, batch) if pid in tgt_projects else iter(()),
            missing,
            extra,
            progress,
        )
        report.counts[pid] = (n_src, n_tgt)
        report.differences.extend(_settle(source, target, pid, missing, extra))
    return report


def _compare_project(
    report: VerifyReport, pid: str, src: Project | None, tgt: Project | None
) -> None:
    if src is None or tgt is None:
        report.differences.append(Difference("missing" if tgt is None else "extra", pid, None))
        return
    fields = tuple(
        name
        for name, a, b in (
            ("name", src.name, tgt.name),
            ("retentionDays", src.retention_days, tgt.retention_days),
        )
        if a != b
    )
    if fields:
        report.differences.append(Difference("changed", pid, None, fields))


def _merge(
    src: Iterator[AuditTrail],
    tgt: Iterator[AuditTrail],
    missing: dict[str, bytes],
    extra: dict[str, bytes],
    progress: Callable[[int], None] | None,
) -> tuple[int, int]:
    n_src = n_tgt = reported = 0
    a = next(src, None)
    b = next(tgt, None)
    while a is not None or b is not None:
        if b is None or (a is not None and _key(a) > _key(b)):
            assert a is not None
            _unmatched(a, missing, extra)
            n_src += 1
            a = next(src, None)
        elif a is None or _key(b) > _key(a):
            _unmatched(b, extra, missing)
            n_tgt += 1
            b = next(tgt, None)
        else:
            if a.message_id != b.message_id or checksum(a) != checksum(b):
                _unmatched(a, missing, extra)
                _unmatched(b, extra, missing)
            n_src += 1
            n_tgt += 1
            a = next(src, None)
            b = next(tgt, None)
        if progress is not None and n_src + n_tgt - reported >= 1000:
            progress(n_src + n_tgt - reported)
            reported = n_src + n_tgt
    if progress is not None:
        progress(n_src + n_tgt - reported)
    return n_src, n_tgt


def _unmatched(t: AuditTrail, mine: dict[str, bytes], theirs: dict[str, bytes]) -> None:
    """Remember a trail without a partner at its position, unless the other side's copy
    (met earlier, out of order) is identical."""
    digest = checksum(t)
    if theirs.get(t.message_id) == digest:
        del theirs[t.message_id]
    else:
        mine[t.message_id] = digest


def _settle(
    source: Store, target: Store, pid: str, missing: dict[str, bytes], extra: dict[str, bytes]
) -> list[Difference]:
    out: list[Difference] = []
    suspects = sorted(missing.keys() | extra.keys())
    for i, mid in enumerate(suspects):
        if i >= RECHECK_LIMIT:  # too many to fetch one by one: report what the scan saw
            kind = (
                "changed"
                if mid in missing and mid in extra
                else ("missing" if mid in missing else "extra")
            )
            out.append(Difference(kind, pid, mid))
            continue
        a, b = source.get(mid), target.get(mid)
        a = a if a is not None and a.project_id == pid else None
        b = b if b is not None and b.project_id == pid else None
        if a is None and b is None:
            continue
        if b is None:
            out.append(Difference("missing", pid, mid))
        elif a is None:
            out.append(Difference("extra", pid, mid))
        else:
            fields = diff_fields(a, b)
            if fields:
                out.append(Difference("changed", pid, mid, tuple(fields)))
    return out
