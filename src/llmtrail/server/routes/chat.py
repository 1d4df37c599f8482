"""The reference chat route (SPEC §3, §6): the seed's chat route, recording its audit trail.

``POST /api/projects/{projectId}/assessment/chat`` with
``{"messages": [{"role", "content"}], "contextLayers": n, "messageId"?: str}``:

1. the body is validated (422 naming the field; nothing written, no upstream call);
2. a ``pending`` placeholder trail with the ``projectId`` is stored first (409 if the
   ``messageId`` exists);
3. the upstream configured by the environment (``AUDIT_TRAIL_UPSTREAM_*``: Anthropic Messages
   by default, or an OpenAI-compatible Chat Completions endpoint) is called with the official
   SDK and its answer streamed back as ``text/event-stream`` (``delta`` events with text, then
   ``done`` or ``error``);
4. the trail is completed at the end (tokens, cost from the price table, thinking text) or
   marked ``failed`` on an upstream error (502 if it fails before streaming starts).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response, StreamingResponse

from llmtrail.config import Settings
from llmtrail.errors import UnavailableError, ValidationError
from llmtrail.ids import uuid7
from llmtrail.integrations._core import (
    Call,
    CallOptions,
    Recorder,
    describe,
)
from llmtrail.integrations._streams import Accumulator, safe_outcome
from llmtrail.integrations.anthropic import MessageAccumulator
from llmtrail.integrations.openai import ChatAccumulator
from llmtrail.model import rules
from llmtrail.server.auth import ProjectAccess, may_create_project
from llmtrail.server.body import read_object, store_of
from llmtrail.server.problems import problem_response
from llmtrail.server.schemas import inline_schema, problems
from llmtrail.server.threads import call

router = APIRouter(prefix="/api/projects/{projectId}/assessment", tags=["assessment"])

MAX_MESSAGES = 1_000
MAX_CONTENT = 200_000
MAX_OUTPUT_TOKENS = 64_000
DEFAULT_MAX_TOKENS = 1_024
ROLES = ("user", "assistant", "system")
_KEYS = {
    "messages": "messages",
    "contextLayers": "context_layers",
    "messageId": "message_id",
    "maxTokens": "max_tokens",
}


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant", "system"]
    content: str = Field(min_length=1, max_length=MAX_CONTENT)


class ChatIn(BaseModel):
    """A chat request: the conversation so far and how many context layers went in."""

    model_config = ConfigDict(extra="forbid")
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=MAX_MESSAGES)
    contextLayers: int = Field(ge=0, le=rules.MAX_CONTEXT_LAYERS)
    messageId: str | None = Field(None, min_length=1, max_length=rules.MAX_MESSAGE_ID)
    maxTokens: int | None = Field(None, ge=1, le=MAX_OUTPUT_TOKENS)


def parse_chat(data: dict[str, Any]) -> dict[str, Any]:
    """Validate a chat body; ``ValidationError`` names every offending field."""
    errs = rules.Errors()
    raw = rules.mapping_keys(errs, "", data, _KEYS)
    out: dict[str, Any] = {}
    msgs = raw.get("messages")
    if not isinstance(msgs, list) or not 1 <= len(msgs) <= MAX_MESSAGES:
        errs.add("messages", f"must be an array of 1 to {MAX_MESSAGES} messages")
    else:
        out["messages"] = []
        for i, m in enumerate(msgs):
            if not isinstance(m, dict):
                errs.add(f"messages[{i}]", "must be an object with role and content")
                continue
            fields = rules.mapping_keys(
                errs, f"messages[{i}]", m, {"role": "role", "content": "content"}
            )
            role = rules.choice(errs, f"messages[{i}].role", fields.get("role"), ROLES)
            content = rules.text(
                errs,
                f"messages[{i}].content",
                fields.get("content"),
                max_len=MAX_CONTENT,
                controls=True,
            )
            out["messages"].append({"role": role, "content": content})
    if raw.get("context_layers") is None:
        errs.add("contextLayers", "is required")
    else:
        out["context_layers"] = rules.integer(
            errs, "contextLayers", raw["context_layers"], lo=0, hi=rules.MAX_CONTEXT_LAYERS
        )
    if raw.get("message_id") is not None:
        out["message_id"] = rules.message_id(errs, "messageId", raw["message_id"])
    out["max_tokens"] = DEFAULT_MAX_TOKENS
    if raw.get("max_tokens") is not None:
        out["max_tokens"] = rules.integer(
            errs, "maxTokens", raw["max_tokens"], lo=1, hi=MAX_OUTPUT_TOKENS
        )
    if errs:
        raise ValidationError(errs.items)
    return out


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


class _Upstream:
    """One streamed upstream call: open it, then iterate text deltas."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.provider = settings.upstream_provider
        self.acc: Accumulator = (
            MessageAccumulator() if self.provider == "anthropic" else ChatAccumulator()
        )
        self._client: Any = None
        self._stream: Any = None

    async def open(self, messages: list[dict[str, str]], max_tokens: int) -> None:
        s = self.settings
        key = s.upstream_api_key or "unused"
        if self.provider == "anthropic":
            from anthropic import AsyncAnthropic

            self._client = AsyncAnthropic(api_key=key, base_url=s.upstream_base_url, max_retries=1)
            system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
            convo = [m for m in messages if m["role"] != "system"]
            extra: dict[str, Any] = {"system": system} if system else {}
            self._stream = await self._client.messages.create(
                model=s.upstream_model,
                max_tokens=max_tokens,
                messages=convo,
                stream=True,
                **extra,
            )
        else:
            from openai import AsyncOpenAI

            self._client = AsyncOpenAI(api_key=key, base_url=s.upstream_base_url, max_retries=1)
            self._stream = await self._client.chat.completions.create(
                model=s.upstream_model,
                max_tokens=max_tokens,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
            )

    async def texts(self) -> AsyncIterator[str]:
        async for item in self._stream:
            self.acc.add(item)
            text = _text_of(item)
            if text:
                yield text

    async def close(self) -> None:
        try:
            if self._stream is not None:
                await self._stream.close()
        finally:
            if self._client is not None:
                await self._client.close()


def _text_of(item: Any) -> str | None:
    if getattr(item, "type", None) == "content_block_delta":
        delta = getattr(item, "delta", None)
        if getattr(delta, "type", None) == "text_delta":
            return str(getattr(delta, "text", "") or "")
        return None
    for choice in getattr(item, "choices", None) or []:
        content = getattr(getattr(choice, "delta", None), "content", None)
        if isinstance(content, str):
            return content
    return None


@router.post(
    "/chat",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The answer, streamed as server-sent events",
            "content": {"text/event-stream": {}},
        },
        502: {"description": "The upstream model failed (the trail is marked failed)"},
        **problems(400, 401, 403, 409, 413, 422, 503),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline_schema(ChatIn, "validation")}},
        }
    },
    summary="Chat with the configured model, recording the audit trail",
)
async def chat(request: Request, project_id: ProjectAccess) -> Response:
    """Stream the upstream model's answer; the trail is a placeholder first, then completed
    (or failed)."""
    body = parse_chat(await read_object(request))
    settings: Settings = request.app.state.settings
    if not settings.upstream_api_key and not settings.upstream_base_url:
        raise UnavailableError(
            "the chat upstream is not configured (AUDIT_TRAIL_UPSTREAM_API_KEY, "
            "AUDIT_TRAIL_UPSTREAM_BASE_URL)"
        )
    store = store_of(request)
    message_id = body.get("message_id") or uuid7()
    model = settings.upstream_model
    meta = {"route": "assessment.chat", "llm.provider": settings.upstream_provider}
    await call(
        store,
        store.create_placeholder,
        message_id,
        model,
        body["context_layers"],
        project_id,
        create_project=may_create_project(request),
        metadata=meta,
        provider=settings.upstream_provider,
    )
    recorder = Recorder(
        store, project_id=project_id, metadata=meta, provider=settings.upstream_provider
    )
    trail = recorder.call(model, CallOptions(message_id, body["context_layers"], project_id))
    trail.started = True
    upstream = _Upstream(settings)
    try:
        await upstream.open(body["messages"], body["max_tokens"])
    except Exception as e:
        await trail.afail(describe(e))
        await upstream.close()
        return problem_response(
            502, f"the upstream model failed: {describe(e)}", slug="upstream-error"
        )
    return StreamingResponse(
        _relay(upstream, trail),
        media_type="text/event-stream",
        headers={"X-Message-Id": message_id, "Cache-Control": "no-cache"},
    )


def _failed(trail: Call, error: str) -> bytes:
    """The stream's last event when the trail ended ``failed`` (its reason is in metadata)."""
    return _sse("error", {"messageId": trail.message_id, "status": "failed", "error": error})


async def _relay(upstream: _Upstream, trail: Call) -> AsyncIterator[bytes]:
    yield _sse("start", {"messageId": trail.message_id})
    try:
        async for text in upstream.texts():
            yield _sse("delta", {"text": text})
        if upstream.acc.done:
            status = await trail.acomplete(safe_outcome(upstream.acc.outcome))
            if status == "completed":
                yield _sse("done", {"messageId": trail.message_id, "status": status})
            else:  # e.g. the upstream reported usage no trail can hold: the trail failed
                yield _failed(trail, "the upstream answer could not be recorded as completed")
        else:
            await trail.afail("upstream stream ended before the final event (cut off)")
            yield _failed(trail, "upstream stream cut off")
    except Exception as e:
        await trail.afail(f"upstream stream broke: {describe(e)}")
        yield _failed(trail, describe(e))
    except BaseException:  # the client went away (cancelled): record it, then let it go
        await trail.afail("the client disconnected before the answer ended")
        raise
    finally:
        await upstream.close()
