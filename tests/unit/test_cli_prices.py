"""``llmtrail prices`` and ``llmtrail reprice`` (SPEC §6), run as a user runs them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

import llmtrail
from llmtrail.cli.app import _register, app

_register()
runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    """Exit code and what the command printed: stdout only when it printed JSON (logs go to
    stderr), else both (error messages go to stderr)."""
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout if "--json" in args else result.output


def test_prices_shows_every_kind_of_token_and_the_long_context_tier() -> None:
    code, out = run("prices", "claude-sonnet-4-5-20250929", "--json")
    assert code == 0, out
    quote = json.loads(out)
    assert quote["pricedAs"] == "claude-sonnet-4-5" and quote["provider"] == "anthropic"
    assert quote["priceVersion"].startswith("genai-prices-")
    base, long = quote["tiers"]
    assert base == {
        "abovePromptTokens": 0,
        "input": "3",
        "output": "15",
        "cacheRead": "0.3",
        "cacheWrite": "3.75",
        "cacheWrite1h": "6",
        "reasoning": "15",
    }
    assert long["abovePromptTokens"] == 200_000 and long["input"] == "6"
    code, out = run("prices", "claude-sonnet-4-5")
    assert code == 0 and "USD / 1M tokens" in out and "> 200,000" in out and "22.5" in out


def test_prices_at_a_past_instant_and_for_a_provider() -> None:
    code, out = run("prices", "o3", "--at", "2025-05-01T00:00:00+02:00", "--json")
    assert code == 0, out
    assert json.loads(out)["tiers"][0]["input"] == "10"  # before the June 2025 price cut
    assert json.loads(out)["at"] == "2025-04-30T22:00:00Z"
    model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    code, out = run("prices", model, "--provider", "aws-bedrock", "--json")
    assert code == 0 and json.loads(out)["tiers"][0]["input"] == "3.3"


def test_prices_of_a_service_tier() -> None:
    code, out = run("prices", "gpt-5", "--service-tier", "flex", "--json")
    assert code == 0 and json.loads(out)["tiers"][0]["input"] == "0.625"
    assert json.loads(out)["serviceTier"] == "flex"


def test_prices_of_the_price_file_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"version": "ours", "models": {"gpt-4o": {"input": "1", "output": "2"}}}')
    monkeypatch.setenv("AUDIT_TRAIL_PRICE_FILE", str(path))
    code, out = run("prices", "gpt-4o", "--json")
    assert code == 0 and json.loads(out)["priceVersion"] == "price-file-ours"


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("prices", "no-such-model"), 1, "no price known"),
        (("prices", "gpt-4o", "--at", "yesterday"), 2, "--at must be an RFC 3339"),
        (("prices", "gpt-4o", "--at", "2025-01-01T00:00:00"), 2, "--at must be"),
        (("prices", "gpt-4o", "--provider", "Open AI"), 2, "--provider must be"),
    ],
)
def test_prices_bad_input(args: tuple[str, ...], code: int, needle: str) -> None:
    got, out = run(*args)
    assert got == code and needle in out


def test_reprice_dry_run_then_for_real(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'trails.db'}"
    now = datetime.now(UTC)
    with llmtrail.open_store(url) as store:
        store.store(
            {"messageId": "a", "model": "house", "tokens": {"prompt": 10**6, "completion": 0}},
            "shop",
        )
        store.store(
            {"messageId": "b", "model": "gpt-4o", "tokens": {"prompt": 10**5}, "cost": {}},
            "shop",
        )
    path = tmp_path / "p.toml"
    path.write_text('version = "v2"\n[models.house]\ninput = "1.5"\noutput = "2"\n')
    monkeypatch.setenv("AUDIT_TRAIL_PRICE_FILE", str(path))
    since = (now - timedelta(days=1)).isoformat()
    base = ("reprice", "--project", "shop", "--since", since, "--url", url)
    code, out = run(*base, "--dry-run", "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["dryRun"] is True and report["changed"] == 1
    assert report["skippedProvided"] == 1
    assert report["models"]["house"] == {
        "trails": 1,
        "changed": 1,
        "oldTotal": "0",
        "newTotal": "1.5",
    }
    with llmtrail.open_store(url) as store:
        assert store.get("a").cost_source == "unpriced"  # type: ignore[union-attr]
    code, out = run(*base)
    assert code == 0 and "house" in out and "1.5" in out and "1 changed" in out
    with llmtrail.open_store(url) as store:
        a = store.get("a")
        assert a is not None and a.cost is not None
        assert (a.cost.total, a.cost_source, a.price_version) == (1.5, "computed", "price-file-v2")


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (("--since", "last week"), "--since must be"),
        (("--since", "2026-01-02T00:00:00Z", "--until", "2026-01-01T00:00:00Z"), "--until must"),
    ],
)
def test_reprice_bad_input(extra: tuple[str, ...], needle: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    code, out = run("reprice", "--project", "shop", "--url", url, *extra)
    assert code == 2 and needle in out


def test_reprice_of_an_unknown_project(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    code, out = run("reprice", "--project", "nope", "--since", "2026-01-01T00:00:00Z", "--url", url)
    assert code == 1 and "no project 'nope'" in out
