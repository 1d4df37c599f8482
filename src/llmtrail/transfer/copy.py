"""``llmtrail copy``: backfill projects, keys and trails from one store into another.

Trails are read project by project in the stores' stable listing order (timestamp, id —
newest first) and written in batches with one transaction each (``put_trails``: a multi-row
``INSERT … ON CONFLICT DO NOTHING`` plus the rollup update). After every committed batch the
position is saved to a small state file (written atomically). An interrupted copy — Ctrl-C,
a crash, SIGKILL — resumes from the last saved position; the batch in flight is at most
written twice, and writing a trail twice is a no-op, so there are never duplicates. When the
copy completes the state file is removed, so running it again re-checks everything and
changes nothing (or fills in whatever arrived since).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmtrail.errors import AuditTrailError, ValidationError
from llmtrail.model import AuditTrail, TrailFilter
from llmtrail.store.base import MAX_PAGE, Store
from llmtrail.store.replicate import PutStats, put_trails

log = logging.getLogger("llmtrail.transfer")
Progress = Callable[[int], None]


@dataclass
class CopyReport:
    """What a copy did (trail counts cover this run only, resumed batches included)."""

    projects: int = 0
    keys: int = 0
    trails: PutStats = field(default_factory=PutStats)
    resumed: bool = False

    @property
    def written(self) -> int:
        return self.trails.created + self.trails.overwritten


def default_state_path(source: str, target: str) -> Path:
    """The state file of a copy between these two URLs (in the working directory)."""
    digest = hashlib.sha256(f"{source}\n{target}".encode()).hexdigest()[:12]
    return Path(f".llmtrail-copy-{digest}.json")


class _State:
    def __init__(self, path: Path | None, source: str, target: str, restart: bool) -> None:
        self.path = path
        self.data: dict[str, Any] = {"source": source, "target": target, "done": []}
        self.resumed = False
        if path is not None and path.exists() and not restart:
            loaded = json.loads(path.read_text())
            if loaded.get("source") != source or loaded.get("target") != target:
                raise ValidationError(
                    f"{path} belongs to a copy between other databases; use --restart",
                    field="state",
                )
            self.data = loaded
            self.resumed = True

    @property
    def done(self) -> list[str]:
        done: list[str] = self.data.setdefault("done", [])
        return done

    def position(self, project_id: str) -> str | None:
        if self.data.get("project") == project_id:
            cursor: str | None = self.data.get("cursor")
            return cursor
        return None

    def save(self, **changes: Any) -> None:
        self.data.update(changes)
        if self.path is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as fh:
            json.dump(self.data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def finish(self) -> None:
        if self.path is not None and self.path.exists():
            self.path.unlink()


def copy_store(
    source: Store,
    target: Store,
    *,
    batch: int = 2_000,
    state_path: Path | None = None,
    restart: bool = False,
    source_name: str = "",
    target_name: str = "",
    progress: Progress | None = None,
) -> CopyReport:
    """Copy every project, API key and trail of ``source`` into ``target`` (see the module
    docstring). ``progress`` is called with the number of trails handled after each batch."""
    if not 1 <= batch <= 100_000:
        raise ValidationError("must be between 1 and 100000", field="batch")
    state = _State(state_path, source_name, target_name, restart)
    report = CopyReport(resumed=state.resumed)
    for project in source.list_projects():
        if target.put_project(project):
            report.projects += 1
    try:
        for record, digest in source.key_records():
            if target.put_key(record, digest):
                report.keys += 1
    except AuditTrailError as e:
        log.warning("API keys not copied: %s", e)
    for project in source.list_projects():
        if project.id in state.done:
            continue
        _copy_project(source, target, project.id, state, batch, report, progress)
        state.save(done=[*state.done, project.id], project=None, cursor=None)
    state.finish()
    return report


def _copy_project(
    source: Store,
    target: Store,
    project_id: str,
    state: _State,
    batch: int,
    report: CopyReport,
    progress: Progress | None,
) -> None:
    cursor = state.position(project_id)
    pending: list[AuditTrail] = []
    while True:
        page = source.list_trails(
            TrailFilter(project_id), limit=min(MAX_PAGE, batch), cursor=cursor
        )
        pending.extend(page.items)
        cursor = page.next_cursor
        if len(pending) >= batch or cursor is None:
            if pending:
                report.trails.add(put_trails(target, pending))
                state.save(project=project_id, cursor=cursor)
                if progress is not None:
                    progress(len(pending))
                pending = []
            if cursor is None:
                return
