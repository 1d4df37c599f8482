"""``llmtrail verify-chain``: recompute the ledger's chains and every trail's hash.

From one snapshot of the database (``Store.ledger_snapshot``):

1. every checkpoint's signature is checked against the trusted public key (``forged`` when it
   does not verify: the checkpoint was written or replaced by someone without the key);
2. each project's entries are folded again in chain order; at each checkpoint the count and
   root must equal the signed ones. When they do not, the checkpoint's entry locator names
   the entries that were changed, removed, added or reordered (``ledger-changed``, …), and
   the fold goes on from the signed head, so one edit is reported once;
3. every stored trail is hashed and compared with its latest entry: ``changed`` (the row
   differs), ``inserted`` (a row no entry records), and, for entries with no row,
   ``deleted`` — unless a later ``expire`` entry of its project covers its timestamp or the
   project was dropped (retention and project deletion verify clean).

Entries after the newest checkpoint are not sealed yet: rows are still checked against
them, but an edit of both a row and its unsealed entry cannot be detected (docs/audit.md).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from llmtrail.ledger.entries import (
    Checkpoint,
    LedgerEntry,
    chain,
    content_hash,
    genesis,
    read_locator,
)
from llmtrail.ledger.signing import Verifier
from llmtrail.store.base import LedgerView, Store

_NEVER = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Finding:
    """One thing that does not verify."""

    kind: str
    project_id: str
    message_id: str | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "projectId": self.project_id,
            "messageId": self.message_id,
            "detail": self.detail,
        }

    def __str__(self) -> str:
        what = f" {self.message_id}" if self.message_id is not None else ""
        return f"{self.kind:<16} {self.project_id}{what}  {self.detail}".rstrip()


@dataclass
class ChainReport:
    """What ``verify_chain`` checked and found."""

    projects: int = 0
    entries: int = 0
    sealed: int = 0
    checkpoints: int = 0
    trails: int = 0
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "projects": self.projects,
            "entries": self.entries,
            "sealedEntries": self.sealed,
            "checkpoints": self.checkpoints,
            "trails": self.trails,
            "seconds": round(self.seconds, 3),
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass
class _Expected:
    project_id: str
    digest: bytes
    timestamp: datetime | None
    position: int


@dataclass
class _Chain:
    """One project's fold in progress."""

    project_id: str
    root: bytes
    count: int = 0
    pending: list[Checkpoint] = field(default_factory=list)  # by seq, not yet reached
    segment: list[LedgerEntry] = field(default_factory=list)  # since the last checkpoint
    # (position, cutoff) of expire/drop entries, by position; suffix maxima of the cutoffs
    events: list[tuple[int, datetime]] = field(default_factory=list)


def verify_chain(store: Store, verifier: Verifier, *, project_id: str | None = None) -> ChainReport:
    """Verify the ledger and the trails of ``store`` (of one project) against the checkpoints
    signed by ``verifier``'s key."""
    started = time.monotonic()
    report = ChainReport()
    with store.ledger_snapshot() as view:
        _Run(view, verifier, report).run(project_id)
    report.seconds = time.monotonic() - started
    return report


class _Run:
    def __init__(self, view: LedgerView, verifier: Verifier, report: ChainReport) -> None:
        self.view = view
        self.verifier = verifier
        self.report = report
        self.chains: dict[str, _Chain] = {}
        self.expected: dict[str, _Expected] = {}
        self._located: dict[str, dict[int, Checkpoint]] = {}

    def find(self, kind: str, project_id: str, message_id: str | None, detail: str) -> None:
        self.report.findings.append(Finding(kind, project_id, message_id, detail))

    def run(self, project_id: str | None) -> None:
        ids = [project_id] if project_id is not None else self.view.projects()
        self.report.projects = len(ids)
        for pid in ids:
            self.chains[pid] = _Chain(pid, genesis(pid))
        for cp in self.view.checkpoints(project_id):
            ch = self.chains.setdefault(
                cp.project_id, _Chain(cp.project_id, genesis(cp.project_id))
            )
            self.report.checkpoints += 1
            if self.verifier.verify(cp.signature, cp.message()):
                ch.pending.append(cp)
            else:
                self.find(
                    "forged",
                    cp.project_id,
                    None,
                    f"checkpoint {cp.seq} is not signed by key {self.verifier.key_id} "
                    f"(signed by {cp.key_id!r})",
                )
        for position, e in enumerate(self.view.entries(project_id)):
            self.report.entries += 1
            ch = self.chains.setdefault(e.project_id, _Chain(e.project_id, genesis(e.project_id)))
            while ch.pending and e.order is not None and e.order >= ch.pending[0].bound:
                self._reach(ch, ch.pending.pop(0))
            ch.root = chain(ch.root, e.digest())
            ch.count += 1
            ch.segment.append(e)
            self._apply(ch, e, position)
        for ch in self.chains.values():
            while ch.pending:
                self._reach(ch, ch.pending.pop(0))
        self._rows(ids if project_id is not None else None)

    def _apply(self, ch: _Chain, e: LedgerEntry, position: int) -> None:
        if e.op in ("create", "update", "redact", "adopt") and e.message_id and e.content_hash:
            self.expected[e.message_id] = _Expected(
                e.project_id, e.content_hash, e.trail_timestamp, position
            )
        elif e.op == "expire" and e.cutoff is not None:
            ch.events.append((position, e.cutoff))
        elif e.op == "drop":
            ch.events.append((position, _NEVER))

    def _reach(self, ch: _Chain, cp: Checkpoint) -> None:
        """The fold reached checkpoint ``cp``: compare, name what differs, go on from it."""
        if ch.count == cp.seq and ch.root == cp.root:
            self.report.sealed += len(ch.segment)
        else:
            self._locate(ch, cp)
            ch.root, ch.count = cp.root, cp.seq
        ch.segment = []

    def _locate(self, ch: _Chain, cp: Checkpoint) -> None:
        located = self._located.get(ch.project_id)
        if located is None:
            located = {c.seq: c for c in self.view.checkpoints(ch.project_id, with_entries=True)}
            self._located[ch.project_id] = located
        full = located.get(cp.seq)
        signed = read_locator(full.entries) if full is not None else []
        have = [(e.id or 0, e.digest()[:16]) for e in ch.segment]
        by_id = {e.id: e for e in ch.segment}
        signed_ids = {i for i, _ in signed}
        have_ids = {i for i, _ in have}
        named = False
        for i, _ in signed:
            if i not in have_ids:
                self.find(
                    "ledger-removed",
                    ch.project_id,
                    None,
                    f"entry {i} (sealed in checkpoint {cp.seq}) is gone",
                )
                named = True
        for i, _ in have:
            e = by_id[i]
            if i not in signed_ids:
                self.find(
                    "ledger-inserted",
                    ch.project_id,
                    e.message_id,
                    f"entry {i} ({e.op}) was not in checkpoint {cp.seq}",
                )
                named = True
        signed_map = dict(signed)
        for i, d in have:
            if i in signed_map and signed_map[i] != d:
                e = by_id[i]
                self.find(
                    "ledger-changed",
                    ch.project_id,
                    e.message_id,
                    f"entry {i} ({e.op}) differs from what checkpoint {cp.seq} sealed",
                )
                named = True
        if not named and [i for i, _ in signed] != [i for i, _ in have]:
            self.find(
                "ledger-reordered",
                ch.project_id,
                None,
                f"entries before checkpoint {cp.seq} are out of their sealed order",
            )
            named = True
        if not named:
            self.find(
                "ledger-mismatch",
                ch.project_id,
                None,
                f"entries up to checkpoint {cp.seq} do not fold to its signed root",
            )

    def _rows(self, ids: Iterable[str] | None) -> None:
        trails = (
            (t for pid in ids for t in self.view.trails(pid))
            if ids is not None
            else self.view.trails()
        )
        for t in trails:
            self.report.trails += 1
            pid = t.project_id or ""
            exp = self.expected.pop(t.message_id, None)
            if exp is None:
                self.find("inserted", pid, t.message_id, "a stored trail no ledger entry records")
            elif exp.digest != content_hash(t):
                self.find(
                    "changed",
                    pid,
                    t.message_id,
                    "the stored trail differs from its last recorded write",
                )
            elif exp.project_id != pid:
                self.find("changed", pid, t.message_id, f"recorded in project {exp.project_id}")
        maxima: dict[str, tuple[list[int], list[datetime]]] = {}
        for mid, exp in self.expected.items():
            ch = self.chains.get(exp.project_id)
            if ch is not None and _excused(ch, exp, maxima):
                continue
            self.find(
                "deleted",
                exp.project_id,
                mid,
                "a recorded trail is missing, and no retention or project deletion removed it",
            )


def _excused(
    ch: _Chain, exp: _Expected, cache: dict[str, tuple[list[int], list[datetime]]]
) -> bool:
    """Whether an expire/drop entry after ``exp`` covers its timestamp."""
    if not ch.events:
        return False
    found = cache.get(ch.project_id)
    if found is None:
        suffix = [c for _, c in ch.events]  # the latest cutoff at or after each event
        for k in range(len(suffix) - 2, -1, -1):
            suffix[k] = max(suffix[k], suffix[k + 1])
        found = cache[ch.project_id] = ([p for p, _ in ch.events], suffix)
    positions, suffix = found
    k = bisect.bisect_right(positions, exp.position)
    return k < len(suffix) and (exp.timestamp is None or suffix[k] > exp.timestamp)
