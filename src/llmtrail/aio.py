"""Async access to a store without blocking the event loop (each call runs in a thread)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from llmtrail.analytics import Analytics
from llmtrail.model import AuditTrail, Page, Project, StoreOutcome, TrailFilter
from llmtrail.store import Store, open_store
from llmtrail.store.base import TrailInput

T = TypeVar("T")


class AsyncStore:
    """The ``Store`` API as coroutines: ``await astore.store(trail, project_id)``."""

    def __init__(self, store: Store) -> None:
        self.sync = store

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))

    async def store(self, trail: TrailInput, project_id: str | None = None) -> AuditTrail:
        return await self._run(self.sync.store, trail, project_id)

    async def store_outcome(self, trail: TrailInput, project_id: str | None = None) -> StoreOutcome:
        return await self._run(self.sync.store_outcome, trail, project_id)

    async def get(self, message_id: str) -> AuditTrail | None:
        return await self._run(self.sync.get, message_id)

    async def update(self, message_id: str, **fields: Any) -> AuditTrail:
        return await self._run(self.sync.update, message_id, **fields)

    async def create_placeholder(
        self,
        message_id: str,
        model: str,
        context_layers: int = 0,
        project_id: str | None = None,
        **extra: Any,
    ) -> AuditTrail:
        return await self._run(
            self.sync.create_placeholder, message_id, model, context_layers, project_id, **extra
        )

    async def cleanup(self, days_old: float | None = None) -> int:
        return await self._run(self.sync.cleanup, days_old)

    async def list_trails(
        self, filter: TrailFilter, *, limit: int = 100, cursor: str | None = None
    ) -> Page:
        return await self._run(self.sync.list_trails, filter, limit=limit, cursor=cursor)

    async def analytics(
        self,
        project_id: str,
        *,
        days: int = 30,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        tz: str = "UTC",
    ) -> Analytics:
        return await self._run(
            self.sync.analytics, project_id, days=days, since=since, until=until, tz=tz
        )

    async def create_project(
        self, id: str, name: str | None = None, retention_days: int | None = None
    ) -> Project:
        return await self._run(self.sync.create_project, id, name, retention_days)

    async def delete_project(self, id: str) -> None:
        await self._run(self.sync.delete_project, id)

    async def aclose(self) -> None:
        await self._run(self.sync.close)

    async def __aenter__(self) -> AsyncStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def open_async_store(url: str | None = None, **kw: Any) -> AsyncStore:
    """``open_store`` for async apps (opening and migrating run in a thread)."""
    return AsyncStore(await asyncio.to_thread(functools.partial(open_store, url, **kw)))
