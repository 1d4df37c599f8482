"""An app instrumented with OpenTelemetry, as users run one: the real SDKs, one family of
instrumentations, the standard OTLP/HTTP exporter configured by the standard environment
variables (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``OTEL_EXPORTER_OTLP_HEADERS``).

    python -m tests.otel._app FAMILY UPSTREAM_URL CALL...

FAMILY: ``v2`` (opentelemetry-instrumentation-openai-v2), ``openllmetry``
(opentelemetry-instrumentation-openai/-anthropic) or ``openinference``. CALL:
``openai``, ``openai-stream``, ``anthropic``, ``anthropic-stream``, each optionally
``:SCENARIO`` of the fake upstream. Prints one JSON line per call: its response id (or the
error), then exits once the exporter has flushed.
"""

from __future__ import annotations

import json
import sys

import anthropic
import openai
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def instrument(family: str, provider: TracerProvider) -> None:
    if family == "v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=provider)
    elif family == "openllmetry":
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as LLMetryOpenAI

        LLMetryOpenAI().instrument(tracer_provider=provider)
        AnthropicInstrumentor().instrument(tracer_provider=provider)
    elif family == "openinference":
        from openinference.instrumentation.anthropic import AnthropicInstrumentor as OIAnthropic
        from openinference.instrumentation.openai import OpenAIInstrumentor as OIOpenAI

        OIOpenAI().instrument(tracer_provider=provider)
        OIAnthropic().instrument(tracer_provider=provider)
    else:
        raise SystemExit(f"unknown family {family!r}")


def call(kind: str, scenario: str, upstream: str) -> str:
    say = [{"role": "user", "content": f"hi [scenario:{scenario}]"}]
    if kind.startswith("openai"):
        client = openai.OpenAI(base_url=f"{upstream}/v1", api_key="sk-test", max_retries=0)
        if kind == "openai-stream":
            chunks = client.chat.completions.create(
                model="gpt-4o", messages=say, stream=True, stream_options={"include_usage": True}
            )
            return [c.id for c in chunks][-1]
        return client.chat.completions.create(model="gpt-4o", messages=say).id
    client_a = anthropic.Anthropic(base_url=upstream, api_key="sk-ant-test", max_retries=0)
    model = "claude-3-7-sonnet-20250219"
    if kind == "anthropic-stream":
        with client_a.messages.stream(model=model, max_tokens=10, messages=say) as stream:
            return stream.get_final_message().id
    return client_a.messages.create(model=model, max_tokens=10, messages=say).id


def main() -> None:
    family, upstream, *calls = sys.argv[1:]
    resource = Resource.create({"service.name": f"otel-app-{family}"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    instrument(family, provider)
    for spec in calls:
        kind, _, scenario = spec.partition(":")
        try:
            print(json.dumps({"call": spec, "id": call(kind, scenario or "ok", upstream)}))
        except Exception as e:  # the app sees the SDK's error; its span says ERROR
            print(json.dumps({"call": spec, "error": type(e).__name__}))
    provider.force_flush()
    provider.shutdown()


if __name__ == "__main__":
    main()
