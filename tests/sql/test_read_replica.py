"""``AUDIT_TRAIL_READ_DATABASE_URL`` against a real streaming replica (SPEC §11).

A PostgreSQL primary and a hot standby of it are created for this module with Debian's
``pg_createcluster`` and ``pg_basebackup -R`` on free ports, and dropped afterwards. Pausing
the standby's WAL replay makes the routing visible: a write the primary committed is then
missing from whatever reads the replica (list, export, analytics) and present in what reads
the primary (look-ups by messageId: read-your-writes).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

import llmtrail
from llmtrail import Store, TrailFilter, ValidationError
from llmtrail.config import load_settings
from tests.conftest import missing

VERSION_DIR = Path("/usr/lib/postgresql")
HBA = """local all all trust
host all all 127.0.0.1/32 trust
local replication all trust
host replication all 127.0.0.1/32 trust
"""


@dataclass(frozen=True)
class Pair:
    primary: str  # URL of a database on the primary
    replica: str  # the same database on the standby
    replica_cluster: tuple[str, str]  # (version, name), to stop and start it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(*args: str) -> None:
    out = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"{' '.join(args)}:\n{out.stdout}\n{out.stderr}"


def _wait_ready(port: int) -> None:
    deadline = time.monotonic() + 60
    while subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)]).returncode:
        assert time.monotonic() < deadline, f"PostgreSQL on {port} did not come up"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    tools = ("pg_createcluster", "pg_ctlcluster", "pg_dropcluster", "pg_basebackup", "runuser")
    if not all(shutil.which(t) for t in tools) or os.geteuid() != 0:
        missing("a streaming replica", "needs root and Debian's postgresql-common tools")
    version = sorted(p.name for p in VERSION_DIR.iterdir())[-1]
    tag = uuid.uuid4().hex[:6]
    primary, standby = f"ltp{tag}", f"ltr{tag}"
    p_port, r_port = _free_port(), _free_port()
    try:
        _run("pg_createcluster", version, primary, "-p", str(p_port), "--", "--auth=trust")
        Path(f"/etc/postgresql/{version}/{primary}/pg_hba.conf").write_text(HBA)
        _run("pg_ctlcluster", version, primary, "start")
        _wait_ready(p_port)
        _run("pg_createcluster", version, standby, "-p", str(r_port), "--", "--auth=trust")
        data = Path(f"/var/lib/postgresql/{version}/{standby}")
        for child in data.iterdir():  # pg_basebackup fills it (an empty directory is fine)
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        _run(
            "runuser", "-u", "postgres", "--", "pg_basebackup", "-h", "127.0.0.1",
            "-p", str(p_port), "-U", "postgres", "-D", str(data), "-R", "-X", "stream",
        )  # fmt: skip
        _run("pg_ctlcluster", version, standby, "start")
        _wait_ready(r_port)
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{p_port}/postgres") as conn:
            conn.autocommit = True
            conn.execute("CREATE DATABASE trails")
        replica = f"postgresql://postgres@127.0.0.1:{r_port}/trails"
        deadline = time.monotonic() + 30
        while True:  # the CREATE DATABASE has to replay first
            with contextlib.suppress(psycopg.OperationalError), psycopg.connect(replica):
                break
            assert time.monotonic() < deadline, "the replica never got the database"
            time.sleep(0.2)
        yield Pair(f"postgresql://postgres@127.0.0.1:{p_port}/trails", replica, (version, standby))
    finally:
        for name in (standby, primary):
            subprocess.run(["pg_dropcluster", "--stop", version, name], capture_output=True)


@contextlib.contextmanager
def replay_paused(pair: Pair) -> Iterator[None]:
    with psycopg.connect(pair.replica, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
        try:
            yield
        finally:
            conn.execute("SELECT pg_wal_replay_resume()")


def caught_up(store: Store, project: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(store.list_trails(TrailFilter(project), limit=1000).items) != count:
        assert time.monotonic() < deadline, "the replica did not catch up"
        time.sleep(0.05)


def trail(mid: str) -> dict[str, object]:
    return {"messageId": mid, "model": "gpt-4o", "tokens": {"prompt": 1000, "completion": 100}}


@pytest.fixture
def store(pair: Pair) -> Iterator[Store]:
    s = llmtrail.open_store(pair.primary, settings=load_settings(read_database_url=pair.replica))
    yield s
    s.close()


def test_lists_export_and_analytics_read_the_replica_lookups_the_primary(
    store: Store, pair: Pair
) -> None:
    project = f"p-{uuid.uuid4().hex[:6]}"
    store.store(trail(f"{project}-a"), project)
    caught_up(store, project, 1)
    with replay_paused(pair):
        store.store(trail(f"{project}-b"), project)
        assert store.get(f"{project}-b") is not None  # read-your-writes: the primary
        listed = store.list_trails(TrailFilter(project)).items
        assert [t.message_id for t in listed] == [f"{project}-a"]  # the (paused) replica
        exported = list(store.iter_trails(TrailFilter(project)))
        assert [t.message_id for t in exported] == [f"{project}-a"]
        assert store.analytics(project, days=1).message_count == 1
    caught_up(store, project, 2)
    assert store.analytics(project, days=1).message_count == 2


def test_a_replica_that_is_down_costs_freshness_not_the_read(store: Store, pair: Pair) -> None:
    project = f"p-{uuid.uuid4().hex[:6]}"
    store.store(trail(f"{project}-a"), project)
    version, name = pair.replica_cluster
    _run("pg_ctlcluster", version, name, "stop", "-m", "fast")
    try:
        store.store(trail(f"{project}-b"), project)
        listed = store.list_trails(TrailFilter(project)).items  # from the primary
        assert {t.message_id for t in listed} == {f"{project}-a", f"{project}-b"}
        assert store.analytics(project, days=1).message_count == 2
    finally:
        _run("pg_ctlcluster", version, name, "start")
        _wait_ready(int(pair.replica.rsplit(":", 1)[1].split("/")[0]))


def test_a_read_replica_needs_postgresql(tmp_path: Path, pair: Pair) -> None:
    settings = load_settings(read_database_url=pair.replica)
    with pytest.raises(ValidationError, match="AUDIT_TRAIL_READ_DATABASE_URL"):
        llmtrail.open_store(f"sqlite:///{tmp_path / 'x.db'}", settings=settings)
