"""``POST /v1/traces`` in process, on SQLite and PostgreSQL: spans made by the real
OpenTelemetry SDK and encoded by the standard exporter's own encoder, as protobuf, gzip and
OTLP/JSON; re-sends, keys, projects, garbage and invalid spans."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from llmtrail import TrailFilter
from tests.api.conftest import Api, assert_problem

PROTOBUF = {"Content-Type": "application/x-protobuf"}
CHAT = {  # an OpenLLMetry chat span, as captured from opentelemetry-instrumentation-openai
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.response.id": "chatcmpl-otlp-1",
    "gen_ai.usage.input_tokens": 2000,
    "gen_ai.usage.output_tokens": 300,
    "gen_ai.usage.cache_read.input_tokens": 1024,
    "gen_ai.usage.reasoning_tokens": 128,
    "user.id": "u-7",
}


def export(
    *spans: tuple[str, dict[str, Any]] | tuple[str, dict[str, Any], bool],
    resource: dict[str, Any] | None = None,
    scopes: dict[str, str] | None = None,
) -> ExportTraceServiceRequest:
    """The export the standard exporter would send for these spans (name, attributes,
    failed), made by the real SDK; ``scopes`` names the instrumentation scope of a span."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "svc", **(resource or {})}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    for name, attributes, *failed in spans:
        tracer = provider.get_tracer((scopes or {}).get(name, "tests"))
        span = tracer.start_span(name, attributes=attributes)
        if failed and failed[0]:
            span.set_status(Status(StatusCode.ERROR, "Error code: 500 - boom"))
        span.end()
    return encode_spans(memory.get_finished_spans())


def post(api: Api, body: bytes, headers: dict[str, str]) -> Any:
    return api.client.post("/v1/traces", content=body, headers=headers)


def answer(r: Any) -> ExportTraceServiceResponse:
    assert r.status_code == 200, r.text
    out = ExportTraceServiceResponse()
    out.ParseFromString(r.content)
    return out


def test_an_llm_span_becomes_a_priced_trail_committed_before_the_answer(api: Api) -> None:
    key = api.project("p1")
    body = export(("openai.chat", CHAT), ("GET /health", {"http.request.method": "GET"}))
    r = post(api, body.SerializeToString(), {**key, **PROTOBUF})
    assert r.headers["content-type"] == "application/x-protobuf"
    assert not answer(r).HasField("partial_success")  # everything taken
    t = api.store.get("chatcmpl-otlp-1")
    assert t is not None and t.project_id == "p1" and t.status == "completed"
    assert (t.model, t.provider) == ("gpt-4o-2024-08-06", "openai")
    tk = t.tokens
    assert (tk.prompt, tk.completion, tk.cache_read, tk.reasoning) == (2000, 300, 1024, 128)
    assert t.cost is not None and str(t.cost.total) == "0.00672" and t.cost_source == "computed"
    assert t.metadata is not None and t.metadata["service.name"] == "svc"
    assert t.metadata["user.id"] == "u-7" and len(str(t.metadata["traceId"])) == 32
    assert t.metadata["gen_ai.request.model"] == "gpt-4o"
    assert len(list(api.store.iter_trails(TrailFilter("p1")))) == 1  # the HTTP span is ignored


def test_a_replayed_export_changes_nothing(api: Api) -> None:
    key = api.project("p1")
    body = export(("openai.chat", CHAT), ("openai.chat", {**CHAT, "gen_ai.response.id": "c2"}))
    answer(post(api, body.SerializeToString(), {**key, **PROTOBUF}))
    before = api.snapshot()
    again = answer(post(api, body.SerializeToString(), {**key, **PROTOBUF}))
    assert not again.HasField("partial_success")
    assert api.snapshot() == before


def test_gzip_and_otlp_json_with_hex_ids(api: Api) -> None:
    key = api.project("p1")
    body = export(("openai.chat", CHAT))
    r = post(
        api,
        gzip.compress(body.SerializeToString()),
        {**key, **PROTOBUF, "Content-Encoding": "gzip"},
    )
    answer(r)
    document = json_format.MessageToDict(
        export(("openai.chat", {**CHAT, "gen_ai.response.id": "j"}))
    )
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["traceId"] = base64.b64decode(span["traceId"]).hex()  # OTLP/JSON writes ids in hex
    span["spanId"] = base64.b64decode(span["spanId"]).hex()
    r = post(api, json.dumps(document).encode(), {**key, "Content-Type": "application/json"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    t = api.store.get("j")
    assert t is not None and t.metadata is not None and t.metadata["traceId"] == span["traceId"]


def test_two_spans_of_one_call_make_one_trail_from_the_sdks_own(api: Api) -> None:
    key = api.project("p1")
    native = {  # the Anthropic SDK's own tracing
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-3-7-sonnet-20250219",
        "gen_ai.response.id": "msg_otlp",
        "gen_ai.usage.input_tokens": 24_000,
        "gen_ai.usage.output_tokens": 500,
        "gen_ai.usage.cache_read.input_tokens": 20_000,
        "gen_ai.usage.cache_write.input_tokens": 3_000,
    }
    llmetry = {**native, "gen_ai.usage.output_tokens": 501}  # adds the stream's 1 + 500
    del llmetry["gen_ai.usage.cache_write.input_tokens"]
    llmetry["gen_ai.usage.cache_creation.input_tokens"] = 3_000
    body = export(
        ("anthropic.chat", llmetry),
        ("anthropic.messages.create", native),
        scopes={
            "anthropic.chat": "opentelemetry.instrumentation.anthropic",
            "anthropic.messages.create": "com.anthropic.sdk.python",
        },
    )
    answer(post(api, body.SerializeToString(), {**key, **PROTOBUF}))
    trails = list(api.store.iter_trails(TrailFilter("p1")))
    assert [t.message_id for t in trails] == ["msg_otlp"]
    assert trails[0].tokens.completion == 500 and trails[0].cost is not None
    assert str(trails[0].cost.total) == "0.02775"


def test_a_failed_span_is_a_failed_trail(api: Api) -> None:
    key = api.project("p1")
    failed = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}
    answer(
        post(api, export(("openai.chat", failed, True)).SerializeToString(), {**key, **PROTOBUF})
    )
    (t,) = api.store.iter_trails(TrailFilter("p1"))
    assert t.status == "failed" and t.message_id.startswith("otel-")
    assert t.metadata is not None and t.metadata["error"] == "Error code: 500 - boom"


def test_invalid_spans_are_counted_in_partial_success_and_the_rest_land(api: Api) -> None:
    key = api.project("p1")
    body = export(
        ("ok", CHAT),
        ("no model", {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 5}),
        ("negative", {**CHAT, "gen_ai.response.id": "n", "gen_ai.usage.output_tokens": -3}),
        ("cache > input", {**CHAT, "gen_ai.response.id": "c", "gen_ai.usage.input_tokens": 10}),
    )
    got = answer(post(api, body.SerializeToString(), {**key, **PROTOBUF}))
    assert got.partial_success.rejected_spans == 3
    assert "without a model" in got.partial_success.error_message
    assert "tokens.completion" in got.partial_success.error_message
    assert [t.message_id for t in api.store.iter_trails(TrailFilter("p1"))] == ["chatcmpl-otlp-1"]


def test_keys_and_projects(api: Api) -> None:
    key = api.project("p1")
    api.project("p2")
    body = export(("openai.chat", CHAT)).SerializeToString()
    assert_problem(post(api, body, PROTOBUF), 401)
    assert_problem(post(api, body, {**PROTOBUF, "Authorization": "Bearer nope"}), 401)
    # a project key writes into its own project only
    elsewhere = export(("openai.chat", CHAT), resource={"llmtrail.project.id": "p2"})
    got = answer(post(api, elsewhere.SerializeToString(), {**key, **PROTOBUF}))
    assert got.partial_success.rejected_spans == 1 and api.store.get("chatcmpl-otlp-1") is None
    # the admin key names the project in the resource (and may create it)
    named = export(("openai.chat", CHAT), resource={"llmtrail.project.id": "p9"})
    answer(post(api, named.SerializeToString(), {**api.admin, **PROTOBUF}))
    t = api.store.get("chatcmpl-otlp-1")
    assert t is not None and t.project_id == "p9"
    unnamed = export(("openai.chat", {**CHAT, "gen_ai.response.id": "x"}))
    got = answer(post(api, unnamed.SerializeToString(), {**api.admin, **PROTOBUF}))
    assert got.partial_success.rejected_spans == 1
    assert "llmtrail.project.id" in got.partial_success.error_message


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"\xff\x00garbage", PROTOBUF, 400),
        (b"{not json", {"Content-Type": "application/json"}, 400),
        (b"[1, 2]", {"Content-Type": "application/json"}, 400),
        (b'{"resourceSpans": 7}', {"Content-Type": "application/json"}, 400),
        (
            b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"01"}]}]}]}',
            {"Content-Type": "application/json"},
            400,
        ),
        (b"\x1f\x8b not gzip", {**PROTOBUF, "Content-Encoding": "gzip"}, 400),
        (b"", {"Content-Type": "text/plain"}, 415),
        (b"x", {**PROTOBUF, "Content-Encoding": "br"}, 415),
        (gzip.compress(b"\x00" * 40_000_000), {**PROTOBUF, "Content-Encoding": "gzip"}, 413),
    ],
)
def test_bodies_that_are_not_otlp(
    api: Api, body: bytes, headers: dict[str, str], status: int
) -> None:
    key = api.project("p1")
    before = api.snapshot()
    assert_problem(post(api, body, {**key, **headers}), status)
    assert api.snapshot() == before


def test_an_empty_export_is_fine(api: Api) -> None:
    key = api.project("p1")
    assert not answer(post(api, b"", {**key, **PROTOBUF})).HasField("partial_success")


@pytest.mark.parametrize(
    "attributes",
    [
        {**CHAT, "gen_ai.operation.name": ["chat"]},  # a list where a name belongs
        {**CHAT, "gen_ai.output.messages": "[" * 100_000},  # JSON nested past any limit
        {**CHAT, "gen_ai.response.model": 7},  # not a name: the request model is used
        {**CHAT, "user.id": float("nan")},  # optional content that cannot be stored
        {**CHAT, "session.id": "a\x00b"},
    ],
)
def test_hostile_attributes_never_cost_more_than_their_span(
    api: Api, attributes: dict[str, Any]
) -> None:
    key = api.project("p1")
    got = answer(
        post(api, export(("openai.chat", attributes)).SerializeToString(), {**key, **PROTOBUF})
    )
    t = api.store.get("chatcmpl-otlp-1")
    assert got.partial_success.rejected_spans == 0 and t is not None  # kept, cleaned
    assert t.tokens.prompt == 2000


def test_whole_float_counts_are_counts(api: Api) -> None:
    key = api.project("p1")
    floats = {**CHAT, "gen_ai.usage.input_tokens": 2000.0, "gen_ai.usage.output_tokens": 300.0}
    answer(post(api, export(("openai.chat", floats)).SerializeToString(), {**key, **PROTOBUF}))
    t = api.store.get("chatcmpl-otlp-1")
    assert t is not None and (t.tokens.prompt, t.tokens.completion) == (2000, 300)


def test_every_member_of_a_multi_member_gzip_body_is_read(api: Api) -> None:
    key = api.project("p1")
    first = export(("openai.chat", CHAT)).SerializeToString()
    second = export(("openai.chat", {**CHAT, "gen_ai.response.id": "two"})).SerializeToString()
    body = gzip.compress(first) + gzip.compress(second)  # protobuf messages concatenate
    answer(post(api, body, {**key, **PROTOBUF, "Content-Encoding": "gzip"}))
    assert api.store.get("chatcmpl-otlp-1") is not None and api.store.get("two") is not None
    garbage = gzip.compress(first) + b"trailing garbage"
    assert_problem(post(api, garbage, {**key, **PROTOBUF, "Content-Encoding": "gzip"}), 400)


def test_a_message_id_another_trail_holds_is_rejected_not_swallowed(api: Api) -> None:
    key = api.project("p1")
    api.post("p1", {"messageId": "chatcmpl-otlp-1", "model": "x"}, key)  # via REST, no trace
    got = answer(post(api, export(("openai.chat", CHAT)).SerializeToString(), {**key, **PROTOBUF}))
    assert got.partial_success.rejected_spans == 1
    assert "another trail" in got.partial_success.error_message
    t = api.store.get("chatcmpl-otlp-1")
    assert t is not None and t.model == "x"


def test_an_export_larger_than_a_batch_lands_whole(api: Api) -> None:
    key = api.project("p1")
    spans = [("openai.chat", {**CHAT, "gen_ai.response.id": f"c-{i}"}) for i in range(1_500)]
    got = answer(post(api, export(*spans).SerializeToString(), {**key, **PROTOBUF}))
    assert not got.HasField("partial_success")
    assert api.store.count_trails("p1") == 1_500
