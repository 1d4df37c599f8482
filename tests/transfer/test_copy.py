"""``llmtrail copy``: 100,000 trails SQLite → PostgreSQL, killed halfway with SIGKILL,
resumed, verified; plus resumption and idempotence at the library level."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

import llmtrail
from llmtrail.transfer import copy_store, verify_stores
from llmtrail.transfer.copy import default_state_path
from tests.transfer.conftest import CLI, cli_env, fill, pg_count, trail

N = 100_000


def _rollup_messages(url: str) -> int:
    with psycopg.connect(url) as conn:
        # folded rollups plus the increments not folded yet
        row = conn.execute(
            "SELECT coalesce(sum(messages), 0) FROM "
            "(SELECT messages FROM usage_rollups UNION ALL SELECT messages FROM usage_deltas) u"
        ).fetchone()
        return int(row[0])  # type: ignore[index]


@pytest.mark.slow
def test_copy_100k_killed_halfway_resumes_without_duplicates(
    sqlite_url: str, pg_url: str, tmp_path: Path
) -> None:
    source = llmtrail.open_store(sqlite_url)
    fill(source, N)
    source.create_project("empty-project", name="No trails yet", retention_days=3)
    source.close()
    env = cli_env()
    cmd = [*CLI, "copy", "--from", sqlite_url, "--to", pg_url, "--batch", "1000"]
    proc = subprocess.Popen(
        cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        copied = 0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                copied = pg_count(pg_url)
            except psycopg.errors.UndefinedTable:
                copied = 0
            if copied >= N // 4:
                break
            time.sleep(0.02)
        assert proc.poll() is None, proc.communicate()
        assert N // 4 <= copied < N, copied
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    partial = pg_count(pg_url)
    assert 0 < partial < N
    state = tmp_path / default_state_path(sqlite_url, pg_url)
    assert state.exists()  # the position of the last committed batch

    resumed = subprocess.run(
        cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed" in resumed.stdout
    found = re.search(r"copied: (\d+) new, 0 updated, (\d+) already there", resumed.stdout)
    assert found is not None, resumed.stdout
    new, again = int(found[1]), int(found[2])
    assert again <= 1_000  # at most the batch in flight at the kill is written again
    assert new + again < N and new >= N - partial  # resumed from the saved position
    assert not state.exists()
    assert pg_count(pg_url) == N
    assert _rollup_messages(pg_url) == N  # no batch counted twice in the aggregates

    check = subprocess.run(
        [*CLI, "verify", "--from", sqlite_url, "--to", pg_url],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "differences: 0" in check.stdout
    assert f"source {N}, target {N}" in check.stdout

    target = llmtrail.open_store(pg_url)
    try:
        project = target.get_project("empty-project")
        assert project is not None and project.name == "No trails yet"
        assert project.retention_days == 3
    finally:
        target.close()


class _Stop(Exception):
    pass


def test_copy_resumes_after_an_interrupt_and_keeps_server_fields(
    sqlite_url: str, pg_url: str, tmp_path: Path
) -> None:
    source = llmtrail.open_store(sqlite_url)
    target = llmtrail.open_store(pg_url)
    state = tmp_path / "state.json"
    try:
        fill(source, 900)
        key, secret = source.create_api_key("proj-1")
        batches = 0

        def interrupt(n: int) -> None:
            nonlocal batches
            batches += 1
            if batches == 3:
                raise _Stop

        with pytest.raises(_Stop):
            copy_store(source, target, batch=100, state_path=state, progress=interrupt)
        assert state.exists() and target.count_trails() == 300  # type: ignore[attr-defined]
        report = copy_store(source, target, batch=100, state_path=state)
        assert report.resumed and report.trails.created == 600
        assert not state.exists()
        original = source.get("msg-0000005")
        copied = target.get("msg-0000005")
        assert original is not None and copied == original  # id, createdAt, costSource, …
        auth = target.authenticate(secret)
        assert auth is not None and auth.id == key.id

        # A trail changed on the source after the copy is brought over by the next copy;
        # one that is newer on the target is left alone.
        source.update("msg-0000007", status="failed")
        target.update("msg-0000008", metadata={"fixed": True})
        again = copy_store(source, target, batch=100, state_path=state)
        assert again.trails.overwritten == 1 and again.trails.stale == 1
        assert again.trails.unchanged == 898
        got = target.get("msg-0000007")
        assert got is not None and got.status == "failed"
        diff = verify_stores(source, target)
        assert [(d.kind, d.message_id, d.fields) for d in diff.differences] == [
            ("changed", "msg-0000008", ("metadata", "updatedAt"))
        ]
    finally:
        source.close()
        target.close()


def test_copy_cli_rejects_a_missing_source(tmp_path: Path, pg_url: str) -> None:
    result = subprocess.run(
        [*CLI, "copy", "--from", f"sqlite:///{tmp_path}/nope.db", "--to", pg_url],
        env=cli_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "no such SQLite database" in result.stderr
    assert not (tmp_path / "nope.db").exists()
    assert trail(1)["messageId"] == "msg-0000001"


def test_copy_corrects_projects_created_implicitly_on_the_target(
    sqlite_url: str, pg_url: str
) -> None:
    source = llmtrail.open_store(sqlite_url)
    target = llmtrail.open_store(pg_url)
    try:
        source.create_project("acme", name="Acme Inc.", retention_days=30)
        source.store(trail(1, "acme"))
        target.store(trail(2, "acme"))  # the target made "acme" itself, named after its id
        report = copy_store(source, target)
        assert report.projects == 1
        assert target.get_project("acme") == source.get_project("acme")
        diff = verify_stores(source, target)
        assert [(d.kind, d.message_id) for d in diff.differences] == [("extra", "msg-0000002")]
    finally:
        source.close()
        target.close()


def test_ctrl_c_stops_the_copy_cleanly_and_it_resumes(
    sqlite_url: str, pg_url: str, tmp_path: Path
) -> None:
    source = llmtrail.open_store(sqlite_url)
    fill(source, 20_000)
    source.close()
    cmd = [*CLI, "copy", "--from", sqlite_url, "--to", pg_url, "--batch", "200"]
    proc = subprocess.Popen(
        cmd, env=cli_env(), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if pg_count(pg_url) >= 1_000:
                break
        except psycopg.errors.UndefinedTable:
            pass
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"interrupted: run the same command again to resume" in err
    assert 0 < pg_count(pg_url) < 20_000
    done = subprocess.run(cmd, env=cli_env(), cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0 and "resumed" in done.stdout
    assert pg_count(pg_url) == 20_000
    same = subprocess.run(
        [*CLI, "copy", "--from", pg_url, "--to", pg_url], env=cli_env(), capture_output=True
    )
    assert same.returncode == 1 and b"same database" in same.stderr


def test_an_overwrite_that_moves_a_trail_keeps_the_aggregates_right(
    sqlite_url: str, pg_url: str
) -> None:
    from datetime import timedelta

    source = llmtrail.open_store(sqlite_url)
    target = llmtrail.open_store(pg_url)
    try:
        old = trail(1, "p", model="old-model")
        moved = trail(1, "p", model="new-model", timestamp=old["timestamp"] - timedelta(days=2))
        kept = source.store(moved)
        # An earlier version on the target, e.g. from an import, with another time and model:
        stale = {**old, "id": kept.id, "updatedAt": kept.updated_at - timedelta(hours=1)}
        assert not isinstance(target.store_many([stale], trusted=True)[0], Exception)
        report = copy_store(source, target)
        assert report.trails.overwritten == 1
        with psycopg.connect(pg_url) as conn:
            rows = conn.execute(
                "SELECT model, sum(messages) FROM (SELECT model, messages FROM usage_rollups"
                " UNION ALL SELECT model, messages FROM usage_deltas) u"
                " GROUP BY model ORDER BY model"
            ).fetchall()
        assert [(m, int(n)) for m, n in rows if n] == [("new-model", 1)]
        assert verify_stores(source, target).ok
    finally:
        source.close()
        target.close()
