"""Apps instrumented with each OpenTelemetry family (official openai-v2, OpenLLMetry,
OpenInference; the Anthropic SDK's own tracing is on in all of them) export with the standard
OTLP/HTTP exporter to a real ``llmtrail serve``, configured only by the standard environment
variables. Each call becomes exactly one trail with its tokens, cost, model and provider."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from llmtrail.model import loads
from tests.api.served import Served
from tests.integrations.fake_upstream import Upstream

ROOT = Path(__file__).resolve().parents[2]
CALLS = ["openai", "openai-stream", "openai:error", "anthropic", "anthropic-stream"]
# what each family reports of the OpenAI call (2,000 prompt tokens of which 1,024 cached,
# 300 completion of which 128 reasoning): openai-v2 reports no cache or reasoning counts
OPENAI = {
    "v2": ({"prompt": 2000, "completion": 300, "total": 2300}, Decimal("0.008")),
    "openllmetry": (
        {"prompt": 2000, "completion": 300, "total": 2300, "cacheRead": 1024, "reasoning": 128},
        Decimal("0.00672"),
    ),
    "openinference": (
        {"prompt": 2000, "completion": 300, "total": 2300, "cacheRead": 1024, "reasoning": 128},
        Decimal("0.00672"),
    ),
}
ANTHROPIC_TOKENS = {
    "prompt": 24_000,
    "completion": 500,
    "total": 24_500,
    "cacheRead": 20_000,
    "cacheWrite": 3_000,
}


def run_app(family: str, upstream: Upstream, served: Served, key: str, **env: str) -> list[Any]:
    out = subprocess.run(
        [sys.executable, "-m", "tests.otel._app", family, upstream.url, *CALLS],
        cwd=ROOT,
        env={
            **os.environ,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{served.base}/v1/traces",
            "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer {key}",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "Failed to export" not in out.stderr, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def trails(served: Served, project: str, key: dict[str, str]) -> dict[str, Any]:
    with served.client() as c:
        r = c.get(f"/api/projects/{project}/audit-trails", params={"limit": 100}, headers=key)
    assert r.status_code == 200, r.text
    return {t["messageId"]: t for t in loads(r.content)["items"]}


@pytest.mark.parametrize("family", ["v2", "openllmetry", "openinference"])
def test_every_call_becomes_one_trail(family: str, upstream: Upstream, served: Served) -> None:
    project = f"app-{family}"
    key = served.project(project)
    compression = {"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"} if family == "openllmetry" else {}
    calls = run_app(family, upstream, served, key["Authorization"].split()[1], **compression)
    got = trails(served, project, key)
    assert len(got) == len(CALLS)  # one per call: the SDK's own Anthropic span is merged
    ids = {c["call"]: c.get("id") for c in calls}
    tokens, cost = OPENAI[family]
    for call in ("openai", "openai-stream"):
        t = got[ids[call]]
        assert (t["model"], t["provider"], t["status"]) == (
            "gpt-4o-2024-08-06",
            "openai",
            "completed",
        )
        expected = dict(tokens)
        if call == "openai-stream" and family == "openllmetry":
            expected.pop("reasoning", None)  # OpenLLMetry has no reasoning count for streams
        assert t["tokens"] == expected, (call, t["tokens"])
        assert t["cost"]["total"] == cost and t["costSource"] == "computed"
        assert t["metadata"]["service.name"] == f"otel-app-{family}"
    for call in ("anthropic", "anthropic-stream"):
        t = got[ids[call]]
        assert (t["model"], t["provider"]) == ("claude-3-7-sonnet-20250219", "anthropic")
        assert t["tokens"] == ANTHROPIC_TOKENS, (call, t["tokens"])
        assert t["cost"]["total"] == Decimal("0.02775")
    (failed,) = [t for t in got.values() if t["status"] == "failed"]
    assert failed["messageId"].startswith("otel-") and failed["model"] == "gpt-4o"
    assert "500" in failed["metadata"]["error"]


def test_a_wrong_key_is_refused_and_nothing_lands(upstream: Upstream, served: Served) -> None:
    key = served.project("app-wrong-key")
    out = subprocess.run(
        [sys.executable, "-m", "tests.otel._app", "openllmetry", upstream.url, "openai"],
        cwd=ROOT,
        env={
            **os.environ,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{served.base}/v1/traces",
            "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer ltk_not_a_key",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and "401" in out.stderr  # the exporter logs the refusal
    assert trails(served, "app-wrong-key", key) == {}
