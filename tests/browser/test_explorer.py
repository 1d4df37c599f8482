"""The trail explorer (SPEC §12) in a real headless Chromium: filters kept in the URL, cursor
paging, a trail opened whole, every user-supplied field shown as text, nothing loaded from
anywhere but the server itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from tests.browser.test_dashboard import Site, Watch, _sign_in, _wait, browser, site  # noqa: F401

XSS = '<img src=x onerror="window.pwned=1">'


def _seed(where: Site) -> str:
    store = where.store
    now = datetime.now(UTC)
    store.create_project("explore")
    trails = [
        {
            "messageId": f"ex-{i:03d}",
            "model": "gpt-4o" if i % 3 else "claude-sonnet-4-5",
            "provider": "openai" if i % 3 else "anthropic",
            "timestamp": (now - timedelta(minutes=i)).isoformat(),
            "status": "failed" if i % 10 == 0 else "completed",
            "tokens": {"prompt": 100 + i, "completion": 10},
            "cost": {"prompt": "0.001", "completion": "0.0005"},
        }
        for i in range(75)
    ]
    store.store_many(trails, "explore")
    store.store(
        {
            "messageId": f"evil-{XSS}",
            "model": XSS,
            "timestamp": now.isoformat(),
            "reasoning": [XSS, "x" * 2000],
            "metadata": {XSS: XSS, "userId": "u-1"},
            "tokens": {"prompt": 1000, "completion": 50, "cacheRead": 200, "reasoning": 20},
            "cost": {"prompt": "0.0123", "completion": "0.004"},
        },
        "explore",
    )
    _record, key = store.create_api_key("explore")
    return key


def _page(browser: Any, site: Site, path: str) -> tuple[Any, Any, Watch]:  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="UTC")
    page = context.new_page()
    watch = Watch(page)
    page.goto(f"{site.base}/projects/explore/trails{path}")
    return context, page, watch


def _rows(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        "#trails-table tbody tr td:nth-child(2)", "els => els.map(e => e.textContent)"
    )


def test_filters_paging_and_a_trail_opened_whole(browser: Any, site: Site) -> None:  # noqa: F811
    key = _seed(site)
    context, page, watch = _page(browser, site, "")
    try:
        _sign_in(page, key)
        first = _rows(page)
        assert len(first) == 50 and first[0].startswith("evil-")  # newest first
        assert page.is_visible("#next") and page.is_hidden("#first")
        page.click("#next")
        page.wait_for_selector("body[data-state=ready]")
        second = _rows(page)
        assert len(second) == 26 and not set(first) & set(second)
        assert page.is_hidden("#next") and page.is_visible("#first")
        # filters: model + status, kept in the URL
        page.select_option("select[name=status]", "failed")
        page.fill("input[name=model]", "gpt-4o")
        page.click("#apply")
        _wait(page, "location.search.includes('status=failed')")
        page.wait_for_selector("body[data-state=ready]")
        failed_gpt = [f"ex-{i:03d}" for i in range(75) if i % 10 == 0 and i % 3]
        assert _rows(page) == failed_gpt
        assert "model=gpt-4o" in page.evaluate("location.search")
        page.reload()  # the filters come back from the URL; the key from the tab's storage
        page.wait_for_selector("body[data-state=ready]")
        assert _rows(page) == failed_gpt
        page.click("#clear")
        page.wait_for_selector("body[data-state=ready]")
        page.fill("input[name=messageIdPrefix]", "ex-07")
        page.click("#apply")
        _wait(page, "document.querySelectorAll('#trails-table tbody tr').length === 5")
        page.click("#clear")
        page.wait_for_selector("body[data-state=ready]")
        page.fill("input[name=metadata]", "userId=u-1")
        page.click("#apply")
        _wait(page, "document.querySelectorAll('#trails-table tbody tr').length === 1")
        assert "metadata=userId%3Du-1" in page.evaluate("location.search")
        # open a trail: the whole trail, and every hostile field as text
        page.click("#clear")
        page.wait_for_selector("body[data-state=ready]")
        page.click("#trails-table tbody tr:first-child a")
        page.wait_for_selector("#detail:not([hidden])")
        page.wait_for_selector("body[data-state=ready]")
        assert page.inner_text("#detail-title") == f"evil-{XSS}"
        assert XSS in page.inner_text("#detail-fields")
        assert XSS in page.inner_text("#detail-metadata") and "u-1" in page.inner_text(
            "#detail-metadata"
        )
        tokens = page.inner_text("#detail-tokens")
        assert "Cache read" in tokens and "200" in tokens and "Reasoning" in tokens
        cost = page.inner_text("#detail-cost")
        assert "$0.0163" in cost and "provided" in cost
        steps = page.query_selector_all("#detail-reasoning details")
        assert len(steps) == 2
        assert steps[0].get_attribute("open") is not None  # short: open
        assert steps[1].get_attribute("open") is None  # long: collapsed
        assert XSS in page.inner_text("#detail-reasoning")
        assert page.evaluate("window.pwned") is None
        assert page.query_selector("#detail img") is None
        assert watch.errors == [] and watch.foreign(site.base) == []
    finally:
        context.close()


def test_a_wrong_key_and_a_missing_trail(browser: Any, site: Site) -> None:  # noqa: F811
    context, page, _ = _page(browser, site, "")
    try:
        page.fill("#key", "ltk_not-a-key")
        page.click("#open")
        _wait(page, "document.getElementById('login-error').textContent.length > 0")
        assert page.is_hidden("#list")
    finally:
        context.close()
    if site.store.get_project("explore") is None:
        site.store.create_project("explore")
    _record, key = site.store.create_api_key("explore")
    context, page, _ = _page(browser, site, "/" + quote("no-such-trail", safe=""))
    try:
        page.fill("#key", key)
        page.click("#open")
        _wait(page, "document.getElementById('login-error').textContent.length > 0")
        assert "no trail" in page.inner_text("#login-error")
    finally:
        context.close()


def test_the_dashboard_links_to_the_explorer(browser: Any, site: Site) -> None:  # noqa: F811
    context = browser.new_context(timezone_id="UTC")
    page = context.new_page()
    try:
        page.goto(f"{site.base}/projects/{site.project}/dashboard")
        _sign_in(page, site.key)
        href = page.get_attribute("#recent-table tbody tr:first-child a", "href")
        assert href is not None and f"/projects/{site.project}/trails/" in href
        model = page.get_attribute("#models-table tbody tr:first-child a", "href")
        assert model is not None and "/trails?model=" in model
        page.click("#recent-table tbody tr:first-child a")
        page.wait_for_selector("#detail:not([hidden])")  # the key came along in the tab
        page.wait_for_selector("body[data-state=ready]")
    finally:
        context.close()
