"""OpenTelemetry ingest (SPEC §8): OTLP trace exports → trails.

``decode`` reads OTLP/HTTP bodies, ``mapping`` turns an LLM span into a trail whichever
convention it follows, ``ingest`` stores an export's trails; ``server/routes/otlp.py`` is the
thin HTTP shell (``POST /v1/traces``).
"""

from llmtrail.otel.decode import decompress, media_type, parse_request, response_body
from llmtrail.otel.ingest import IngestResult, ingest
from llmtrail.otel.mapping import is_llm_span, to_trail

__all__ = [
    "IngestResult",
    "decompress",
    "ingest",
    "is_llm_span",
    "media_type",
    "parse_request",
    "response_body",
    "to_trail",
]
