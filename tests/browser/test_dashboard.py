"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against the real
server (uvicorn on a free loopback port) over a seeded SQLite database.

Screenshots land in ``artifacts/`` at the repository root (gitignored; CI keeps them).
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import uvicorn

from llmtrail.config import Settings
from llmtrail.server import create_app
from llmtrail.store import Store, open_store
from tests.conftest import missing

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("LLMTRAIL_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
ADMIN_KEY = "browser-admin-key-0123456789"
PROJECT = "acme-support-bot"
MODELS = [
    "claude-3-7-sonnet-20250219",
    "gpt-4o-2024-11-20",
    "gpt-4o-mini",
    "gemini-2.0-flash",
    "ft:gpt-4o-mini-2024-07-18:acme-corp:support-triage-v3:9xYzAbCd",
    "llama-3.1-70b-instruct",
]


@dataclass
class Site:
    base: str
    store: Store
    key: str
    project: str = PROJECT
    hits: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed(store: Store, now: datetime) -> None:
    rng = random.Random(7)
    store.create_project(PROJECT, name="Acme support bot")
    store.create_project("other-project")
    trails: list[dict[str, Any]] = []
    for i in range(1_500):
        age = timedelta(minutes=rng.randint(0, 120 * 24 * 60))
        model = rng.choices(MODELS, weights=[5, 4, 8, 3, 2, 1])[0]
        prompt, completion = rng.randint(200, 6_000), rng.randint(50, 1_500)
        trails.append(
            {
                "messageId": f"chat-{i:05d}-{rng.getrandbits(32):08x}",
                "model": model,
                "timestamp": now - age,
                "contextLayers": rng.randint(1, 6),
                "tokens": {"prompt": prompt, "completion": completion},
                "cost": {
                    "prompt": Decimal(prompt) * Decimal("0.0000025"),
                    "completion": Decimal(completion) * Decimal("0.00001"),
                },
                "status": rng.choices(["completed", "pending", "failed"], [20, 1, 1])[0],
            }
        )
    for start in range(0, len(trails), 500):
        store.store_many(trails[start : start + 500], PROJECT)
    store.store({"messageId": "other-1", "model": "x", "tokens": {"prompt": 1}}, "other-project")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    db = tmp_path_factory.mktemp("browser") / "dash.db"
    settings = Settings(admin_key=ADMIN_KEY, cleanup_cron="off")  # type: ignore[call-arg]
    store = open_store(f"sqlite:///{db}", settings=settings)
    _seed(store, datetime.now(UTC))
    _record, key = store.create_api_key(PROJECT)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(store, settings), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield Site(f"http://127.0.0.1:{port}", store, key)
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        missing("Playwright (python package)", str(e))
    if not os.path.exists(CHROMIUM):
        missing("Chromium", f"{CHROMIUM} does not exist (apt-get install chromium)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class Watch:
    """Console errors, page errors and every request a page makes."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on(
            "console",
            lambda m: (
                self.errors.append(f"console.{m.type}: {m.text}")
                if m.type in ("error", "warning")
                else None
            ),
        )
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url}"))
        page.on("request", lambda r: self.requests.append(r.url))

    def foreign(self, base: str) -> list[str]:
        host = urlparse(base).netloc
        return [u for u in self.requests if urlparse(u).netloc not in (host, "")]


def _open(browser: Any, site: Site, tz: str, path: str = "") -> tuple[Any, Any, Watch]:
    context = browser.new_context(
        viewport={"width": 1366, "height": 900}, timezone_id=tz, locale="en-US"
    )
    page = context.new_page()
    watch = Watch(page)
    page.goto(f"{site.base}/projects/{site.project}/dashboard{path}")
    return context, page, watch


def _sign_in(page: Any, key: str) -> None:
    page.fill("#key", key)
    page.click("#open")
    page.wait_for_selector("body[data-state=ready]", timeout=15_000)


def _wait(page: Any, expression: str, timeout: float = 15.0) -> None:
    """Poll a JS expression until truthy (``wait_for_function`` would need eval, which the
    page's Content-Security-Policy rightly forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.05)


def _labels(page: Any, canvas: str) -> int:
    return int(page.evaluate(f"Chart.getChart('{canvas}').data.labels.length"))


def _expected(site: Site, days: int, tz: str) -> dict[str, Any]:
    from llmtrail.model.wire import dumps, loads

    wire: dict[str, Any] = loads(
        dumps(site.store.analytics(site.project, days=days, tz=tz).to_wire())
    )
    return wire["analytics"]


@pytest.mark.parametrize("tz", ["UTC", "America/New_York"])
def test_dashboard_renders_the_analytics(browser: Any, site: Site, tz: str) -> None:
    context, page, watch = _open(browser, site, tz)
    try:
        # Nothing but the key form before a key is given, and no call to the API.
        assert page.is_visible("#login")
        assert not page.is_visible("#board")
        assert page.get_attribute("body", "data-state") == "locked"
        assert not [u for u in watch.requests if "/assessment/analytics" in u]

        _sign_in(page, site.key)
        assert not page.is_visible("#login")
        expected = _expected(site, 30, tz)
        data = page.evaluate("window.llmtrailDashboard.data")
        assert data["messageCount"] == expected["messageCount"] > 0
        assert [d["date"] for d in data["costByDay"]] == [d["date"] for d in expected["costByDay"]]
        assert _labels(page, "cost-chart") == 30
        assert _labels(page, "tokens-chart") == 30
        assert _labels(page, "model-chart") == len(expected["costByModel"]) == len(MODELS)
        assert page.locator("#recent-table tbody tr").count() == 10
        assert page.locator("#models-table tbody tr").count() == len(MODELS)
        assert page.inner_text("#kpi-messages") == f"{expected['messageCount']:,}"
        assert page.get_attribute("#kpi-cost", "title") == f"{expected['totalCost']} USD"
        assert page.inner_text("#tz-label") == tz
        # the charts really drew pixels
        assert page.evaluate(
            "(() => { const c = document.getElementById('cost-chart');"
            " return c.width > 300 && c.height > 100; })()"
        )
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(
            path=str(ARTIFACTS / f"dashboard-30d-{tz.replace('/', '_')}.png"), full_page=True
        )

        for days in (90, 7):
            page.click(f".segmented button[data-days='{days}']")
            _wait(
                page,
                f"Chart.getChart('cost-chart').data.labels.length === {days}"
                " && document.body.dataset.state === 'ready'",
            )
            assert _labels(page, "tokens-chart") == days
            got = page.evaluate("window.llmtrailDashboard.data")
            assert got["totalCost"] == float(_expected(site, days, tz)["totalCost"])
            assert (
                page.get_attribute(f".segmented button[data-days='{days}']", "aria-pressed")
                == "true"
            )
        page.screenshot(
            path=str(ARTIFACTS / f"dashboard-7d-{tz.replace('/', '_')}.png"), full_page=True
        )

        # The key survives a reload of the tab (sessionStorage) and the window is in the URL.
        page.reload()
        page.wait_for_selector("body[data-state=ready]", timeout=15_000)
        assert _labels(page, "cost-chart") == 7

        assert watch.errors == []
        assert watch.foreign(site.base) == []
    finally:
        context.close()


def test_hundreds_of_days_stay_readable(browser: Any, site: Site) -> None:
    context, page, watch = _open(browser, site, "UTC", "?days=400")
    try:
        _sign_in(page, site.key)
        assert _labels(page, "cost-chart") == 400
        assert _labels(page, "tokens-chart") == 400
        # x-axis labels are thinned out, not drawn 400 times on top of each other
        ticks = page.evaluate("Chart.getChart('cost-chart').scales.x.ticks.length")
        assert 2 <= ticks <= 16
        page.screenshot(path=str(ARTIFACTS / "dashboard-400d.png"), full_page=True)
        assert watch.errors == []
    finally:
        context.close()


def test_wrong_or_foreign_keys_show_no_data(browser: Any, site: Site) -> None:
    context, page, watch = _open(browser, site, "UTC")
    try:
        page.fill("#key", "ltk_not-a-real-key")
        page.click("#open")
        _wait(page, "document.getElementById('login-error').textContent.length > 0")
        assert "Unknown" in page.inner_text("#login-error")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-login.png"))
        assert not page.is_visible("#board")
        assert page.evaluate("window.llmtrailDashboard.data") is None
        assert page.evaluate("sessionStorage.length") == 0

        _record, other_key = site.store.create_api_key("other-project")
        page.fill("#key", other_key)
        page.click("#open")
        _wait(page, "document.getElementById('login-error').textContent.includes('does not reach')")
        assert not page.is_visible("#board")
        assert page.evaluate("sessionStorage.length") == 0

        # The admin key works too; "Forget key" removes it and hides the data again.
        _sign_in(page, ADMIN_KEY)
        assert page.is_visible("#board")
        page.click("#forget")
        assert page.is_visible("#login")
        assert not page.is_visible("#board")
        assert page.evaluate("sessionStorage.length") == 0
        assert watch.foreign(site.base) == []
    finally:
        context.close()


def test_page_headers_forbid_foreign_assets(site: Site) -> None:
    import httpx

    r = httpx.get(f"{site.base}/projects/{site.project}/dashboard")
    assert r.status_code == 200
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert "http" not in r.text.replace(site.base, "").split("<body")[0].lower().replace(
        "http-equiv", ""
    )
    js = httpx.get(f"{site.base}/static/dashboard/vendor/chartjs/chart.umd.min.js")
    assert js.status_code == 200 and "Chart.js" in js.text[:200]
    assert httpx.get(f"{site.base}/static/dashboard/../../app.py").status_code == 404
    assert httpx.get(f"{site.base}/static/dashboard/%2e%2e/routes/dashboard.py").status_code == 404


def test_empty_project_on_a_narrow_screen(browser: Any, site: Site) -> None:
    site.store.create_project("empty-one")
    _record, key = site.store.create_api_key("empty-one")
    context = browser.new_context(viewport={"width": 420, "height": 900}, timezone_id="UTC")
    page = context.new_page()
    watch = Watch(page)
    try:
        page.goto(f"{site.base}/projects/empty-one/dashboard")
        _sign_in(page, key)
        assert _labels(page, "cost-chart") == 30
        assert page.inner_text("#kpi-cost") == "$0"
        assert "No trails in this window" in page.inner_text("#recent-table")
        assert "No messages in this window" in page.inner_text("#models-table")
        # nothing overflows the viewport sideways
        assert page.evaluate("document.documentElement.scrollWidth") <= 420
        page.screenshot(path=str(ARTIFACTS / "dashboard-empty-narrow.png"), full_page=True)
        assert watch.errors == []
    finally:
        context.close()


def test_budget_progress_bar(browser: Any, site: Site) -> None:
    now = datetime.now(UTC)
    site.store.create_project("budgeted", budget={"amount": "2", "period": "month"})
    site.store.store(
        {"messageId": "bud-1", "model": "gpt-4o", "timestamp": now.isoformat(),
         "cost": {"prompt": "1.7", "completion": "0"}},
        "budgeted",
    )  # fmt: skip
    _record, key = site.store.create_api_key("budgeted")
    context = browser.new_context(timezone_id="UTC")
    page = context.new_page()
    watch = Watch(page)
    try:
        page.goto(f"{site.base}/projects/budgeted/dashboard")
        _sign_in(page, key)
        _wait(page, "!document.getElementById('budget-card').hidden")
        assert page.get_attribute("#budget-bar", "aria-valuenow") == "85"
        assert "warn" in (page.get_attribute("#budget-bar", "class") or "")
        text = page.inner_text("#budget-text")
        assert "$1.70 of $2" in text and "85%" in text, text
        assert watch.errors == []
    finally:
        context.close()
    # a project without a budget shows no card
    page2 = browser.new_page()
    try:
        page2.goto(f"{site.base}/projects/{site.project}/dashboard")
        _sign_in(page2, site.key)
        assert page2.is_hidden("#budget-card")
    finally:
        page2.close()


def test_cost_by_selector(browser: Any, site: Site) -> None:
    now = datetime.now(UTC)
    site.store.create_project("grouped")
    rows = [
        ("g-1", "openai", "u-1", "0.5"),
        ("g-2", "openai", "u-2", "0.25"),
        ("g-3", "anthropic", "u-1", "1"),
        ("g-4", None, None, "0.125"),
    ]
    for mid, provider, user, usd in rows:
        data: dict[str, Any] = {
            "messageId": mid, "model": "gpt-4o", "timestamp": now.isoformat(),
            "cost": {"prompt": usd, "completion": "0"},
        }  # fmt: skip
        if provider:
            data["provider"] = provider
        if user:
            data["metadata"] = {"userId": user}
        site.store.store(data, "grouped")
    _record, key = site.store.create_api_key("grouped")
    context = browser.new_context(timezone_id="UTC")
    page = context.new_page()
    watch = Watch(page)

    def table() -> list[list[str]]:
        return page.eval_on_selector_all(
            "#group-table tbody tr",
            "rows => rows.map(r => Array.from(r.cells).slice(0, 4).map(c => c.textContent))",
        )

    try:
        page.goto(f"{site.base}/projects/grouped/dashboard")
        _sign_in(page, key)
        _wait(page, "document.querySelectorAll('#group-table tbody tr').length === 3")
        assert [r[0] for r in table()] == ["anthropic", "openai", "(none)"]
        assert table()[1][3] == "$0.75"
        page.select_option("#group-by", "metadata")
        page.fill("#group-key", "userId")
        page.click("#group-show")
        _wait(page, "document.querySelector('#group-table tbody tr td').textContent === 'u-1'")
        assert [(r[0], r[3]) for r in table()] == [
            ("u-1", "$1.50"),
            ("u-2", "$0.25"),
            ("(none)", "$0.125"),
        ]
        assert watch.errors == []
    finally:
        context.close()
