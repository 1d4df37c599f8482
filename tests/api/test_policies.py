"""Retention policies over HTTP and the CLI (SPEC §10): POST/PATCH projects, the floor on
every door (REST 422, CLI exit 2, settings), cleanup's redactedCount."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrail.cli.app import _register, app
from llmtrail.store import open_store
from tests.api.conftest import ADMIN_KEY, Api, assert_problem, make_api

_register()
runner = CliRunner()
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def floored(db_url: str) -> Iterator[Api]:
    yield from make_api(db_url, min_retention_days=183, retention_days=200)


def test_create_and_patch_policies(api: Api) -> None:
    r = api.client.post(
        "/api/projects",
        json={"id": "p1", "contentRetentionDays": 30, "legalHold": True},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    assert r.json()["contentRetentionDays"] == 30 and r.json()["legalHold"] is True
    r = api.client.patch(
        "/api/projects/p1", json={"legalHold": False, "retentionDays": 90}, headers=ADMIN
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["legalHold"], body["retentionDays"], body["contentRetentionDays"]) == (
        False,
        90,
        30,
    )
    r = api.client.patch("/api/projects/p1", json={"contentRetentionDays": None}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["contentRetentionDays"] is None
    assert api.client.get("/api/projects/p1", headers=ADMIN).json() == r.json()


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"legalHold": "yes"}, ["legalHold"]),
        ({"contentRetentionDays": -1}, ["contentRetentionDays"]),
        ({"colour": "red"}, ["colour"]),
        ({"id": "other"}, ["id"]),
    ],
)
def test_bad_patches_are_a_422_and_change_nothing(
    api: Api, body: dict[str, Any], fields: list[str]
) -> None:
    api.project("p1")
    before = api.snapshot()
    problem = assert_problem(api.client.patch("/api/projects/p1", json=body, headers=ADMIN), 422)
    assert [e["field"] for e in problem["errors"]] == fields
    assert api.snapshot() == before


def test_patch_needs_the_admin_key_and_an_existing_project(api: Api) -> None:
    key = api.project("p1")
    assert_problem(api.client.patch("/api/projects/p1", json={"name": "x"}, headers=key), 403)
    assert_problem(api.client.patch("/api/projects/p1", json={"name": "x"}), 401)
    assert_problem(api.client.patch("/api/projects/nope", json={"name": "x"}, headers=ADMIN), 404)


def test_the_floor_on_the_http_doors(floored: Api) -> None:
    api = floored
    r = api.client.post("/api/projects", json={"id": "p1", "retentionDays": 30}, headers=ADMIN)
    assert [e["field"] for e in assert_problem(r, 422)["errors"]] == ["retentionDays"]
    api.project("p2")
    r = api.client.patch("/api/projects/p2", json={"retentionDays": 100}, headers=ADMIN)
    assert_problem(r, 422)
    r = api.client.post("/api/admin/cleanup", json={"days": 7}, headers=ADMIN)
    assert [e["field"] for e in assert_problem(r, 422)["errors"]] == ["days"]
    r = api.client.post("/api/admin/cleanup", json={"days": 183}, headers=ADMIN)
    assert r.status_code == 200, r.text


def test_cleanup_reports_redactions(api: Api) -> None:
    api.client.post("/api/projects", json={"id": "p1", "contentRetentionDays": 1}, headers=ADMIN)
    api.store.store(
        {
            "messageId": "old",
            "model": "gpt-4o",
            "timestamp": datetime.now(UTC) - timedelta(days=2),
            "reasoning": ["secret"],
        },
        "p1",
    )
    r = api.client.post("/api/admin/cleanup", headers=ADMIN)
    assert r.json() == {"deletedCount": 0, "redactedCount": 1, "backend": api.store.backend}
    t = api.client.get("/api/projects/p1/audit-trails/old", headers=ADMIN).json()
    assert t["reasoning"] is None and t["contentRedactedAt"] is not None


def cli(*args: str, **env: str) -> Any:
    return runner.invoke(app, list(args), env=env or None)


def test_the_cli_sets_policies_and_refuses_below_the_floor_with_exit_2(db_url: str) -> None:
    r = cli("projects", "create", "p1", "--content-retention-days", "30", "--url", db_url)
    assert r.exit_code == 0, r.output
    r = cli("projects", "update", "p1", "--legal-hold", "--retention-days", "90", "--url", db_url)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["legalHold"] is True and json.loads(r.stdout)["retentionDays"] == 90
    r = cli(
        "projects",
        "update",
        "p1",
        "--no-legal-hold",
        "--content-retention-days",
        "-1",
        "--url",
        db_url,
    )
    assert r.exit_code == 0 and json.loads(r.stdout)["contentRetentionDays"] is None
    with open_store(db_url) as store:
        assert store.require_project("p1").legal_hold is False
    floor = {"AUDIT_TRAIL_MIN_RETENTION_DAYS": "183", "AUDIT_TRAIL_RETENTION_DAYS": "200"}
    r = cli("projects", "update", "p1", "--retention-days", "30", "--url", db_url, **floor)
    assert r.exit_code == 2 and "AUDIT_TRAIL_MIN_RETENTION_DAYS" in r.output
    r = cli("cleanup", "--days", "7", "--url", db_url, **floor)
    assert r.exit_code == 2 and "days" in r.output
    r = cli("projects", "update", "p1", "--url", db_url)
    assert r.exit_code == 2  # nothing to change


def test_serve_refuses_to_start_below_the_floor(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "llmtrail.cli", "serve", "--url", f"sqlite:///{tmp_path}/x.db"],
        env={
            "PATH": "/usr/bin:/bin",
            "AUDIT_TRAIL_MIN_RETENTION_DAYS": "183",
            "AUDIT_TRAIL_RETENTION_DAYS": "7",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out.stderr
    assert "AUDIT_TRAIL_RETENTION_DAYS" in out.stderr and "183" in out.stderr


def test_post_to_a_project_sets_its_policies_or_creates_it(api: Api) -> None:
    r = api.client.post("/api/projects/p7", json={"legalHold": True}, headers=ADMIN)
    assert r.status_code == 201 and r.json()["legalHold"] is True
    r = api.client.post("/api/projects/p7", json={"contentRetentionDays": 9}, headers=ADMIN)
    assert r.status_code == 200
    assert (r.json()["legalHold"], r.json()["contentRetentionDays"]) == (True, 9)
    assert_problem(api.client.post("/api/projects/p7", json={"legalHold": 1}, headers=ADMIN), 422)
