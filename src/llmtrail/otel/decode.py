"""OTLP/HTTP trace exports in and out: protobuf or JSON, optionally gzip (SPEC §8).

Decoding uses the ``opentelemetry-proto`` message classes. OTLP/JSON differs from protobuf's
canonical JSON in one way that matters here: trace and span ids are hex strings, not base64;
they are turned into base64 before ``json_format`` parses the document.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from llmtrail.errors import BodyTooLargeError, MalformedBodyError, UnsupportedMediaTypeError

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_ID_KEYS = ("traceId", "spanId", "parentSpanId")


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One span with what it needs from its resource and scope, attributes as plain values."""

    span: Span
    resource: dict[str, Any]
    attributes: dict[str, Any]
    #: the instrumentation scope's name (``opentelemetry.instrumentation.openai``, …)
    scope: str = ""

    @property
    def trace_id(self) -> str:
        return self.span.trace_id.hex()

    @property
    def span_id(self) -> str:
        return self.span.span_id.hex()


def media_type(content_type: str | None) -> str:
    """``PROTOBUF`` or ``JSON`` for a request's Content-Type, else ``UnsupportedMediaTypeError``."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in (PROTOBUF, JSON):
        return kind
    raise UnsupportedMediaTypeError(
        f"Content-Type must be {PROTOBUF} or {JSON} (OTLP/HTTP), not {kind or 'missing'!r}"
    )


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """``body`` decoded per Content-Encoding (``gzip``/``deflate`` or none), at most ``limit``
    bytes (a small gzip must not become gigabytes: ``BodyTooLargeError``)."""
    coding = (encoding or "identity").strip().lower()
    if coding == "identity":
        return body
    if coding not in ("gzip", "deflate"):
        raise UnsupportedMediaTypeError(f"Content-Encoding {coding!r} is not supported (gzip is)")
    out = bytearray()
    rest = body
    while True:  # a gzip body may hold several members, one after the other (RFC 1952)
        inflater = zlib.decompressobj(wbits=47 if coding == "gzip" else 15)  # 47: gzip|zlib
        try:
            out += inflater.decompress(rest, limit + 1 - len(out))
        except zlib.error as e:
            raise MalformedBodyError(f"the body is not valid {coding}: {e}") from None
        if len(out) > limit or inflater.unconsumed_tail:
            raise BodyTooLargeError(limit)
        if not inflater.eof:
            raise MalformedBodyError(f"the {coding} body is truncated")
        rest = inflater.unused_data
        if not rest:
            return bytes(out)
        if coding != "gzip":
            raise MalformedBodyError(f"data after the end of the {coding} stream")


def parse_request(body: bytes, kind: str) -> ExportTraceServiceRequest:
    """The export request in ``body`` (``kind``: ``PROTOBUF`` or ``JSON``)."""
    request = ExportTraceServiceRequest()
    if kind == PROTOBUF:
        try:
            request.ParseFromString(body)
        except (DecodeError, RecursionError) as e:
            raise MalformedBodyError(f"the body is not an OTLP protobuf export: {e}") from None
        return request
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise MalformedBodyError(f"the body is not JSON: {e}") from None
    if not isinstance(document, dict):
        raise MalformedBodyError("an OTLP/JSON export is an object with resourceSpans")
    try:
        _hex_ids_to_base64(document)
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as e:
        raise MalformedBodyError(f"the body is not an OTLP/JSON export: {e}") from None
    return request


def _hex_ids_to_base64(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise MalformedBodyError(
                        f"{key} must be a hex string, not {value[:40]!r}"
                    ) from None
            else:
                _hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids_to_base64(item)


def spans(request: ExportTraceServiceRequest) -> Iterator[SpanRecord]:
    """Every span of the export with its resource's attributes."""
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name
            for span in scope_spans.spans:
                yield SpanRecord(span, resource, attributes(span.attributes), scope)


def attributes(pairs: Any) -> dict[str, Any]:
    """OTLP ``KeyValue`` list → ``{key: python value}`` (arrays as lists, maps as dicts)."""
    out: dict[str, Any] = {}
    for kv in pairs:
        assert isinstance(kv, KeyValue)
        out[kv.key] = value_of(kv.value)
    return out


def value_of(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [value_of(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return attributes(v.kvlist_value.values)
    if kind == "bytes_value":
        return binascii.hexlify(v.bytes_value).decode()
    return getattr(v, kind)


def response_body(kind: str, rejected: int, message: str) -> bytes:
    """The ``ExportTraceServiceResponse`` (``partialSuccess`` only when spans were rejected),
    encoded like the request."""
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    if kind == PROTOBUF:
        return response.SerializeToString()
    return json_format.MessageToJson(response, indent=None).encode()
