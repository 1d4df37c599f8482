"""Project budgets (SPEC §12): the budget field, the analytics block, the gauges, the webhook.

The webhook receiver is a real HTTP server on loopback; "replicas" are separate stores (and
checkers) on one database, as separate processes would be.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from typer.testing import CliRunner

import llmtrail
from llmtrail.alerts import BudgetAlerts
from llmtrail.cli.app import _register, app
from llmtrail.config import load_settings
from tests.api.conftest import Api, assert_problem, make_api

NOW = datetime.now(UTC)


class Receiver:
    """A webhook receiver: records every request; answers ``fail_first`` of them with 500."""

    def __init__(self, fail_first: int = 0) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                ok = len(receiver.requests) > receiver.fail_first
                self.send_response(204 if ok else 500)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts(self) -> list[dict[str, Any]]:
        return [json.loads(b) for _, b in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def spend(store: llmtrail.Store, project: str, mid: str, usd: str, when: datetime = NOW) -> None:
    store.store(
        {
            "messageId": mid,
            "model": "gpt-4o",
            "timestamp": when.isoformat(),
            "cost": {"prompt": usd, "completion": "0"},
        },
        project,
    )


def test_budget_on_the_project_routes(api: Api) -> None:
    r = api.client.post(
        "/api/projects",
        json={"id": "b", "budget": {"amount": "50.00", "period": "day"}},
        headers=api.admin,
    )
    assert r.status_code == 201, r.text
    assert r.json()["budget"] == {"amount": 50, "period": "day"}
    r = api.client.patch(
        "/api/projects/b", json={"budget": {"amount": 12.5, "period": "month"}}, headers=api.admin
    )
    assert r.status_code == 200 and r.json()["budget"] == {"amount": 12.5, "period": "month"}
    before = api.snapshot()
    for bad, fields in (
        ({"amount": "0", "period": "day"}, {"budget.amount"}),
        ({"amount": "-1", "period": "day"}, {"budget.amount"}),
        ({"amount": "NaN", "period": "day"}, {"budget.amount"}),
        ({"amount": "5", "period": "week"}, {"budget.period"}),
        ({"amount": "5"}, {"budget.period"}),
        ({"amount": "5", "period": "day", "currency": "EUR"}, {"budget.currency"}),
        ("50", {"budget"}),
    ):
        r = api.client.patch("/api/projects/b", json={"budget": bad}, headers=api.admin)
        body = assert_problem(r, 422)
        assert {e["field"] for e in body["errors"]} == fields, (bad, body)
    assert api.snapshot() == before
    r = api.client.patch("/api/projects/b", json={"budget": None}, headers=api.admin)
    assert r.status_code == 200 and r.json()["budget"] is None


def test_analytics_budget_block_is_exact(api: Api) -> None:
    headers = api.project("spend")
    api.client.patch(
        "/api/projects/spend", json={"budget": {"amount": "1.00", "period": "day"}},
        headers=api.admin,
    )  # fmt: skip
    spend(api.store, "spend", "s-1", "0.3")
    spend(api.store, "spend", "s-2", "0.6")
    spend(api.store, "spend", "old", "5", when=NOW - timedelta(days=2))  # another day
    r = api.client.get("/api/projects/spend/assessment/analytics", headers=headers)
    assert r.status_code == 200
    budget = r.json()["analytics"]["budget"]
    assert budget["amount"] == 1 and budget["period"] == "day"
    assert Decimal(str(budget["spent"])) == Decimal("0.9")
    assert Decimal(str(budget["remaining"])) == Decimal("0.1")
    assert budget["exceeded"] is False
    spend(api.store, "spend", "s-3", "0.1")
    budget = api.client.get("/api/projects/spend/assessment/analytics", headers=headers).json()[
        "analytics"
    ]["budget"]
    assert budget["exceeded"] is True and budget["remaining"] == 0
    other = api.project("nobudget")
    plain = api.client.get("/api/projects/nobudget/assessment/analytics", headers=other)
    assert "budget" not in plain.json()["analytics"]


def test_budget_gauges_in_metrics(api: Api) -> None:
    api.store.create_project("g", budget={"amount": "4", "period": "month"})
    spend(api.store, "g", "g-1", "1")
    text = api.client.get("/metrics").text
    assert 'llmtrail_budget_amount_usd{period="month",project="g"} 4.0' in text
    assert 'llmtrail_budget_spent_usd{period="month",project="g"} 1.0' in text
    assert 'llmtrail_budget_used_ratio{period="month",project="g"} 0.25' in text
    api.store.update_project("g", budget=None)
    assert 'project="g"' not in api.client.get("/metrics").text


def _hmac_ok(secret: str, headers: dict[str, str], body: bytes) -> bool:
    want = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return headers.get("X-Llmtrail-Signature") == want


def test_webhook_once_per_threshold_across_replicas_and_restarts(
    db_url: str, receiver: Receiver
) -> None:
    settings = load_settings(usage_fold_seconds=0)
    one = llmtrail.open_store(db_url, settings=settings)
    two = llmtrail.open_store(db_url, settings=settings)
    try:
        one.create_project("w", budget={"amount": "10", "period": "month"})
        checkers = [
            BudgetAlerts(s, receiver.url, secret="s3cret-value", sleep=lambda _: None)
            for s in (one, two)
        ]
        spend(one, "w", "w-1", "7.9")
        assert [c.check_once() for c in checkers] == [[], []]
        spend(one, "w", "w-2", "0.1")  # exactly 80%
        results: list[list[str]] = []
        threads = [
            threading.Thread(target=lambda c=c: results.append(c.check_once())) for c in checkers
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results, key=len) == [[], [f"w/{NOW:%Y-%m}/80"]]
        spend(one, "w", "w-3", "5")  # 130%: the 100% alert, once
        assert checkers[1].check_once() == [f"w/{NOW:%Y-%m}/100"]
        assert checkers[0].check_once() == []
        restarted = BudgetAlerts(two, receiver.url, secret="s3cret-value")
        assert restarted.check_once() == []
        alerts = receiver.alerts()
        assert [a["threshold"] for a in alerts] == [80, 100]
        assert alerts[0]["projectId"] == "w" and alerts[0]["period"] == "month"
        assert Decimal(str(alerts[0]["spent"])) == Decimal("8")
        assert alerts[1]["exceeded"] is True
        for headers, body in receiver.requests:
            assert _hmac_ok("s3cret-value", headers, body)
        for c in (*checkers, restarted):
            c.stop()
    finally:
        one.close()
        two.close()


def test_webhook_is_retried_with_backoff(sqlite_url: str) -> None:
    flaky = Receiver(fail_first=2)
    waits: list[float] = []
    store = llmtrail.open_store(sqlite_url)
    try:
        store.create_project("r", budget={"amount": "1", "period": "day"})
        spend(store, "r", "r-1", "2")
        checker = BudgetAlerts(store, flaky.url, sleep=waits.append)
        assert sorted(checker.check_once()) == [f"r/{NOW:%Y-%m-%d}/100", f"r/{NOW:%Y-%m-%d}/80"]
        assert waits == [0.5, 1.0]  # two failures, doubling
        assert len(flaky.requests) == 4  # 2 failed + 2 delivered
        assert "X-Llmtrail-Signature" not in flaky.requests[0][0]  # no secret, no signature
        assert checker.check_once() == []
        checker.stop()
    finally:
        store.close()
        flaky.close()


def test_an_unreachable_webhook_is_retried_by_a_later_check(sqlite_url: str) -> None:
    store = llmtrail.open_store(sqlite_url)
    try:
        store.create_project("u", budget={"amount": "1", "period": "day"})
        spend(store, "u", "u-1", "0.9")
        down = BudgetAlerts(store, "http://127.0.0.1:9/none", sleep=lambda _: None)
        assert down.check_once() == []
        down.stop()
        # the failed claim's lease must expire before anyone retries it
        import llmtrail.alerts as alerts_module

        later = Receiver()
        try:
            original = alerts_module.LEASE_SECONDS
            alerts_module.LEASE_SECONDS = 0
            up = BudgetAlerts(store, later.url)
            assert up.check_once() == [f"u/{NOW:%Y-%m-%d}/80"]
            up.stop()
        finally:
            alerts_module.LEASE_SECONDS = original
            later.close()
    finally:
        store.close()


def test_serve_sends_budget_alerts(sqlite_url: str, receiver: Receiver) -> None:
    gen = make_api(sqlite_url, alert_webhook_url=receiver.url, alert_check_seconds=0.2)
    api = next(gen)
    try:
        headers = api.project("srv")
        api.client.patch(
            "/api/projects/srv", json={"budget": {"amount": "1", "period": "day"}},
            headers=api.admin,
        )  # fmt: skip
        body = {"messageId": "srv-1", "model": "gpt-4o", "cost": {"prompt": "1", "completion": 0}}
        assert api.post("srv", body, headers).status_code == 201
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while len(receiver.requests) < 2 and datetime.now(UTC) < deadline:
            threading.Event().wait(0.05)
        assert sorted(a["threshold"] for a in receiver.alerts()) == [80, 100]
    finally:
        gen.close()


def test_cli_budget_flags(sqlite_url: str) -> None:
    _register()
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "projects",
            "create",
            "c",
            "--budget",
            "25",
            "--budget-period",
            "day",
            "--url",
            sqlite_url,
        ],
    )
    assert r.exit_code == 0, r.stdout
    r = runner.invoke(app, ["projects", "update", "c", "--budget", "30", "--url", sqlite_url])
    assert r.exit_code == 0 and json.loads(r.stdout)["budget"] == {"amount": 30, "period": "month"}
    r = runner.invoke(app, ["projects", "update", "c", "--budget", "-1", "--url", sqlite_url])
    assert r.exit_code == 0 and json.loads(r.stdout)["budget"] is None
    r = runner.invoke(app, ["projects", "update", "c", "--budget", "x", "--url", sqlite_url])
    assert r.exit_code == 2
