"""LLM spans → trails, whichever convention the span follows (SPEC §8).

The conventions, as the instrumentations write them (captured from the real packages):
the official ``gen_ai.*`` semantic conventions (``opentelemetry-instrumentation-openai-v2``),
OpenLLMetry's (``gen_ai.usage.cache_read.input_tokens``, ``gen_ai.usage.reasoning_tokens``),
the Anthropic SDK's own tracing (``gen_ai.usage.cache_write.input_tokens``) and Arize
OpenInference's ``llm.*``. All of them report input tokens *including* cache tokens, as
llmtrail does, so counts are taken as they are.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import Status

from llmtrail.model import rules
from llmtrail.otel.decode import SpanRecord

PROJECT_ATTRIBUTE = "llmtrail.project.id"
MESSAGE_ID_ATTRIBUTE = "llmtrail.message_id"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: operations that are not a model call even though they carry gen_ai.* (agents, tools):
#: an agent span's token counts are the sum of its calls' and would count them twice
_NOT_CALLS = {"execute_tool", "invoke_agent", "create_agent"}
_FIRST = {
    "model": (
        "gen_ai.response.model",
        "llm.response.model_name",
        "llm.model_name",
        "gen_ai.request.model",
        "llm.request.model_name",
    ),
    "provider": ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"),
    "prompt": ("gen_ai.usage.input_tokens", "llm.token_count.prompt", "gen_ai.usage.prompt_tokens"),
    "completion": (
        "gen_ai.usage.output_tokens",
        "llm.token_count.completion",
        "gen_ai.usage.completion_tokens",
    ),
    "cacheRead": (
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "llm.token_count.prompt_details.cache_read",
    ),
    "cacheWrite": (
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_write.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
        "llm.token_count.prompt_details.cache_write",
    ),
    "reasoning": (
        "gen_ai.usage.reasoning_tokens",
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.output_tokens_details.reasoning_tokens",
        "llm.token_count.completion_details.reasoning",
    ),
    "serviceTier": ("openai.response.service_tier", "gen_ai.openai.response.service_tier"),
}
_TOKEN_FIELDS = ("prompt", "completion", "cacheRead", "cacheWrite", "reasoning")
_USAGE_KEYS = frozenset(k for f in ("prompt", "completion") for k in _FIRST[f])
#: attributes kept in the trail's metadata under the same name
_KEPT = ("user.id", "session.id", "enduser.id", "gen_ai.conversation.id", "gen_ai.operation.name")
_PROVIDER_CHARS = re.compile(r"[^a-z0-9._-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: instrumentation scopes of third-party instrumentation libraries (not a provider's SDK)
_INSTRUMENTATIONS = ("opentelemetry.instrumentation", "openinference.instrumentation")


def is_llm_span(attributes: Mapping[str, Any]) -> bool:
    """A model call: ``gen_ai.operation.name`` (not a tool or agent), an OpenInference span of
    kind LLM, or token usage on a span no convention says is something else."""
    kind = attributes.get("openinference.span.kind")
    if kind is not None:
        return bool(kind == "LLM")
    operation = attributes.get("gen_ai.operation.name")
    if isinstance(operation, str):
        return operation not in _NOT_CALLS
    return any(k in attributes for k in _USAGE_KEYS)


def _first(attributes: Mapping[str, Any], field: str) -> Any:
    """The first of ``field``'s attributes that is set: a non-empty string for names, a
    number for counts (a whole float such as 12.0 as the integer it is)."""
    names = field in ("model", "provider", "serviceTier")
    for key in _FIRST[field]:
        value = attributes.get(key)
        if names and isinstance(value, str) and value:
            return value
        if not names and value is not None and value != "":
            if isinstance(value, float) and value.is_integer():
                return int(value)
            return value
    return None


def message_id(record: SpanRecord) -> str:
    """``llmtrail.message_id``, else the provider's response id, else ``otel-<trace>-<span>``:
    the two spans of one call (an instrumentation and the SDK's own tracing) share it."""
    a = record.attributes
    for value in (a.get(MESSAGE_ID_ATTRIBUTE), a.get("gen_ai.response.id"), _output_id(a)):
        if isinstance(value, str) and value:
            return value
    return f"otel-{record.trace_id}-{record.span_id}"


def has_ids(record: SpanRecord) -> bool:
    """Whether the span has the 16-byte trace id and 8-byte span id OTLP requires (non-zero)."""
    trace, span = record.span.trace_id, record.span.span_id
    return len(trace) == 16 and len(span) == 8 and any(trace) and any(span)


def _output_id(attributes: Mapping[str, Any]) -> str | None:
    """OpenInference keeps the response id only inside the ``output.value`` JSON."""
    return _json_field(attributes.get("output.value"), "id")


def _json_field(raw: object, key: str) -> str | None:
    """``key`` of the JSON object in the string ``raw`` (OpenInference's ``output.value``,
    ``llm.invocation_parameters``), if it is a string."""
    if not isinstance(raw, str) or not raw.startswith("{"):
        return None
    try:
        value = json.loads(raw).get(key)
    except (ValueError, AttributeError, RecursionError):
        return None
    return value if isinstance(value, str) and value else None


def to_trail(record: SpanRecord) -> dict[str, Any]:
    """The trail (SPEC §1 JSON shape) of an LLM span; its values are validated by the store
    like any other trail's, so a span with impossible counts is rejected, not stored."""
    a = record.attributes
    model = _first(a, "model") or _json_field(a.get("llm.invocation_parameters"), "model")
    trail: dict[str, Any] = {"messageId": message_id(record), "model": model}
    provider = _first(a, "provider")
    if isinstance(provider, str):
        cleaned = _PROVIDER_CHARS.sub("-", provider.strip().lower()).strip("-")[:64]
        if cleaned:
            trail["provider"] = cleaned
    start = record.span.start_time_unix_nano
    if start:
        trail["timestamp"] = _EPOCH + timedelta(microseconds=start // 1000)
    tokens = {f: v for f in _TOKEN_FIELDS if (v := _first(a, f)) is not None}
    if tokens:
        trail["tokens"] = tokens
    cost = {k: a[f"llm.cost.{k}"] for k in ("prompt", "completion") if f"llm.cost.{k}" in a}
    if len(cost) == 2:
        trail["cost"] = {k: str(v) for k, v in cost.items()}  # JSON numbers → exact text
    reasoning = _reasoning(a)
    if reasoning:
        trail["reasoning"] = reasoning
    trail["metadata"] = _metadata(record, trail)
    failed = record.span.status.code == Status.STATUS_CODE_ERROR
    trail["status"] = "failed" if failed else "completed"
    if failed:
        trail["metadata"]["error"] = _optional(_error(record)) or "span error"
    return trail


def _metadata(record: SpanRecord, trail: Mapping[str, Any]) -> dict[str, Any]:
    a = record.attributes
    meta: dict[str, Any] = {
        "traceId": record.trace_id,
        "spanId": record.span_id,
        "otel.span_name": record.span.name[: rules.MAX_METADATA_STRING],
    }
    if record.scope:
        meta["otel.scope_name"] = record.scope
    service = record.resource.get("service.name")
    if isinstance(service, str) and service:
        meta["service.name"] = service
    for key in _KEPT:
        value = a.get(key)
        if isinstance(value, str | int | float | bool) and value != "":
            meta[key] = value
    requested = a.get("gen_ai.request.model") or a.get("llm.request.model_name")
    if isinstance(requested, str) and requested != trail["model"]:
        meta["gen_ai.request.model"] = requested
    tier = _first(a, "serviceTier")
    if isinstance(tier, str):
        meta["llm.service_tier"] = tier  # prices flex / priority calls at their rates
    return {k: clean for k, v in meta.items() if (clean := _optional(v)) is not None}


def _optional(value: object) -> object:
    """An optional value as a trail can hold it: text without control characters and capped,
    finite numbers; else None (dropped: optional content must not cost the call's trail)."""
    if isinstance(value, str):
        text = _CONTROL.sub("", value)[: rules.MAX_METADATA_STRING]
        return text or None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _error(record: SpanRecord) -> str:
    for event in record.span.events:
        if event.name == "exception":
            for kv in event.attributes:
                if kv.key == "exception.message" and kv.value.string_value:
                    return kv.value.string_value[:2000]
    reason = record.span.status.message or record.attributes.get("error.type") or "span error"
    return str(reason)[:2000]


def _reasoning(a: Mapping[str, Any]) -> list[str]:
    """Reasoning text when content was captured: ``gen_ai.output.messages`` parts of type
    ``reasoning``, or OpenInference's ``llm.output_messages.*.message_content`` of that type."""
    out: list[str] = []
    messages = a.get("gen_ai.output.messages")
    if isinstance(messages, str):
        try:
            messages = json.loads(messages)
        except (ValueError, RecursionError):
            messages = None
    if isinstance(messages, Sequence) and not isinstance(messages, str):
        for message in messages:
            parts = message.get("parts") if isinstance(message, Mapping) else None
            for part in parts if isinstance(parts, Sequence) else ():
                if isinstance(part, Mapping) and part.get("type") == "reasoning":
                    text = part.get("content")
                    if isinstance(text, str) and text:
                        out.append(text)
    prefix = "llm.output_messages."
    for key, value in sorted(a.items()):
        if (
            key.startswith(prefix)
            and key.endswith(".message_content.type")
            and value
            in (
                "reasoning",
                "thinking",
            )
        ):
            text = a.get(key[: -len("type")] + "text")
            if isinstance(text, str) and text:
                out.append(text)
    return _capped_reasoning(out)


def _capped_reasoning(texts: list[str]) -> list[str]:
    """Reasoning within the trail limits (items, bytes), control characters removed: the
    rest is cut, never the whole trail lost."""
    out: list[str] = []
    budget = rules.MAX_REASONING_BYTES
    for text in texts[: rules.MAX_REASONING_ITEMS]:
        text = _CONTROL.sub("", text)
        size = len(text.encode())
        if size > budget:
            text = text.encode()[:budget].decode(errors="ignore")
            size = len(text.encode())
        if text:
            out.append(text)
        budget -= size
        if budget <= 0:
            break
    return out


def project_of(record: SpanRecord) -> str | None:
    """The project a resource names (``llmtrail.project.id``), for the admin key."""
    value = record.resource.get(PROJECT_ATTRIBUTE)
    return value if isinstance(value, str) and value else None


def merged(
    a: tuple[SpanRecord, dict[str, Any]], b: tuple[SpanRecord, dict[str, Any]]
) -> tuple[SpanRecord, dict[str, Any]]:
    """One trail of two spans of one call (record, trail): the provider SDK's own span wins
    (OpenLLMetry, for one, adds up the cumulative counts of an Anthropic stream: 1 + 500
    output tokens), else the inner one, else the first; what it lacks (a cache count,
    reasoning text, metadata) comes from the other."""
    first, second = (b, a) if _outranks(b[0], a[0]) else (a, b)
    trail, other = dict(first[1]), second[1]
    tokens = {**(other.get("tokens") or {}), **(trail.get("tokens") or {})}
    if tokens:
        trail["tokens"] = tokens
    if not trail.get("reasoning") and other.get("reasoning"):
        trail["reasoning"] = other["reasoning"]
    trail["metadata"] = {**other["metadata"], **trail["metadata"]}
    return first[0], trail


def _outranks(x: SpanRecord, y: SpanRecord) -> bool:
    x_native = not x.scope.startswith(_INSTRUMENTATIONS)
    y_native = not y.scope.startswith(_INSTRUMENTATIONS)
    if x_native != y_native:
        return x_native
    return x.span.parent_span_id == y.span.span_id
