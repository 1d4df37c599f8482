"""A fake OpenAI + Anthropic HTTP server on loopback, answering with recorded-shape responses.

The scenario is chosen by a ``[scenario:NAME]`` marker anywhere in the request body (so the
same marker works from the SDKs and through the chat route): ``ok`` (default), ``error``
(HTTP 500), ``bad-usage`` (negative token counts), ``cut`` (a stream that stops halfway:
the connection is dropped), ``stream-error`` (an error event inside the stream),
``no-usage``, ``cache-hour`` (Anthropic: 1-hour cache writes), ``priority`` (OpenAI: served by
the priority tier).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

#: response ids, unique per call as real providers' are (OpenTelemetry ingest dedupes on them)
IDS = itertools.count(1)
SCENARIO = re.compile(r"\[scenario:([a-z-]+)\]")
CREATED = 1_764_547_200

CHAT_USAGE = {
    "prompt_tokens": 2000,
    "completion_tokens": 300,
    "total_tokens": 2300,
    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 128, "audio_tokens": 0},
}
RESPONSES_USAGE = {
    "input_tokens": 1200,
    "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
    "output_tokens": 5000,
    "output_tokens_details": {"reasoning_tokens": 4000},
    "total_tokens": 6200,
}
ANTHROPIC_USAGE = {
    "input_tokens": 1000,
    "cache_read_input_tokens": 20000,
    "cache_creation_input_tokens": 3000,
    "output_tokens": 500,
}
BAD_USAGE = {"prompt_tokens": -5, "completion_tokens": 3, "total_tokens": -2}


class CutStream(Exception):
    """Raised inside a streaming body to drop the connection halfway."""


class Upstream:
    """The fake server's state: requests seen, and an optional hook run on each request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.hook: Callable[[str, dict[str, Any]], None] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def last(self, path: str) -> dict[str, Any]:
        return next(body for p, body in reversed(self.requests) if p == path)


def _scenario(raw: bytes) -> str:
    m = SCENARIO.search(raw.decode("utf-8", "replace"))
    return m.group(1) if m else "ok"


def _sse(events: list[tuple[str | None, Any]], *, cut_after: int | None = None) -> Any:
    async def gen() -> AsyncIterator[bytes]:
        for i, (name, data) in enumerate(events):
            if cut_after is not None and i == cut_after:
                await asyncio.sleep(0.01)
                raise CutStream("dropping the connection halfway")
            text = data if isinstance(data, str) else json.dumps(data)
            head = f"event: {name}\n" if name else ""
            yield f"{head}data: {text}\n\n".encode()
        if cut_after is not None and cut_after >= len(events):  # drop after the last event
            await asyncio.sleep(0.01)
            raise CutStream("dropping the connection after the last event")

    return StreamingResponse(gen(), media_type="text/event-stream")


def _error(status: int, provider: str) -> Response:
    if provider == "anthropic":
        body: dict[str, Any] = {"type": "error", "error": {"type": "api_error", "message": "boom"}}
    else:
        body = {"error": {"message": "boom", "type": "server_error", "code": None}}
    return JSONResponse(body, status_code=status)


def make_app(state: Upstream) -> Starlette:
    async def read(request: Request) -> tuple[dict[str, Any], str]:
        raw = await request.body()
        body = json.loads(raw)
        state.requests.append((request.url.path, body))
        if state.hook is not None:
            await asyncio.to_thread(state.hook, request.url.path, body)
        return body, _scenario(raw)

    async def chat(request: Request) -> Response:
        body, scenario = await read(request)
        if scenario == "error":
            return _error(500, "openai")
        model = "gpt-4o-2024-08-06" if body["model"] == "gpt-4o" else body["model"]
        usage: Any = BAD_USAGE if scenario == "bad-usage" else CHAT_USAGE
        if scenario == "no-usage":
            usage = None
        tier = "priority" if scenario == "priority" else "default"
        if not body.get("stream"):
            message = {"role": "assistant", "content": "Hello!", "refusal": None}
            message["reasoning_content"] = "Thinking about hello."
            return JSONResponse(
                {
                    "id": f"chatcmpl-{next(IDS)}",
                    "object": "chat.completion",
                    "created": CREATED,
                    "model": model,
                    "choices": [
                        {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
                    ],
                    "usage": usage,
                    "service_tier": tier,
                }
            )
        base = {
            "id": f"chatcmpl-{next(IDS)}",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "service_tier": tier,
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            return {**base, "choices": [choice], "usage": None}

        events: list[tuple[str | None, Any]] = [
            (None, chunk({"role": "assistant", "content": ""})),
            (None, chunk({"reasoning_content": "Thinking "})),
            (None, chunk({"reasoning_content": "hard."})),
            (None, chunk({"content": "Hel"})),
            (None, chunk({"content": "lo!"})),
            (None, chunk({}, "stop")),
        ]
        opts = body.get("stream_options") or {}
        if opts.get("include_usage") and usage is not None:
            events.append((None, {**base, "choices": [], "usage": usage}))
        events.append((None, "[DONE]"))
        return _sse(events, cut_after=4 if scenario == "cut" else None)

    async def responses(request: Request) -> Response:
        body, scenario = await read(request)
        if scenario == "error":
            return _error(500, "openai")
        usage: Any = RESPONSES_USAGE
        if scenario == "bad-usage":
            usage = {**RESPONSES_USAGE, "output_tokens": -1}
        response = {
            "id": f"resp_{next(IDS)}",
            "object": "response",
            "created_at": CREATED,
            "model": body["model"],
            "status": "completed",
            "output": [
                {
                    "type": "reasoning",
                    "id": "rs_1",
                    "summary": [{"type": "summary_text", "text": "Considered the question."}],
                },
                {
                    "type": "message",
                    "id": "msg_1",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": "Hi there", "annotations": []}],
                },
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": usage,
        }
        if not body.get("stream"):
            return JSONResponse(response)
        reasoning_item, message_item = response["output"]
        text_part = {"type": "output_text", "text": "Hi there", "annotations": []}
        where = {"item_id": "msg_1", "output_index": 1, "content_index": 0}
        steps: list[dict[str, Any]] = [
            {
                "type": "response.created",
                "response": {**response, "status": "in_progress", "output": [], "usage": None},
            },
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {**reasoning_item, "summary": []},
            },
            {"type": "response.output_item.done", "output_index": 0, "item": reasoning_item},
            {
                "type": "response.output_item.added",
                "output_index": 1,
                "item": {**message_item, "status": "in_progress", "content": []},
            },
            {"type": "response.content_part.added", **where, "part": {**text_part, "text": ""}},
            {"type": "response.output_text.delta", **where, "delta": "Hi there", "logprobs": []},
            {"type": "response.output_text.done", **where, "text": "Hi there", "logprobs": []},
            {"type": "response.content_part.done", **where, "part": text_part},
            {"type": "response.output_item.done", "output_index": 1, "item": message_item},
            {"type": "response.completed", "response": response},
        ]
        cut = 6 if scenario == "cut" else None
        if scenario == "stream-error":  # an error event, then the connection drops
            steps[6] = {
                "type": "error",
                "code": "overloaded",
                "message": "Overloaded",
                "param": None,
            }
            cut = 7
        elif scenario == "stream-failed":  # the response fails, then the connection drops
            failed = {
                **response,
                "status": "failed",
                "error": {"code": "server_error", "message": "The model crashed"},
            }
            steps[-1] = {"type": "response.failed", "response": failed}
            cut = len(steps)
        events: list[tuple[str | None, Any]] = [
            (step["type"], {**step, "sequence_number": i}) for i, step in enumerate(steps)
        ]
        return _sse(events, cut_after=cut)

    async def messages(request: Request) -> Response:
        body, scenario = await read(request)
        if scenario == "error":
            return _error(500, "anthropic")
        usage: Any = dict(ANTHROPIC_USAGE)
        if scenario == "bad-usage":
            usage["output_tokens"] = -7
        if scenario == "cache-hour":  # 1,000 of the 3,000 cache writes live for an hour
            usage["cache_creation"] = {
                "ephemeral_5m_input_tokens": 2000,
                "ephemeral_1h_input_tokens": 1000,
            }
        model = body["model"]
        content = [
            {"type": "thinking", "thinking": "Let me think about it.", "signature": "c2ln"},
            {"type": "text", "text": "Hello from Claude", "citations": None},
        ]
        message = {
            "id": f"msg_{next(IDS)}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        if not body.get("stream"):
            return JSONResponse(message)
        start_usage = {**usage, "output_tokens": 1}
        events: list[tuple[str | None, Any]] = [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        **message,
                        "content": [],
                        "stop_reason": None,
                        "usage": start_usage,
                    },
                },
            ),
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                },
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "thinking_delta", "thinking": "Let me "},
                },
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "thinking_delta", "thinking": "think."},
                },
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 1,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
            ("ping", {"type": "ping"}),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 1,
                    "delta": {"type": "text_delta", "text": "Hello "},
                },
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 1,
                    "delta": {"type": "text_delta", "text": "from Claude"},
                },
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 1}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": usage["output_tokens"]},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        if scenario == "stream-error":
            events[7] = (
                "error",
                {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            )
        return _sse(events, cut_after=8 if scenario == "cut" else None)

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/responses", responses, methods=["POST"]),
            Route("/v1/messages", messages, methods=["POST"]),
        ]
    )


class Running:
    """A uvicorn server (the fake upstream, or any ASGI app) in a thread on a free port."""

    def __init__(self, state: Upstream | None = None, app: Any = None) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        if state is not None:
            state.port = self.port
            app = make_app(state)
        self.sock = sock
        config = uvicorn.Config(
            app, log_level="critical", lifespan="on" if state is None else "off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the fake upstream did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
