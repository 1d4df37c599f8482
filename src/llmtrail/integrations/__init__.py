"""Audit trails for LLM SDK calls, written to a local store or a remote ``llmtrail serve``.

* ``llmtrail.integrations.openai.instrument(client, store)`` — the official ``openai`` SDK
* ``llmtrail.integrations.anthropic.instrument(client, store)`` — the official ``anthropic`` SDK
* ``Recorder(store).track(model)`` — a context manager for any other call
* ``TrailClient``/``AsyncTrailClient`` — a remote server as the store
"""

from llmtrail.integrations._core import Call, CallOptions, Outcome, Recorder, trail_options
from llmtrail.integrations.client import AsyncTrailClient, TrailClient

__all__ = [
    "AsyncTrailClient",
    "Call",
    "CallOptions",
    "Outcome",
    "Recorder",
    "TrailClient",
    "trail_options",
]
