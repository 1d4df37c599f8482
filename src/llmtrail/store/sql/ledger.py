"""The ledger in the SQL backend: appending entries, sealing them, reading them back.

Entries are appended by the write that they record, in its transaction (``append``; the
PostgreSQL hot paths append in the same statement, see ``pg_statements.py``), and never
updated. Sealing (``seal_step``) takes the settled entries since the last seal in chain order
and stores one signed checkpoint per project that has new ones. Sealers exclude each other
with a row lock on the ``ledger.seal`` state row (``FOR UPDATE SKIP LOCKED``: a second sealer
returns at once), which no write touches: writes never wait for a seal.

Why the chain order on PostgreSQL is the writing transaction's id: ids from a sequence are
handed out before commit, so a sealer that saw ids 1, 2 and 4 cannot know whether 3 is still
coming. Every transaction whose id is below ``pg_snapshot_xmin`` has ended, so entries ordered
by transaction id are settled below it; later writes of a trail have larger transaction ids
than earlier ones (a write waits for the row lock of the one before it, or reads its commit;
batch rewrites pick their rows ``SKIP LOCKED``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, and_, func, select, tuple_
from sqlalchemy.engine import Engine

from llmtrail.ledger.entries import Checkpoint, LedgerEntry
from llmtrail.model import AuditTrail
from llmtrail.store.sql import dialects
from llmtrail.store.sql.rows import row_to_trail
from llmtrail.store.sql.schema import (
    audit_trails,
    ledger_checkpoints,
    ledger_entries,
    projects,
    store_state,
)

SEAL_STATE = "ledger.seal"
Make = Callable[[list[LedgerEntry], dict[str, Checkpoint], int], list[Checkpoint]]


def entry_row(e: LedgerEntry) -> dict[str, Any]:
    return {
        "project_id": e.project_id,
        "op": e.op,
        "message_id": e.message_id,
        "content_hash": e.content_hash,
        "trail_timestamp": e.trail_timestamp,
        "cutoff": e.cutoff,
        "at": e.at,
    }


def append(conn: Connection, entries: Sequence[LedgerEntry]) -> None:
    """Append entries in the caller's transaction."""
    if entries:
        stmt = ledger_entries.insert().values(txid=dialects.ledger_txid(conn.dialect.name))
        conn.execute(stmt, [entry_row(e) for e in entries])


def _order(dialect: str) -> Any:
    return ledger_entries.c.txid if dialect == "postgresql" else ledger_entries.c.id


def _entry(r: Any, dialect: str) -> LedgerEntry:
    return LedgerEntry(
        project_id=r.project_id,
        op=r.op,
        at=r.at,
        message_id=r.message_id,
        content_hash=None if r.content_hash is None else bytes(r.content_hash),
        trail_timestamp=r.trail_timestamp,
        cutoff=r.cutoff,
        id=r.id,
        order=r.txid if dialect == "postgresql" else r.id,
    )


def _checkpoint(r: Any, with_entries: bool = True) -> Checkpoint:
    return Checkpoint(
        project_id=r.project_id,
        seq=int(r.seq),
        root=bytes(r.root),
        bound=int(r.bound),
        signed_at=r.signed_at,
        signature=bytes(r.signature),
        key_id=r.key_id,
        entries=bytes(r.entries) if with_entries else b"",
    )


def iter_entries(engine: Engine, project_id: str | None = None) -> Iterator[LedgerEntry]:
    """Every entry (of one project) in chain order, streamed."""
    with engine.connect() as conn:
        yield from SQLLedgerView(conn).entries(project_id)


def checkpoints(
    engine: Engine, project_id: str | None = None, *, with_entries: bool = False
) -> list[Checkpoint]:
    """The checkpoints (of one project), by project and seq."""
    with engine.connect() as conn:
        return SQLLedgerView(conn).checkpoints(project_id, with_entries=with_entries)


@contextmanager
def snapshot(engine: Engine) -> Iterator[SQLLedgerView]:
    """A ``LedgerView`` of one consistent snapshot (REPEATABLE READ on PostgreSQL; SQLite's
    read transaction), so writes meanwhile cannot look like tampering."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield SQLLedgerView(conn)


class SQLLedgerView:
    """The ledger, checkpoints and trails as one connection (transaction) sees them."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name

    def projects(self) -> list[str]:
        """Every project id: of the projects table and of the ledger (deleted ones too)."""
        ids = set(self.conn.execute(select(projects.c.id)).scalars())
        ids.update(self.conn.execute(select(ledger_entries.c.project_id).distinct()).scalars())
        return sorted(ids)

    def entries(self, project_id: str | None = None) -> Iterator[LedgerEntry]:
        q = select(ledger_entries)
        if project_id is not None:
            q = q.where(ledger_entries.c.project_id == project_id)
        q = q.order_by(_order(self.dialect), ledger_entries.c.id)
        for r in self.conn.execution_options(yield_per=5_000).execute(q):
            yield _entry(r, self.dialect)

    def checkpoints(
        self, project_id: str | None = None, *, with_entries: bool = False
    ) -> list[Checkpoint]:
        c = ledger_checkpoints.c
        cols = [col for col in ledger_checkpoints.c if with_entries or col.name != "entries"]
        q = select(*cols)
        if project_id is not None:
            q = q.where(c.project_id == project_id)
        rows = self.conn.execute(q.order_by(c.project_id, c.seq)).all()
        return [_checkpoint(r, with_entries) for r in rows]

    def trails(self, project_id: str | None = None) -> Iterator[AuditTrail]:
        q = select(audit_trails)
        if project_id is not None:
            q = q.where(audit_trails.c.project_id == project_id)
        for r in self.conn.execution_options(yield_per=2_000).execute(q).mappings():
            yield row_to_trail(r)


def latest(engine: Engine, project_id: str) -> Checkpoint | None:
    c = ledger_checkpoints.c
    q = (
        select(*[col for col in ledger_checkpoints.c if col.name != "entries"])
        .where(c.project_id == project_id)
        .order_by(c.seq.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(q).first()
    return None if row is None else _checkpoint(row, False)


def seal_step(
    engine: Engine, make: Make, limit: int, now: Any
) -> tuple[int, list[Checkpoint], bool]:
    """Seal up to about ``limit`` settled entries in one transaction: ``make(entries, heads,
    bound)`` turns them (in chain order) and each project's latest checkpoint into the new
    checkpoints. Returns (entries sealed, checkpoints stored, whether more are waiting);
    (0, [], False) at once when another sealer holds the lock."""
    dialect = engine.dialect.name
    state = store_state.c
    with engine.execution_options(**dialects.write_options(dialect)).begin() as conn:
        seed = dialects.insert(dialect, store_state).values(
            key=SEAL_STATE, value={"bound": 0}, updated_at=now
        )
        conn.execute(seed.on_conflict_do_nothing(index_elements=["key"]))
        q = select(state.value).where(state.key == SEAL_STATE)
        if dialect == "postgresql":
            q = q.with_for_update(skip_locked=True)
        value = conn.execute(q).scalar_one_or_none()
        if value is None:
            return 0, [], False  # another sealer is at it
        start = int((value or {}).get("bound", 0))
        settled = dialects.ledger_settled(conn)
        if settled <= start:
            return 0, [], False
        entries, bound, more = _settled_entries(conn, dialect, start, settled, limit)
        if not entries:
            _set_bound(conn, bound, now)
            return 0, [], more
        heads = _heads(conn, sorted({e.project_id for e in entries}))
        made = make(entries, heads, bound)
        conn.execute(
            ledger_checkpoints.insert(),
            [
                {
                    "project_id": cp.project_id,
                    "seq": cp.seq,
                    "root": cp.root,
                    "bound": cp.bound,
                    "signed_at": cp.signed_at,
                    "signature": cp.signature,
                    "key_id": cp.key_id,
                    "entries": cp.entries,
                }
                for cp in made
            ],
        )
        _set_bound(conn, bound, now)
    return len(entries), made, more


def _set_bound(conn: Connection, bound: int, now: Any) -> None:
    conn.execute(
        store_state.update()
        .where(store_state.c.key == SEAL_STATE)
        .values(value={"bound": bound}, updated_at=now)
    )


def _settled_entries(
    conn: Connection, dialect: str, start: int, settled: int, limit: int
) -> tuple[list[LedgerEntry], int, bool]:
    """Entries ordered in ``[start, settled)``, at most about ``limit`` (never splitting one
    transaction's entries), the bound they end at, and whether more are left."""
    order = _order(dialect)
    base = select(ledger_entries).where(and_(order >= start, order < settled))
    rows = conn.execute(base.order_by(order, ledger_entries.c.id).limit(limit + 1)).all()
    entries = [_entry(r, dialect) for r in rows]
    if len(entries) <= limit:
        return entries, settled, False
    cut = entries[limit].order
    assert cut is not None
    kept = [e for e in entries if e.order is not None and e.order < cut]
    if kept:
        return kept, cut, True
    # one transaction wrote more than ``limit`` entries: take all of them
    rest = conn.execute(base.where(order == cut).order_by(ledger_entries.c.id)).all()
    return [_entry(r, dialect) for r in rest], cut + 1, True


def _heads(conn: Connection, project_ids: list[str]) -> dict[str, Checkpoint]:
    """The latest checkpoint of each of these projects."""
    c = ledger_checkpoints.c
    cols = [col for col in ledger_checkpoints.c if col.name != "entries"]
    heads: dict[str, Checkpoint] = {}
    for i in range(0, len(project_ids), 500):
        chunk = project_ids[i : i + 500]
        top = (
            select(c.project_id, func.max(c.seq))
            .where(c.project_id.in_(chunk))
            .group_by(c.project_id)
        )
        for r in conn.execute(select(*cols).where(tuple_(c.project_id, c.seq).in_(top))):
            heads[r.project_id] = _checkpoint(r, False)
    return heads
