"""``llmtrail projects …``, ``llmtrail keys …`` and ``llmtrail demo`` on a real database."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from llmtrail.cli.app import _register, app
from llmtrail.model import TrailFilter
from llmtrail.store import open_store

_register()
runner = CliRunner()


def _run(*args: str) -> str:
    r = runner.invoke(app, list(args))
    assert r.exit_code == 0, r.output
    return r.output


def test_projects_and_keys(db_url: str) -> None:
    out = _run(
        "projects", "create", "acme", "--name", "Acme", "--retention-days", "30", "--url", db_url
    )
    assert "created project acme" in out
    assert "acme" in _run("projects", "list", "--url", db_url)
    dup = runner.invoke(app, ["projects", "create", "acme", "--url", db_url])
    assert dup.exit_code != 0 and "already exists" in dup.output
    out = _run("keys", "create", "acme", "--url", db_url)
    key_id = re.search(r"key id: (\S+)", out).group(1)  # type: ignore[union-attr]
    secret = re.search(r"store it now\): (ltk_\S+)", out).group(1)  # type: ignore[union-attr]
    with open_store(db_url) as store:
        found = store.authenticate(secret)
        assert found is not None and found.project_id == "acme" and found.id == key_id
    listed = _run("keys", "list", "acme", "--url", db_url)
    assert key_id in listed and secret not in listed
    assert "revoked" in _run("keys", "revoke", "acme", key_id, "--url", db_url)
    with open_store(db_url) as store:
        assert store.authenticate(secret) is None
    bad = runner.invoke(app, ["keys", "create", "ghost", "--url", db_url])
    assert bad.exit_code != 0
    assert "deleted project acme" in _run("projects", "delete", "acme", "--yes", "--url", db_url)
    with open_store(db_url) as store:
        assert store.list_projects() == []


def test_demo_fills_a_project_once(sqlite_url: str) -> None:
    out = _run("demo", "--url", sqlite_url, "--days", "14")
    assert re.search(r"stored \d+ trails over 14 days", out)
    assert re.search(r"project key for 'demo' \(shown once\): ltk_\S+", out)
    with open_store(sqlite_url) as store:
        trails = list(store.iter_trails(TrailFilter("demo")))
        assert len(trails) > 200
        assert len({t.model for t in trails}) >= 4
        assert any(t.reasoning for t in trails) and any(t.status == "failed" for t in trails)
        assert all(t.cost is not None and t.cost.total >= 0 for t in trails)
        project = store.get_project("demo")
        assert project is not None and project.retention_days == 60
    again = _run("demo", "--url", sqlite_url)
    assert "already has trails" in again
    with open_store(sqlite_url) as store:
        assert len(list(store.iter_trails(TrailFilter("demo")))) == len(trails)
