"""Projects and API keys as replication writes them: corrected in place, keys by their hash.

``SQLStore.put_project``/``put_key``/``key_records`` (the ``Store`` replication verbs) run
these, so copy, import and dual mode never reach into the SQL tables themselves.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import Connection, RowMapping, select, update

from llmtrail.model import ApiKey, Project
from llmtrail.store.sql import dialects
from llmtrail.store.sql.schema import api_keys, projects


def row_to_key(r: RowMapping) -> ApiKey:
    return ApiKey(r["id"], r["project_id"], r["prefix"], r["created_at"], r["revoked_at"])


def set_project(conn: Connection, project: Project) -> None:
    """Make the stored project equal ``project`` (name, retention policies, createdAt)."""
    conn.execute(
        update(projects)
        .where(projects.c.id == project.id)
        .values(
            name=project.name,
            retention_days=project.retention_days,
            created_at=project.created_at,
            content_retention_days=project.content_retention_days,
            legal_hold=project.legal_hold,
            budget_amount=None if project.budget is None else project.budget.amount,
            budget_period=None if project.budget is None else project.budget.period,
        )
    )


def key_records(conn: Connection) -> list[tuple[ApiKey, str]]:
    """Every key with its secret's hash, oldest first."""
    rows = conn.execute(select(api_keys).order_by(api_keys.c.created_at)).mappings()
    return [(row_to_key(r), str(r["key_hash"])) for r in rows]


def put_key(conn: Connection, record: ApiKey, digest: str) -> None:
    """Insert the key, or carry its revocation over if it exists."""
    row: dict[str, Any] = {**dataclasses.asdict(record), "key_hash": digest}
    ins = dialects.insert(conn.dialect.name, api_keys)
    stmt = ins.on_conflict_do_update(
        index_elements=["id"], set_={"revoked_at": ins.excluded.revoked_at}
    )
    conn.execute(stmt, row)
