"""``llmtrail verify`` finds every kind of difference; ``llmtrail import`` round-trips a JSONL
export idempotently and rejects a bad file without writing anything."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg

import llmtrail
from llmtrail.model.wire import loads
from llmtrail.transfer import copy_store, verify_stores
from tests.transfer.conftest import CLI, cli_env, fill, pg_count, trail


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=cli_env(), cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_verify_detects_changed_cost_missing_and_extra(
    sqlite_url: str, pg_url: str, tmp_path: Path
) -> None:
    source = llmtrail.open_store(sqlite_url)
    target = llmtrail.open_store(pg_url)
    try:
        fill(source, 3_000)
        copy_store(source, target, batch=1_000)
        assert verify_stores(source, target).ok
        ok = _run("verify", "--from", sqlite_url, "--to", pg_url, cwd=tmp_path)
        assert ok.returncode == 0 and "differences: 0" in ok.stdout
    finally:
        source.close()
        target.close()
    with psycopg.connect(pg_url) as conn:  # tamper with the target behind llmtrail's back
        conn.execute(
            "UPDATE audit_trails SET cost_completion = cost_completion + 0.01, "
            "cost_total = cost_total + 0.01 WHERE message_id = 'msg-0000042'"
        )
        conn.execute("DELETE FROM audit_trails WHERE message_id = 'msg-0001234'")
    target = llmtrail.open_store(pg_url)
    try:
        target.store(trail(99_999, "proj-2"))
        source = llmtrail.open_store(sqlite_url)
        report = verify_stores(source, target)
        source.close()
    finally:
        target.close()
    found = sorted((d.kind, d.project_id, d.message_id, d.fields) for d in report.differences)
    assert found == [
        ("changed", "proj-0", "msg-0000042", ("cost",)),
        ("extra", "proj-0", "msg-0099999", ()),  # 99_999 % 3 == 0 → default project ignored
        ("missing", "proj-1", "msg-0001234", ()),
    ] or found == [
        ("changed", "proj-0", "msg-0000042", ("cost",)),
        ("extra", "proj-2", "msg-0099999", ()),
        ("missing", "proj-1", "msg-0001234", ()),
    ]
    assert report.counts["proj-1"] == (1_000, 999)

    bad = _run("verify", "--from", sqlite_url, "--to", pg_url, cwd=tmp_path)
    assert bad.returncode == 1
    out = bad.stdout
    assert "changed proj-0 trail msg-0000042 (cost)" in out
    assert "missing proj-1 trail msg-0001234" in out
    assert "extra   proj-2 trail msg-0099999" in out
    assert "differences: 3 (missing 1, extra 1, changed 1)" in out
    assert "DIFF project proj-1: source 1000, target 999" in out


def test_export_import_round_trip(sqlite_url: str, pg_url: str, tmp_path: Path) -> None:
    source = llmtrail.open_store(sqlite_url)
    fill(source, 2_500)
    source.close()
    dump = tmp_path / "trails.jsonl"
    exported = _run("export", "--url", sqlite_url, "--output", str(dump), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    lines = dump.read_text().splitlines()
    assert len(lines) == 2_500
    first = loads(lines[0])
    assert {"id", "messageId", "createdAt", "costSource", "cost"} <= first.keys()

    imported = _run("import", str(dump), "--url", pg_url, "--batch", "1000", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert "2500 new" in imported.stdout
    check = _run("verify", "--from", sqlite_url, "--to", pg_url, cwd=tmp_path)
    assert check.returncode == 0, check.stdout
    assert "source 2500, target 2500" in check.stdout

    twice = _run("import", str(dump), "--url", pg_url, cwd=tmp_path)
    assert twice.returncode == 0 and "0 new, 0 updated, 2500 already there" in twice.stdout
    assert pg_count(pg_url) == 2_500


def test_import_rejects_a_bad_file_and_writes_nothing(pg_url: str, tmp_path: Path) -> None:
    from llmtrail.model.wire import dumps, trail_to_wire

    store = llmtrail.open_store("memory://")
    good = [store.store(trail(i)) for i in range(3)]
    rows = [dumps(trail_to_wire(t)) for t in good]
    broken = loads(rows[1])
    broken["tokens"]["prompt"] = -5
    rows[1] = dumps(broken)
    rows.append("{not json")
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(rows) + "\n")
    result = _run("import", str(path), "--url", pg_url, cwd=tmp_path)
    assert result.returncode == 1
    assert "line 2: tokens.prompt" in result.stderr
    assert "line 4" in result.stderr
    assert pg_count(pg_url) == 0
