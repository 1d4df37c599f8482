"""Usage normalisers: the official SDKs' usage objects -> TokenUsage (SPEC §1 semantics)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from anthropic.types import Usage as AnthropicUsage
from openai.types import CompletionUsage
from openai.types.responses import ResponseUsage

from llmtrail import TokenUsage
from llmtrail.pricing import (
    UsageError,
    anthropic_usage,
    make_pricer,
    openai_chat_usage,
    openai_responses_usage,
    raw_usage_metadata,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_openai_chat_usage_keeps_cached_inside_prompt_and_reasoning_inside_completion() -> None:
    usage = CompletionUsage.model_validate(
        {
            "prompt_tokens": 2000,
            "completion_tokens": 300,
            "total_tokens": 2300,
            "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 128},
        }
    )
    assert openai_chat_usage(usage) == TokenUsage(2000, 300, 2300, 1024, None, 128)


def test_openai_chat_usage_without_details() -> None:
    usage = CompletionUsage(prompt_tokens=5, completion_tokens=7, total_tokens=12)
    assert openai_chat_usage(usage) == TokenUsage(5, 7)
    assert openai_chat_usage({"prompt_tokens": 5, "completion_tokens": 7}) == TokenUsage(5, 7)


def test_openai_responses_usage() -> None:
    usage = ResponseUsage.model_validate(
        {
            "input_tokens": 10_000,
            "input_tokens_details": {"cached_tokens": 8_000, "cache_write_tokens": 0},
            "output_tokens": 2_000,
            "output_tokens_details": {"reasoning_tokens": 1_500},
            "total_tokens": 12_000,
        }
    )
    tokens = openai_responses_usage(usage)
    assert tokens == TokenUsage(10_000, 2_000, 12_000, 8_000, None, 1_500)
    priced = make_pricer()("gpt-5-mini", tokens, NOW)
    assert priced is not None and format(priced.cost.total, "f") == "0.0047"


def test_anthropic_usage_adds_cache_reads_and_writes_to_prompt() -> None:
    usage = AnthropicUsage.model_validate(
        {
            "input_tokens": 1_000,
            "cache_read_input_tokens": 20_000,
            "cache_creation_input_tokens": 3_000,
            "output_tokens": 500,
        }
    )
    tokens = anthropic_usage(usage)
    assert tokens == TokenUsage(24_000, 500, 24_500, 20_000, 3_000, None)
    priced = make_pricer()("claude-3-7-sonnet-20250219", tokens, NOW)
    assert priced is not None and format(priced.cost.total, "f") == "0.02775"


def test_anthropic_one_hour_cache_writes_are_kept_and_priced_at_twice_input() -> None:
    usage = AnthropicUsage.model_validate(
        {
            "input_tokens": 1_000,
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 50_000,
            "cache_creation": {
                "ephemeral_5m_input_tokens": 30_000,
                "ephemeral_1h_input_tokens": 20_000,
            },
            "output_tokens": 100,
        }
    )
    tokens = anthropic_usage(usage)
    assert tokens == TokenUsage(
        51_000, 100, cache_read=0, cache_write=50_000, cache_write_1h=20_000
    )
    # claude-sonnet-4-5: 1000*3 + 30000*3.75 + 20000*6 + 100*15 = 3000+112500+120000+1500
    priced = make_pricer()("claude-sonnet-4-5", tokens, NOW)
    assert priced is not None and format(priced.cost.total, "f") == "0.237"


def test_anthropic_one_hour_writes_beyond_the_cache_writes_are_rejected() -> None:
    usage = {
        "input_tokens": 1,
        "output_tokens": 1,
        "cache_creation_input_tokens": 10,
        "cache_creation": {"ephemeral_1h_input_tokens": 11},
    }
    with pytest.raises(UsageError, match="1-hour cache writes exceed"):
        anthropic_usage(usage)


def test_anthropic_thinking_tokens_become_reasoning() -> None:
    usage = {
        "input_tokens": 10,
        "output_tokens": 400,
        "output_tokens_details": {"thinking_tokens": 300},
    }
    assert anthropic_usage(usage) == TokenUsage(10, 400, reasoning=300)


@pytest.mark.parametrize(
    ("fn", "usage", "needle"),
    [
        (
            openai_chat_usage,
            {"prompt_tokens": -1, "completion_tokens": 1},
            "prompt_tokens must not be negative",
        ),
        (openai_chat_usage, {"prompt_tokens": 1}, "completion_tokens is missing"),
        (openai_chat_usage, {"prompt_tokens": "3", "completion_tokens": 1}, "must be an integer"),
        (openai_chat_usage, {"prompt_tokens": True, "completion_tokens": 1}, "must be an integer"),
        (openai_chat_usage, {"prompt_tokens": 10**12, "completion_tokens": 1}, "absurdly large"),
        (
            openai_chat_usage,
            {
                "prompt_tokens": 10,
                "completion_tokens": 1,
                "prompt_tokens_details": {"cached_tokens": 11},
            },
            "cached tokens exceed",
        ),
        (
            openai_responses_usage,
            {
                "input_tokens": 1,
                "output_tokens": 1,
                "output_tokens_details": {"reasoning_tokens": 2},
            },
            "reasoning tokens exceed",
        ),
        (
            anthropic_usage,
            {"input_tokens": 1, "output_tokens": -5},
            "output_tokens must not be negative",
        ),
        (anthropic_usage, {"input_tokens": 1, "output_tokens": 1.5}, "must be an integer"),
        (anthropic_usage, "usage", "must be an object"),
    ],
)
def test_bad_usage_raises_usage_error_naming_the_field(fn: Any, usage: Any, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        fn(usage)


def test_raw_usage_metadata_is_flat_and_keeps_the_provider_json() -> None:
    usage = AnthropicUsage(input_tokens=3, output_tokens=4, cache_read_input_tokens=5)
    meta = raw_usage_metadata("anthropic", "messages", usage)
    assert meta["llm.provider"] == "anthropic" and meta["llm.api"] == "messages"
    assert json.loads(meta["usage.raw"]) == {
        "input_tokens": 3,
        "output_tokens": 4,
        "cache_read_input_tokens": 5,
    }
    huge = raw_usage_metadata("x", "y", {"k": "v" * 10_000})
    assert len(huge["usage.raw"]) <= 4096
