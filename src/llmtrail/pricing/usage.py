"""Turn the official SDKs' usage objects into ``TokenUsage`` (SPEC §1 semantics).

SPEC §1: ``prompt`` includes cache reads and writes, ``completion`` includes reasoning.

* OpenAI Chat Completions: ``prompt_tokens`` already includes
  ``prompt_tokens_details.cached_tokens``; ``completion_tokens`` includes
  ``completion_tokens_details.reasoning_tokens``.
* OpenAI Responses: the same with ``input_tokens``/``input_tokens_details.cached_tokens`` and
  ``output_tokens``/``output_tokens_details.reasoning_tokens``.
* Anthropic Messages: ``input_tokens`` EXCLUDES ``cache_read_input_tokens`` and
  ``cache_creation_input_tokens``, so those are added to form ``prompt``; ``output_tokens``
  includes ``output_tokens_details.thinking_tokens``; ``cache_creation.ephemeral_1h_input_tokens``
  is the part of the cache writes made with a 1-hour lifetime.

Each function accepts the SDK's pydantic object or the equivalent JSON mapping, and raises
``UsageError`` (naming the field) on negative, non-integer, absurd or inconsistent counts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from llmtrail.model import rules
from llmtrail.model.types import TokenUsage

MAX_RAW_USAGE = rules.MAX_METADATA_STRING


class UsageError(ValueError):
    """Usage reported by an upstream is negative, absurd or inconsistent."""


def as_dict(usage: object) -> dict[str, Any]:
    """A plain dict of an SDK usage object (pydantic model) or mapping; {} for None."""
    if usage is None:
        return {}
    dump = getattr(usage, "model_dump", None)
    if callable(dump):
        data = dump(mode="json", exclude_none=True)
        if isinstance(data, dict):
            return data
    if isinstance(usage, Mapping):
        return dict(usage)
    raise UsageError(f"usage must be an object, not {type(usage).__name__}")


def _count(data: Mapping[str, Any], key: str, path: str, *, required: bool) -> int | None:
    value = data.get(key)
    if value is None:
        if required:
            raise UsageError(f"{path}.{key} is missing")
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{path}.{key} must be an integer, got {value!r}")
    if value < 0:
        raise UsageError(f"{path}.{key} must not be negative, got {value}")
    if value > rules.MAX_TOKENS:
        raise UsageError(f"{path}.{key} is absurdly large ({value} > {rules.MAX_TOKENS})")
    return value


def _details(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _checked(
    prompt: int,
    completion: int,
    cache_read: int | None,
    cache_write: int | None,
    reasoning: int | None,
    names: tuple[str, str],
    cache_write_1h: int | None = None,
) -> TokenUsage:
    if (cache_read or 0) + (cache_write or 0) > prompt:
        cached = (cache_read or 0) + (cache_write or 0)
        raise UsageError(f"cached tokens exceed {names[0]} ({cached} > {prompt})")
    if (reasoning or 0) > completion:
        raise UsageError(f"reasoning tokens exceed {names[1]} ({reasoning} > {completion})")
    if prompt + completion > rules.MAX_TOKENS:
        raise UsageError(f"total tokens are absurdly large ({prompt + completion})")
    if (cache_write_1h or 0) > (cache_write or 0):
        raise UsageError(
            f"1-hour cache writes exceed cache writes ({cache_write_1h} > {cache_write})"
        )
    return TokenUsage(
        prompt=prompt,
        completion=completion,
        cache_read=cache_read,
        cache_write=cache_write,
        reasoning=reasoning,
        cache_write_1h=cache_write_1h,
    )


def openai_chat_usage(usage: object) -> TokenUsage:
    """``TokenUsage`` of an OpenAI Chat Completions ``CompletionUsage``."""
    return _openai_usage(usage, "prompt_tokens", "completion_tokens")


def openai_responses_usage(usage: object) -> TokenUsage:
    """``TokenUsage`` of an OpenAI Responses API ``ResponseUsage``."""
    return _openai_usage(usage, "input_tokens", "output_tokens")


def _openai_usage(usage: object, inp: str, out: str) -> TokenUsage:
    """Both OpenAI APIs report the same usage under different names (``inp``/``out``)."""
    d = as_dict(usage)
    prompt = _count(d, inp, "usage", required=True) or 0
    completion = _count(d, out, "usage", required=True) or 0
    pd = _details(d, f"{inp}_details")
    cd = _details(d, f"{out}_details")
    cache_read = _count(pd, "cached_tokens", f"usage.{inp}_details", required=False)
    cache_write = _count(pd, "cache_write_tokens", f"usage.{inp}_details", required=False)
    if cache_write is not None and (cache_read or 0) + cache_write > prompt:
        cache_write = None  # "unadjusted" count; billed as ordinary input by OpenAI anyway
    reasoning = _count(cd, "reasoning_tokens", f"usage.{out}_details", required=False)
    return _checked(prompt, completion, cache_read, cache_write or None, reasoning, (inp, out))


def anthropic_usage(usage: object) -> TokenUsage:
    """``TokenUsage`` of an Anthropic Messages ``Usage`` (cache tokens ADDED to ``prompt``)."""
    d = as_dict(usage)
    plain = _count(d, "input_tokens", "usage", required=False) or 0
    completion = _count(d, "output_tokens", "usage", required=True) or 0
    cache_read = _count(d, "cache_read_input_tokens", "usage", required=False)
    cache_write = _count(d, "cache_creation_input_tokens", "usage", required=False)
    odt = _details(d, "output_tokens_details")
    reasoning = _count(odt, "thinking_tokens", "usage.output_tokens_details", required=False)
    creation = _details(d, "cache_creation")
    write_1h = _count(creation, "ephemeral_1h_input_tokens", "usage.cache_creation", required=False)
    prompt = plain + (cache_read or 0) + (cache_write or 0)
    names = ("input tokens", "output_tokens")
    return _checked(prompt, completion, cache_read, cache_write, reasoning, names, write_1h or None)


def raw_usage_metadata(provider: str, api: str, usage: object) -> dict[str, str]:
    """Flat metadata keeping the provider's raw usage (``usage.raw`` is its JSON text)."""
    out = {"llm.provider": provider, "llm.api": api}
    try:
        raw = json.dumps(as_dict(usage), separators=(",", ":"), sort_keys=True, default=str)
    except (UsageError, TypeError, ValueError):
        raw = repr(usage)
    if len(raw) > MAX_RAW_USAGE:
        raw = raw[: MAX_RAW_USAGE - 1] + "…"
    out["usage.raw"] = raw
    return out
