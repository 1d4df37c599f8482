"""Issue 11: what a hostile client did to a running ``llmtrail serve``, one test per defect.

Every test drives a real server process (SQLite and PostgreSQL) over HTTP; each failed
before its fix.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import csv
import io
import json
import socket
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

import llmtrail
from tests.api.served import Served, start, stop
from tests.conftest import _pg_base


@pytest.fixture(scope="module")
def module_pg_url(pg_admin: psycopg.Connection, pg_template: str) -> Iterator[str]:
    name = f"llmtrail_hostile_{uuid.uuid4().hex[:10]}"
    pg_admin.execute(
        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(pg_template)
        )
    )
    yield f"{_pg_base()}/{name}"
    pg_admin.execute(
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """One server per backend for the whole module (each test uses its own project)."""
    tmp = tmp_path_factory.mktemp("served")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp}/llmtrail.db"
    else:
        url = str(request.getfixturevalue("module_pg_url"))
    s = start(url, tmp, AUDIT_TRAIL_HEADER_TIMEOUT_SECONDS="2")
    yield s
    stop(s)


def _pid() -> str:
    return f"p{uuid.uuid4().hex[:10]}"


def _trail(mid: str, **extra: Any) -> dict[str, Any]:
    return {"messageId": mid, "model": "gpt-4o", "contextLayers": 1, **extra}


# -- 1: huge exponents are rejected by magnitude, without blocking the loop --------------------


def test_huge_exponents_are_refused_at_once_and_the_loop_stays_free(served: Served) -> None:
    pid = _pid()
    key = served.project(pid)
    bad = ",".join(
        f'{{"messageId":"x{i}","model":"m","contextLayers":1e600000,'
        f'"tokens":{{"prompt":1e1000000,"completion":0}}}}'
        for i in range(1_000)
    )
    body = f'{{"items":[{bad}]}}'.encode()
    latencies: list[float] = []
    done = threading.Event()

    def probe() -> None:
        with served.client() as c:
            while not done.is_set():
                t = time.perf_counter()
                assert c.get("/healthz").status_code == 200
                latencies.append(time.perf_counter() - t)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        with served.client() as c:
            started = time.perf_counter()
            r = c.post(
                f"/api/projects/{pid}/audit-trails/batch",
                content=body,
                headers={**key, "Content-Type": "application/json"},
            )
            took = time.perf_counter() - started
            one = c.post(
                f"/api/projects/{pid}/audit-trails",
                content=b'{"messageId":"x","model":"m","contextLayers":1e600000}',
                headers={**key, "Content-Type": "application/json"},
            )
    finally:
        done.set()
        prober.join()
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert {i["status"] for i in items} == {422}
    assert "contextLayers" in {e["field"] for e in items[0]["problem"]["errors"]}
    assert one.status_code == 422 and one.json()["errors"][0]["field"] == "contextLayers"
    # before the fix: ~8 s per value, every other request waiting
    assert took < 2.0, took
    assert latencies and statistics.median(latencies) < 0.1, latencies
    assert max(latencies) < 0.5, max(latencies)


# -- 2: no secret in any log, tracebacks without locals ----------------------------------------


def test_no_secret_reaches_the_log(served: Served) -> None:
    pid = _pid()
    key = served.project(pid)
    secret = key["Authorization"].split()[1]
    with served.client() as c:
        for headers in (served.admin, key):
            c.get("/static/dashboard/%00", headers=headers)
            c.get(f"/api/projects/{pid}/audit-trails/nope", headers=headers)
            c.post(f"/api/projects/{pid}/audit-trails", content=b"{", headers=headers)
    text = served.log_text()
    assert served.admin["Authorization"].split()[1] not in text
    assert secret not in text


# -- 3: inputs that reached the OS or the driver -----------------------------------------------


def test_nul_in_a_static_path_and_surrogates_in_a_cursor_are_client_errors(
    served: Served,
) -> None:
    pid = _pid()
    key = served.project(pid)
    cursor_json = b'["2026-01-01T00:00:00+00:00","\\ud800"]'
    cursor = base64.urlsafe_b64encode(cursor_json).decode().rstrip("=")
    with served.client() as c:
        assert c.get("/static/dashboard/%00").status_code == 404
        assert c.get("/static/dashboard/a%00b.js").status_code == 404
        r = c.get(f"/api/projects/{pid}/audit-trails", params={"cursor": cursor}, headers=key)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"


# -- 4: a deleted project stays deleted ----------------------------------------------------------


def _race_a_delete(served: Served) -> tuple[str, list[int]]:
    """12 clients write to a new project while the admin deletes it; their statuses."""
    pid = _pid()
    key = served.project(pid)
    go = threading.Event()
    statuses: list[int] = []

    def writer(n: int) -> None:
        with served.client() as c:
            go.wait()
            for i in range(15):
                r = c.post(
                    f"/api/projects/{pid}/audit-trails", json=_trail(f"{pid}-{n}-{i}"), headers=key
                )
                statuses.append(r.status_code)

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(writer, n) for n in range(12)]
        go.set()
        time.sleep(0.05)
        with served.client() as c:
            assert c.delete(f"/api/projects/{pid}", headers=served.admin).status_code == 204
        for f in futures:
            f.result()
    return pid, statuses


def test_writes_racing_a_project_delete_never_recreate_it(served: Served) -> None:
    gone = []
    for _ in range(3):
        pid, statuses = _race_a_delete(served)
        assert set(statuses) <= {201, 401, 404}, statuses
        with served.client() as c:
            assert c.get(f"/api/projects/{pid}", headers=served.admin).status_code == 404
        gone.append(pid)
    store = llmtrail.open_store(served.url)
    try:
        assert not set(gone) & {p.id for p in store.list_projects()}
        for pid in gone:
            assert list(store.iter_trails(llmtrail.TrailFilter(pid))) == []
    finally:
        store.close()


# -- 6: request heads are bounded in size, count and time ----------------------------------------


def _raw(served: Served, head: bytes, *, wait: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", served.port), timeout=wait) as s:
        with contextlib.suppress(OSError):  # the server may close before reading it all
            s.sendall(head)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except OSError:
            pass
        return b"".join(chunks)


def test_oversized_or_too_many_headers_get_431(served: Served) -> None:
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (8 * 1024 * 1024) + b"\r\n\r\n"
    assert _raw(served, big).startswith(b"HTTP/1.1 431 ")
    many = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-%d: v\r\n" % i for i in range(150)
    )
    assert _raw(served, many + b"\r\n").startswith(b"HTTP/1.1 431 ")
    with served.client() as c:  # an ordinary large header still works
        assert c.get("/healthz", headers={"X-Big": "a" * 30_000}).status_code == 200
    rss = served.rss_bytes()
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (100 * 1024 * 1024)
    assert _raw(served, head + b"\r\n\r\n").startswith(b"HTTP/1.1 431 ")
    assert served.rss_bytes() - rss < 20 * 1024 * 1024


def test_a_head_that_never_ends_times_out(served: Served) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", served.port), timeout=15) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # ... and never the blank line
        answer = s.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert time.monotonic() - started < 10  # the test server's timeout is 2 s


# -- 8: CSV export cannot carry formulas -----------------------------------------------------


def test_csv_export_neutralises_formulas(served: Served) -> None:
    pid = _pid()
    key = served.project(pid)
    hostile = ["=1+1", "+1", "-1", "@SUM(A1)"]
    with served.client() as c:
        for i, mid in enumerate(hostile):
            t = _trail(mid, model="=cmd|' /C calc'!A0" if i == 0 else "gpt-4o")
            assert (
                c.post(f"/api/projects/{pid}/audit-trails", json=t, headers=key).status_code == 201
            )
        text = c.get(
            f"/api/projects/{pid}/audit-trails/export", params={"format": "csv"}, headers=key
        ).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(r["messageId"] for r in rows) == sorted("'" + m for m in hostile)
    assert "'=cmd|' /C calc'!A0" in {r["model"] for r in rows}
    for row in rows:
        assert not any(v.startswith(("=", "+", "-", "@", "\t")) for v in row.values())


# -- 9: every valid messageId can be read and patched --------------------------------------------


def test_message_ids_with_slashes_are_reachable_and_export_is_reserved(served: Served) -> None:
    pid = _pid()
    key = served.project(pid)
    with served.client() as c:
        for mid in ("a/b", "/lead", "trail/", "x//y", "export/1", "batch", "50% off?#1"):
            r = c.post(f"/api/projects/{pid}/audit-trails", json=_trail(mid), headers=key)
            assert r.status_code == 201, (mid, r.text)
            path = f"/api/projects/{pid}/audit-trails/" + quote(mid, safe="")
            got = c.get(path, headers=key)
            assert got.status_code == 200 and got.json()["messageId"] == mid, (mid, got.text)
            patched = c.patch(path, json={"status": "failed"}, headers=key)
            assert patched.status_code == 200 and patched.json()["status"] == "failed"
        r = c.post(f"/api/projects/{pid}/audit-trails", json=_trail("export"), headers=key)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "messageId"
        # the list's trailing-slash form still redirects, with a relative Location
        r = c.get(f"/api/projects/{pid}/audit-trails/", headers={**key, "Host": "evil.example"})
        assert r.status_code == 307 and r.headers["location"] == f"/api/projects/{pid}/audit-trails"
    store = llmtrail.open_store("memory://")
    with pytest.raises(llmtrail.ValidationError) as e:
        store.store(_trail("export"), project_id="p")
    assert e.value.fields == ["messageId"]


# -- 10: only plain decimals and RFC 3339 -----------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cost", {"prompt": "1_000", "completion": "0"}),
        ("cost", {"prompt": "٣", "completion": "0"}),
        ("cost", {"prompt": "1_0.5", "completion": "0"}),
        ("cost", {"prompt": " 1", "completion": "0"}),
        ("cost", {"prompt": ".5", "completion": "0"}),
        ("cost", {"prompt": "Infinity", "completion": "0"}),
        ("timestamp", "2026-W01-1T00:00:00Z"),
        ("timestamp", "2026-01-01T00:00:00+0000"),
        ("timestamp", "2026-01-01T00:00+00:00"),
        ("timestamp", "2026-01-01T00:00:00,5Z"),
        ("timestamp", " 2026-01-01T00:00:00Z"),
    ],
)
def test_only_plain_decimal_text_and_rfc3339(served: Served, field: str, value: Any) -> None:
    pid = _pid()
    key = served.project(pid)
    with served.client() as c:
        r = c.post(
            f"/api/projects/{pid}/audit-trails", json=_trail("m", **{field: value}), headers=key
        )
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"].startswith(field)
        assert c.get(f"/api/projects/{pid}/audit-trails/m", headers=key).status_code == 404


def test_plain_decimals_with_exponents_and_rfc3339_fractions_are_accepted(served: Served) -> None:
    pid = _pid()
    key = served.project(pid)
    t = _trail(
        "m",
        cost={"prompt": "1.5e-3", "completion": "2"},
        timestamp="2026-01-01T10:00:00.123456+02:00",
    )
    with served.client() as c:
        r = c.post(f"/api/projects/{pid}/audit-trails", json=t, headers=key)
    assert r.status_code == 201, r.text
    assert r.json()["cost"]["total"] == 2.0015
    assert r.json()["timestamp"] == "2026-01-01T08:00:00.123456Z"


# -- also: duplicate JSON keys, local Swagger UI ---------------------------------------------


def test_duplicate_json_keys_are_rejected(served: Served) -> None:
    pid = _pid()
    key = served.project(pid)
    body = b'{"messageId":"d","model":"a","model":"b","contextLayers":1}'
    with served.client() as c:
        r = c.post(
            f"/api/projects/{pid}/audit-trails",
            content=body,
            headers={**key, "Content-Type": "application/json"},
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "model"
        assert c.get(f"/api/projects/{pid}/audit-trails/d", headers=key).status_code == 404


def test_docs_load_nothing_from_the_internet(served: Served) -> None:
    with served.client() as c:
        page = c.get("/docs").text
        assert "cdn" not in page.lower() and "https://" not in page
        for asset in ("/static/docs/swagger-ui-bundle.js", "/static/docs/swagger-ui.css"):
            assert asset in page
            assert c.get(asset).status_code == 200
        assert c.get("/static/docs/index.html").status_code == 404


# -- 7: memory stays bounded whatever the field (PostgreSQL's write-version cache) -----------


def test_server_memory_is_bounded_with_large_metadata(module_pg_url: str, tmp_path: Path) -> None:
    s = start(module_pg_url, tmp_path, AUDIT_TRAIL_GROUP_COMMIT="false")
    try:
        pid = _pid()
        key = s.project(pid)
        meta = {f"k{i}": chr(65 + i % 26) * 4096 for i in range(64)}
        body = json.dumps(_trail("warm", metadata=meta))

        def post(n: int) -> None:
            with s.client() as c:
                for i in range(n, 1_200, 4):
                    doc = body.replace('"warm"', f'"big-{i}"')
                    r = c.post(
                        f"/api/projects/{pid}/audit-trails",
                        content=doc,
                        headers={**key, "Content-Type": "application/json"},
                    )
                    assert r.status_code == 201, r.text

        with s.client() as c:  # warm up: the first requests allocate what every one needs
            for i in range(20):
                c.post(
                    f"/api/projects/{pid}/audit-trails",
                    content=body.replace('"warm"', f'"w{i}"'),
                    headers={**key, "Content-Type": "application/json"},
                )
        before = s.rss_bytes()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(post, range(4)))
        grown = s.rss_bytes() - before
        # before the fix: every trail (~300 KB in memory) was kept, ~350 MB for these 1,200
        assert grown < 80 * 1024 * 1024, grown
    finally:
        stop(s)


# -- 5: revocations and deletions apply at once in every worker --------------------------------


def test_revocation_and_deletion_apply_at_once_in_every_worker(tmp_path: Path) -> None:
    s = start(f"sqlite:///{tmp_path}/w.db", tmp_path, "--workers", "2")
    try:
        pid = _pid()
        key = s.project(pid)
        other = s.key(pid)

        def fresh_posts(headers: dict[str, str], n: int = 20) -> list[int]:
            out = []
            for _ in range(n):  # a new connection each time: both workers answer some
                with s.client() as c:
                    r = c.post(
                        f"/api/projects/{pid}/audit-trails",
                        json=_trail(f"{pid}-{uuid.uuid4().hex}"),
                        headers=headers,
                    )
                    out.append(r.status_code)
            return out

        assert set(fresh_posts(key)) == {201}  # every worker has the key cached now
        with s.client() as c:
            keys = c.get(f"/api/projects/{pid}/keys", headers=s.admin).json()["items"]
            kid = next(
                k["id"] for k in keys if key["Authorization"].endswith(k["prefix"][4:]) or True
            )
            secret = key["Authorization"].split()[1]
            kid = next(k["id"] for k in keys if secret.startswith(k["prefix"]))
            assert c.delete(f"/api/projects/{pid}/keys/{kid}", headers=s.admin).status_code == 204
        assert set(fresh_posts(key)) == {401}
        assert set(fresh_posts(other, 10)) == {201}
        with s.client() as c:
            assert c.delete(f"/api/projects/{pid}", headers=s.admin).status_code == 204
        assert set(fresh_posts(other)) == {401}
        with s.client() as c:
            assert c.get(f"/api/projects/{pid}", headers=s.admin).status_code == 404
    finally:
        stop(s)


def test_a_revocation_elsewhere_applies_within_a_second(served: Served) -> None:
    """Another replica, or the CLI, revokes: the cache trusts a key for at most 1 s."""
    pid = _pid()
    key = served.project(pid)
    with served.client() as c:
        assert c.get(f"/api/projects/{pid}/audit-trails", headers=key).status_code == 200
        store = llmtrail.open_store(served.url)
        try:
            (record,) = store.list_api_keys(pid)
            store.revoke_api_key(pid, record.id)
        finally:
            store.close()
        revoked = time.monotonic()
        while c.get(f"/api/projects/{pid}/audit-trails", headers=key).status_code == 200:
            assert time.monotonic() - revoked < 1.5
            time.sleep(0.05)
