"""Group commit: concurrent ``POST …/audit-trails`` requests share one transaction.

While one batch is being committed, new trails queue up; the next batch takes all of them
(up to ``max_batch``) into one ``store_many`` call, so one commit (one fsync) serves many
requests. Each request is answered only after the commit that holds its trail, with exactly
the outcome it would have had alone (201 new, 200 identical retry, 409, 422). Nothing waits
for a timer: a lone request is committed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Mapping
from typing import Any, NamedTuple

import structlog
from starlette.concurrency import run_in_threadpool

from llmtrail.errors import AuditTrailError
from llmtrail.metrics import GROUP_COMMIT_TRAILS, STORE_ERRORS
from llmtrail.model import StoreOutcome
from llmtrail.store import Store

log = structlog.stdlib.get_logger("llmtrail.server.group_commit")


class Item(NamedTuple):
    """One queued trail and the future its request waits on."""

    data: Mapping[str, Any]
    project_id: str
    create_project: bool
    future: asyncio.Future[StoreOutcome | AuditTrailError]


class GroupCommit:
    """One background task batching trail inserts into ``store.store_many``."""

    def __init__(self, store: Store, max_batch: int = 256) -> None:
        self.store = store
        self.max_batch = max_batch
        self._queue: asyncio.Queue[Item] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the batching task in the running event loop."""
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run(self._queue))

    async def stop(self) -> None:
        """Stop the task; queued requests are still committed first."""
        if self._task is None or self._queue is None:
            return
        if not self._task.done():  # let queued trails reach the database first
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), timeout=30)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = self._queue = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def store_outcome(
        self, data: Mapping[str, Any], project_id: str, *, create_project: bool = True
    ) -> StoreOutcome:
        """Store one trail of ``project_id`` in the next group commit; its outcome."""
        if not self.running or self._queue is None:
            return await run_in_threadpool(
                functools.partial(
                    self.store.store_outcome, data, project_id, create_project=create_project
                )
            )
        future: asyncio.Future[StoreOutcome | AuditTrailError] = (
            asyncio.get_running_loop().create_future()
        )
        self._queue.put_nowait(Item(data, project_id, create_project, future))
        result = await future
        if isinstance(result, AuditTrailError):
            raise result
        return result

    async def _run(self, queue: asyncio.Queue[Item]) -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < self.max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            GROUP_COMMIT_TRAILS.observe(len(batch))
            # One store_many per (project, may-create) group: the store validates each trail
            # against its own project exactly as a lone request would (every bad field named).
            groups: dict[tuple[str, bool], list[Item]] = {}
            for item in batch:
                groups.setdefault((item.project_id, item.create_project), []).append(item)
            for (project_id, create), items in groups.items():
                await self._commit(project_id, create, items)
                for _ in items:
                    queue.task_done()
            if len(batch) > 1:
                log.debug("group commit", trails=len(batch), groups=len(groups))

    async def _commit(self, project_id: str, create: bool, items: list[Item]) -> None:
        try:
            results: list[Any] = await run_in_threadpool(
                functools.partial(
                    self.store.store_many,
                    [item.data for item in items],
                    project_id,
                    create_project=create,
                )
            )
        except Exception as e:  # the whole batch failed, e.g. the database is down
            STORE_ERRORS.labels(self.store.backend, type(e).__name__).inc()
            log.warning("group commit failed", trails=len(items), error=str(e))
            results = [e] * len(items)
        for item, result in zip(items, results, strict=True):
            if not item.future.done():  # the client may have gone away
                if isinstance(result, BaseException) and not isinstance(result, AuditTrailError):
                    item.future.set_exception(result)
                else:
                    item.future.set_result(result)
