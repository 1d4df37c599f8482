"""Group commit: concurrent POSTs share transactions, each gets exactly its own outcome."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from llmtrail.metrics import GROUP_COMMIT_TRAILS
from tests.api.conftest import make_api, trail


def _batches() -> tuple[float, float]:
    samples = {s.name: s.value for s in GROUP_COMMIT_TRAILS.collect()[0].samples}
    return samples["llmtrail_group_commit_trails_count"], samples[
        "llmtrail_group_commit_trails_sum"
    ]


def test_concurrent_posts_share_commits_with_exact_outcomes(sqlite_url: str) -> None:
    with contextmanager(make_api)(sqlite_url) as api:
        key = api.project("p1")
        bodies = [trail(f"g-{i}") for i in range(30)]
        bodies += [trail("dup")] * 5  # identical retries racing each other
        bodies += [trail("clash", model="one"), trail("clash", model="two")]
        bodies += [{"messageId": "bad", "model": 5}]  # invalid: must not spoil its batch
        count0, sum0 = _batches()
        # hold SQLite's write lock so the first batch waits and the rest queue up behind it
        db = sqlite3.connect(
            sqlite_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False
        )
        db.execute("BEGIN IMMEDIATE")
        released = threading.Event()

        def release() -> None:
            time.sleep(1.0)
            db.execute("COMMIT")
            released.set()

        threading.Thread(target=release).start()
        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(lambda b: api.post("p1", b, key), bodies))
        assert released.is_set()
        db.close()
        codes = [r.status_code for r in responses]
        assert codes[:30] == [201] * 30
        assert sorted(codes[30:35]) == [200, 200, 200, 200, 201]
        assert sorted(codes[35:37]) == [201, 409]
        assert codes[37] == 422 and responses[37].json()["errors"][0]["field"] == "model"
        for r, b in zip(responses[:30], bodies[:30], strict=True):
            assert r.json()["messageId"] == b["messageId"]
        count1, sum1 = _batches()
        assert sum1 - sum0 == len(bodies)
        assert count1 - count0 < len(bodies), "no two requests shared a commit"
        assert len(api.snapshot()[0][2]) == 32


def test_group_commit_off_still_works(sqlite_url: str) -> None:
    with contextmanager(make_api)(sqlite_url, group_commit=False) as api:
        key = api.project("p1")
        count0, _ = _batches()
        assert api.post("p1", trail(), key).status_code == 201
        assert api.post("p1", trail(), key).status_code == 200
        assert _batches()[0] == count0


def test_a_post_names_every_bad_field_with_or_without_group_commit(sqlite_url: str) -> None:
    """Issue 12: group commit checked ``projectId`` itself and named only that field."""
    body = trail("many-bad", projectId="someone-else", model="", contextLayers=-1)
    fields = []
    for group_commit in (True, False):
        with contextmanager(make_api)(sqlite_url, group_commit=group_commit) as api:
            key = api.project(f"gc{int(group_commit)}")
            r = api.post(f"gc{int(group_commit)}", body, key)
            assert r.status_code == 422, r.text
            fields.append(sorted(e["field"] for e in r.json()["errors"]))
            batch = api.client.post(
                f"/api/projects/gc{int(group_commit)}/audit-trails/batch",
                json={"items": [body]},
                headers=key,
            )
            fields.append(sorted(e["field"] for e in batch.json()["items"][0]["problem"]["errors"]))
    assert fields[0] == ["contextLayers", "model", "projectId"]
    assert all(f == fields[0] for f in fields), fields
