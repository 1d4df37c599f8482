"""Prices: hand-worked costs per provider and model family, name resolution, price files.

The prices come from the genai-prices dataset; every figure below was worked out by hand from
the providers' published price pages (USD per million tokens), so a dataset update that
changed one of them would fail here before it reached a user's costs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmtrail
from llmtrail import TokenUsage
from llmtrail.errors import ValidationError
from llmtrail.model import rules
from llmtrail.pricing import PriceFileError, dataset, load_table, make_pricer

T = make_pricer()
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
DATASET_VERSION = f"genai-prices-{version('genai-prices')}"


def cost(
    model: str, tokens: TokenUsage, at: datetime = NOW, provider: str | None = None
) -> tuple[str, str, str]:
    priced = T(model, tokens, at, provider=provider)
    assert priced is not None, model
    assert priced.version == DATASET_VERSION
    c = priced.cost
    assert c.total == c.prompt + c.completion
    return format(c.prompt, "f"), format(c.completion, "f"), format(c.total, "f")


def test_the_price_version_names_the_dataset_and_its_version() -> None:
    assert T.version == DATASET_VERSION == dataset().version
    assert "genai-prices" in dataset().source


# --- hand-worked examples (USD per million tokens) ----------------------------------------


def test_anthropic_sonnet_37_cache_read_and_write_counted_once() -> None:
    # 1,000 plain input + 20,000 cache reads + 3,000 cache writes = 24,000 prompt tokens.
    # 1000*3 + 20000*0.30 + 3000*3.75 = 3000 + 6000 + 11250 = 20250 -> $0.02025
    # 500 output * 15 = 7500 -> $0.0075
    tokens = TokenUsage(prompt=24_000, completion=500, cache_read=20_000, cache_write=3_000)
    assert cost("claude-3-7-sonnet-20250219", tokens) == ("0.02025", "0.0075", "0.02775")


def test_anthropic_haiku_35_and_opus_4_families() -> None:
    # haiku 3.5: 10,000 * 0.80 + 2,000 * 4 = 8000 + 8000 -> $0.008 + $0.008
    assert cost("claude-3-5-haiku-20241022", TokenUsage(10_000, 2_000)) == (
        "0.008",
        "0.008",
        "0.016",
    )
    # opus 4.1: 1000 plain*15 + 1000 read*1.5 + 1000 write*18.75 = 35250; 100 out * 75 = 7500
    tokens = TokenUsage(3_000, 100, cache_read=1_000, cache_write=1_000)
    assert cost("claude-opus-4-1-20250805", tokens) == ("0.03525", "0.0075", "0.04275")
    # opus 4.5 is cheaper than opus 4.1: 1000*5 + 100*25
    assert cost("claude-opus-4-5", TokenUsage(1_000, 100)) == ("0.005", "0.0025", "0.0075")
    # haiku 4.5: 1000*1 + 1000*5
    assert cost("claude-haiku-4-5-20251001", TokenUsage(1_000, 1_000)) == (
        "0.001",
        "0.005",
        "0.006",
    )


def test_anthropic_thinking_tokens_are_part_of_output_priced_once() -> None:
    # 4,000 output tokens of which 3,000 thinking: all at $15, not 7,000 tokens.
    tokens = TokenUsage(1_000, 4_000, reasoning=3_000)
    assert cost("claude-sonnet-4-20250514", tokens) == ("0.003", "0.06", "0.063")


def test_anthropic_long_context_tier_applies_to_the_whole_request() -> None:
    # 210,000 prompt tokens (> 200k): 150,000 plain * 6 + 60,000 reads * 0.60 = 936,000
    # and 1,000 output * 22.50 = 22,500
    tokens = TokenUsage(210_000, 1_000, cache_read=60_000)
    assert cost("claude-sonnet-4-5-20250929", tokens) == ("0.936", "0.0225", "0.9585")
    # exactly 200,000 prompt tokens stays on the base rate
    assert cost("claude-sonnet-4-5", TokenUsage(200_000, 1_000)) == ("0.6", "0.015", "0.615")
    # models without a tier are never surcharged
    assert cost("claude-3-7-sonnet", TokenUsage(300_000, 0)) == ("0.9", "0", "0.9")


def test_openai_gpt4o_cached_tokens_are_part_of_prompt_priced_once() -> None:
    # 2,000 prompt of which 1,024 cached: 976 * 2.50 + 1024 * 1.25 = 2440 + 1280 = 3720
    tokens = TokenUsage(2_000, 300, cache_read=1_024)
    assert cost("gpt-4o-2024-08-06", tokens) == ("0.00372", "0.003", "0.00672")


def test_openai_dated_snapshot_with_its_own_price_is_not_the_alias() -> None:
    assert cost("gpt-4o-2024-05-13", TokenUsage(1_000, 1_000)) == ("0.005", "0.015", "0.02")
    assert cost("gpt-4o-2024-11-20", TokenUsage(1_000, 1_000)) == ("0.0025", "0.01", "0.0125")


def test_openai_reasoning_models_reasoning_tokens_priced_once_at_output() -> None:
    # o4-mini: 1,200 * 1.10 = 1320; 5,000 completion (4,000 of them reasoning) * 4.40 = 22000
    tokens = TokenUsage(1_200, 5_000, reasoning=4_000)
    assert cost("o4-mini-2025-04-16", tokens) == ("0.00132", "0.022", "0.02332")
    # o1: 1000 plain * 15 + 1000 cached * 7.5 = 22500; 2000 * 60 = 120000
    tokens = TokenUsage(2_000, 2_000, cache_read=1_000, reasoning=1_500)
    assert cost("o1", tokens) == ("0.0225", "0.12", "0.1425")


def test_openai_gpt5_and_gpt41_families() -> None:
    # gpt-5-mini: 2,000 * 0.25 + 8,000 * 0.025 = 700; 2,000 * 2 = 4000
    tokens = TokenUsage(10_000, 2_000, cache_read=8_000, reasoning=1_500)
    assert cost("gpt-5-mini-2025-08-07", tokens) == ("0.0007", "0.004", "0.0047")
    # gpt-5: 1000 * 1.25 + 1000 * 10
    assert cost("gpt-5", TokenUsage(1_000, 1_000)) == ("0.00125", "0.01", "0.01125")
    # gpt-4.1-nano: 2 plain * 0.10 + 1 cached * 0.025 = 0.225 per million -> exact
    assert cost("gpt-4.1-nano", TokenUsage(3, 0, cache_read=1)) == (
        "0.000000225",
        "0",
        "0.000000225",
    )
    assert cost("gpt-4.1-mini-2025-04-14", TokenUsage(1_000_000, 1_000_000)) == (
        "0.4",
        "1.6",
        "2",
    )


def test_price_history_uses_the_price_in_force_at_the_trail_timestamp() -> None:
    tokens = TokenUsage(1_000, 1_000)
    before = datetime(2025, 5, 1, tzinfo=UTC)
    after = datetime(2025, 7, 1, tzinfo=UTC)
    assert cost("o3", tokens, before) == ("0.01", "0.04", "0.05")
    assert cost("o3-2025-04-16", tokens, after) == ("0.002", "0.008", "0.01")


def test_no_tokens_is_unpriced_not_a_computed_zero() -> None:
    # SPEC §1: with neither tokens nor cost a trail is ``unpriced`` (placeholders, until the
    # tokens arrive); one token is enough to be priced.
    assert T("gpt-4o", TokenUsage(), NOW) is None
    assert cost("gpt-4o", TokenUsage(0, 1)) == ("0", "0.00001", "0.00001")


# --- model names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("claude-3-7-sonnet-20250219", "claude-3-7-sonnet"),
        ("claude-3-7-sonnet-latest", "claude-3-7-sonnet"),
        ("Claude-3-7-Sonnet-20250219 ", "claude-3-7-sonnet"),
        ("claude-3-7-sonnet@20250219", "claude-3-7-sonnet"),
        ("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("claude-sonnet-4-0", "claude-sonnet-4"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-opus-4-1", "claude-opus-4-1"),
        ("claude-3-5-sonnet-20240620", "claude-3-5-sonnet"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai/gpt-4o-mini", "gpt-4o-mini"),
        ("gpt-4.1-2025-04-14", "gpt-4.1"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("gpt-5-chat-latest", "gpt-5"),
        ("gpt-4-0613", "gpt-4"),
    ],
)
def test_aliases_and_dated_names_resolve(name: str, canonical: str) -> None:
    found, expected = T.quote(name, at=NOW), T.quote(canonical, at=NOW)
    assert found is not None and expected is not None
    assert found.rates == expected.rates


@pytest.mark.parametrize(
    "name", ["no-such-model", "ft:gpt-4o-mini-2024-07-18:acme::abc123", "", "gpt-4o-" * 40]
)
def test_unknown_models_are_unpriced_not_errors(name: str) -> None:
    assert T.quote(name) is None
    assert T(name, TokenUsage(10, 10), NOW) is None
    assert T(name, TokenUsage(10, 10), NOW, provider="openai") is None


def test_non_string_model_is_unpriced() -> None:
    assert T.quote(42) is None  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    model=st.sampled_from(
        ["gpt-4o", "gpt-5", "o3", "claude-sonnet-4-5", "claude-opus-4-1", "gemini-2.5-pro"]
    ),
    prompt=st.integers(1, rules.MAX_TOKENS),
    completion=st.integers(0, rules.MAX_TOKENS),
    data=st.data(),
)
def test_every_computed_cost_is_exact_and_a_valid_money_value(
    model: str, prompt: int, completion: int, data: st.DataObject
) -> None:
    cache_read = data.draw(st.integers(0, prompt))
    cache_write = data.draw(st.integers(0, prompt - cache_read))
    write_1h = data.draw(st.integers(0, cache_write))
    reasoning = data.draw(st.integers(0, completion))
    tokens = TokenUsage(prompt, completion, None, cache_read, cache_write, reasoning, write_1h)
    priced = T(model, tokens, NOW)
    assert priced is not None
    c = priced.cost
    assert c.total == c.prompt + c.completion
    for value in (c.prompt, c.completion, c.total):
        errs = rules.Errors()
        assert rules.money(errs, "cost", value) == value, errs.items
    quote = T.quote(model, at=NOW, prompt_tokens=prompt)
    assert quote is not None
    rates = quote.rates
    expected_prompt = (
        (prompt - cache_read - cache_write) * rates.input
        + cache_read * rates.cache_read
        + (cache_write - write_1h) * rates.cache_write
        + write_1h * (rates.cache_write_1h or rates.cache_write)
    ) / Decimal(1_000_000)
    assert c.prompt == expected_prompt


# --- user price files -------------------------------------------------------------------------


def test_user_json_file_adds_and_overrides_models(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        '{"version": "acme-3", "source": "our contract", "models": {'
        '"gpt-4o": {"input": 2.0, "output": "8"},'
        '"acme-llm": {"input": "1", "output": "2", "aliases": ["acme-llm-latest"]}}}'
    )
    book = make_pricer(path)
    assert book.version == f"price-file-acme-3+{DATASET_VERSION}"
    priced = book("gpt-4o-2024-08-06", TokenUsage(1_000, 1_000), NOW)
    assert priced is not None and str(priced.cost.total) == "0.01"
    assert priced.version == "price-file-acme-3"  # the file priced it, and the trail says so
    priced = book("acme-llm-latest", TokenUsage(1_000_000, 0), NOW)
    assert priced is not None and priced.cost.total == 1
    # every other model still comes from the dataset
    priced = book("claude-3-7-sonnet-20250219", TokenUsage(1_000, 0), NOW)
    assert priced is not None and priced.version == DATASET_VERSION


def test_user_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(
        'version = "t1"\n[models.local-llama]\ninput = "0"\noutput = "0.1"\n'
        '[models."claude-3-haiku"]\ninput = 0.2\noutput = 1\n'
    )
    table = load_table(path)
    assert table.version == "price-file-t1"
    priced = table.price("local-llama", TokenUsage(10, 10_000_000))
    assert priced is not None and priced.cost.total == 1
    priced = table.price("claude-3-haiku-20240307", TokenUsage(1_000_000, 0))
    assert priced is not None and priced.cost.total == Decimal("0.2")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not valid JSON"),
        ('{"models": {"m": {"input": "-1", "output": "1"}}}', "models.m.input"),
        ('{"models": {"m": {"input": "abc", "output": "1"}}}', "models.m.input"),
        ('{"models": {"m": {"output": "1"}}}', "models.m.input is required"),
        ('{"models": {"m": {"input": "1", "output": "1", "inptu": "2"}}}', "unknown keys"),
        ('{"models": {"m": {"input": "1", "output": "1e-20"}}}', "decimal places"),
        ('{"models": {"m": {"input": "1", "output": "NaN"}}}', "models.m.output"),
        ('{"models": []}', "'models' must be an object"),
        ("[]", "must hold an object"),
    ],
)
def test_malformed_user_file_is_a_clear_error(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(PriceFileError) as exc:
        make_pricer(path)
    assert needle in str(exc.value)
    assert str(path) in str(exc.value)


def test_missing_user_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PriceFileError, match="cannot read"):
        make_pricer(tmp_path / "nope.json")


def test_price_file_error_is_a_value_error_not_a_validation_error() -> None:
    assert issubclass(PriceFileError, ValueError)
    assert issubclass(PriceFileError, llmtrail.AuditTrailError)  # the CLI prints it cleanly
    assert not issubclass(PriceFileError, ValidationError)


def test_a_bad_price_file_in_the_environment_fails_open_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "p.json"
    bad.write_text('{"models": {"x": {"input": "-1", "output": "1"}}}')
    monkeypatch.setenv("AUDIT_TRAIL_PRICE_FILE", str(bad))
    with pytest.raises(PriceFileError, match=r"models\.x\.input"):
        llmtrail.open_store("memory://")


def test_the_wheel_depends_on_the_price_dataset(tmp_path: Path) -> None:
    import importlib.util
    import shutil
    import subprocess
    import sys
    import zipfile

    from tests.conftest import missing

    if importlib.util.find_spec("hatchling") is None:
        missing("hatchling", "the build backend is needed to build the wheel")
    root = Path(__file__).resolve().parents[2]
    src = tmp_path / "proj"
    shutil.copytree(root / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        if (root / name).exists():
            shutil.copy(root / name, src / name)
        else:
            (src / name).write_text("")
    out = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path / "dist")],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = z.read(meta).decode()
    assert "Requires-Dist: genai-prices" in metadata
    assert "llmtrail/migrations/versions/0003_provider_cache_write_1h.py" in names


def test_opening_a_store_does_not_import_the_price_dataset() -> None:
    import subprocess
    import sys

    code = (
        "import sys, llmtrail\n"
        "s = llmtrail.open_store('memory://')\n"
        "assert 'genai_prices' not in sys.modules, 'imported at open'\n"
        "s.store({'messageId': 'x', 'model': 'gpt-4o', 'tokens': {'prompt': 1}}, 'p')\n"
        "assert 'genai_prices' in sys.modules and s.get('x').cost_source == 'computed'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
