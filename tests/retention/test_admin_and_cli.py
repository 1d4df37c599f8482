"""``POST /api/admin/cleanup``, ``llmtrail cleanup`` and the cleanup figures in ``/metrics``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from llmtrail.cli.app import _register, app
from llmtrail.config import Settings
from llmtrail.server import create_app
from llmtrail.store import Store, open_store
from tests.api.conftest import ADMIN_KEY, Api, assert_problem, make_api

_register()
runner = CliRunner()
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    yield from make_api(db_url)


def seed(store: Store, ages: dict[str, float], project: str = "proj-1") -> None:
    now = datetime.now(UTC)
    for mid, days in ages.items():
        store.store(
            {
                "messageId": mid,
                "projectId": project,
                "timestamp": now - timedelta(days=days),
                "model": "m",
                "contextLayers": 0,
            }
        )


def metric(text: str, name: str) -> float:
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    assert m is not None, f"{name} not in /metrics"
    return float(m.group(1))


# -- the admin route -----------------------------------------------------------------------------


def test_admin_cleanup_deletes_and_reports(api: Api) -> None:
    seed(api.store, {"old": 10, "new": 1})
    r = api.client.post("/api/admin/cleanup", json={"days": 7}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json() == {"deletedCount": 1, "backend": api.store.backend}
    assert api.store.get("old") is None and api.store.get("new") is not None
    text = api.client.get("/metrics").text
    assert metric(text, "llmtrail_cleanup_last_deleted_trails") == 1
    assert (
        metric(text, "llmtrail_cleanup_last_run_timestamp_seconds")
        > datetime.now(UTC).timestamp() - 60
    )
    assert metric(text, "llmtrail_cleanup_last_duration_seconds") >= 0
    assert re.search(r'^llmtrail_cleanup_runs_total\{outcome="success"\} [1-9]', text, re.M)


def test_admin_cleanup_without_body_uses_the_retention(api: Api) -> None:
    seed(api.store, {"d8": 8, "d6": 6})
    r = api.client.post("/api/admin/cleanup", headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["deletedCount"] == 1
    r = api.client.post("/api/admin/cleanup", json={"days": 5.5}, headers=ADMIN)
    assert r.json()["deletedCount"] == 1


def test_admin_cleanup_dry_run(api: Api) -> None:
    seed(api.store, {"old": 10})
    r = api.client.post("/api/admin/cleanup", json={"days": 7, "dryRun": True}, headers=ADMIN)
    assert r.json() == {"deletedCount": 1, "backend": api.store.backend, "dryRun": True}
    assert api.store.get("old") is not None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"days": -1}', "days"),
        (b'{"days": 36501}', "days"),
        (b'{"days": "7"}', "days"),
        (b'{"days": true}', "days"),
        (b'{"days": NaN}', "days"),
        (b'{"days": 1e999}', "days"),
        (b'{"days": 7, "force": true}', "force"),
        (b'{"dryRun": "yes"}', "dryRun"),
        (b"[7]", "body"),
    ],
)
def test_admin_cleanup_rejects_bad_input(api: Api, body: bytes, field: str) -> None:
    seed(api.store, {"old": 20000})
    r = api.client.post(
        "/api/admin/cleanup", content=body, headers={**ADMIN, "Content-Type": "application/json"}
    )
    problem = assert_problem(r, 422)
    assert field in json.dumps(problem)
    assert api.store.get("old") is not None


def test_admin_cleanup_malformed_json_is_400(api: Api) -> None:
    r = api.client.post(
        "/api/admin/cleanup",
        content=b"{days",
        headers={**ADMIN, "Content-Type": "application/json"},
    )
    assert_problem(r, 400)


def test_admin_cleanup_needs_the_admin_key(api: Api) -> None:
    seed(api.store, {"old": 10})
    assert_problem(api.client.post("/api/admin/cleanup", json={"days": 7}), 401)
    project_key = api.key("proj-1")
    assert_problem(api.client.post("/api/admin/cleanup", json={}, headers=project_key), 403)
    assert api.store.get("old") is not None


def test_admin_cleanup_on_memory() -> None:
    yield_api = make_api("memory://")
    api = next(yield_api)
    try:
        api.store.store(
            {
                "messageId": "old",
                "timestamp": datetime.now(UTC) - timedelta(days=10),
                "model": "m",
                "contextLayers": 0,
            }
        )
        r = api.client.post("/api/admin/cleanup", json={"days": 7}, headers=ADMIN)
        assert r.json() == {"deletedCount": 1, "backend": "memory"}
    finally:
        yield_api.close()


# -- the CLI -------------------------------------------------------------------------------------


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args))


def test_cli_cleanup_dry_run_then_real(db_url: str) -> None:
    with open_store(db_url) as store:
        seed(store, {"a": 10, "b": 9, "c": 1})
        backend = store.backend
    r = cli("cleanup", "--days", "7", "--dry-run", "--url", db_url)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {
        "deletedCount": 2,
        "backend": backend,
        "dryRun": True,
    }
    r = cli("cleanup", "--days", "7", "--url", db_url)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {"deletedCount": 2, "backend": backend}
    with open_store(db_url) as store:
        assert store.get("a") is None and store.get("c") is not None


def test_cli_fold_folds_what_writers_left_pending(db_url: str) -> None:
    quiet = Settings(database_url=db_url, usage_fold_seconds=0)  # no background folder
    with open_store(db_url, settings=quiet) as store:
        seed(store, {"a": 1, "b": 2, "c": 3})
        backend = store.backend
        before = store.analytics("proj-1", days=7)
    r = cli("fold", "--url", db_url)
    assert r.exit_code == 0, r.output
    # PostgreSQL appends an increment per write; SQLite updates the rollups in place
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {
        "folded": 3 if backend == "postgresql" else 0
    }
    r = cli("fold", "--url", db_url)
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {"folded": 0}
    with open_store(db_url, settings=quiet) as store:
        assert store.analytics("proj-1", days=7) == before
        assert before.message_count == 3


def test_cli_cleanup_default_days_from_the_environment(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_store(sqlite_url) as store:
        seed(store, {"a": 3, "b": 1})
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("AUDIT_TRAIL_RETENTION_DAYS", "2")
    r = cli("cleanup")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1])["deletedCount"] == 1


@pytest.mark.parametrize("days", ["-1", "nan", "inf", "99999", "seven"])
def test_cli_cleanup_rejects_bad_days(sqlite_url: str, days: str) -> None:
    with open_store(sqlite_url) as store:
        seed(store, {"a": 10})
    r = cli("cleanup", "--days", days, "--url", sqlite_url)
    assert r.exit_code != 0
    assert "days" in r.output
    with open_store(sqlite_url) as store:
        assert store.get("a") is not None


# -- /metrics across replicas --------------------------------------------------------------------


def test_metrics_show_a_run_made_by_another_process(db_url: str) -> None:
    with open_store(db_url) as store:
        seed(store, {f"o{i}": 10 + i for i in range(3)})
    # a cron job (another process) cleans up; this server's /metrics must show that run
    out = subprocess.run(
        [sys.executable, "-m", "llmtrail.cli", "cleanup", "--url", db_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1])["deletedCount"] == 3
    s = Settings(admin_key=ADMIN_KEY, cleanup_cron="0 2 * * *")  # type: ignore[call-arg]
    store = open_store(db_url, settings=s)
    try:
        with TestClient(create_app(store, s)) as client:
            text = client.get("/metrics").text
    finally:
        store.close()
    assert metric(text, "llmtrail_cleanup_last_deleted_trails") == 3
    assert (
        metric(text, "llmtrail_cleanup_last_run_timestamp_seconds")
        > datetime.now(UTC).timestamp() - 120
    )
