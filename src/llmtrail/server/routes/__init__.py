"""The API's routers: one module per resource, each exposing ``router: APIRouter``.

Optional modules (written by other parts of the project) are included when they exist;
adding one needs no change here beyond being listed in ``OPTIONAL``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from fastapi import FastAPI

#: always present
CORE: tuple[str, ...] = ("health", "docs", "metrics", "projects", "keys", "export", "trails")
#: included when the module exists
OPTIONAL: tuple[str, ...] = (
    *("admin", "analytics", "dashboard", "chat", "snapshot", "otlp", "access_log", "ledger"),
)


def _load(name: str, *, optional: bool) -> ModuleType | None:
    full = f"{__name__}.{name}"
    try:
        return importlib.import_module(full)
    except ModuleNotFoundError as e:
        if optional and e.name == full:
            return None
        raise


def route_modules() -> list[ModuleType]:
    """Every router module to include, core first (order matters for path matching)."""
    mods = [_load(n, optional=False) for n in CORE] + [_load(n, optional=True) for n in OPTIONAL]
    return [m for m in mods if m is not None]


def include_all(app: FastAPI) -> None:
    """Include every router module's ``router`` in ``app``."""
    for mod in route_modules():
        app.include_router(mod.router)
