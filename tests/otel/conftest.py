"""Fixtures: a real ``llmtrail serve`` and the fake OpenAI/Anthropic upstream, both on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.served import Served, start, stop
from tests.integrations.fake_upstream import Running, Upstream


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    state = Upstream()
    running = Running(state)
    running.start()
    yield state
    running.stop()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("otel")
    server = start(f"sqlite:///{tmp / 'trails.db'}", tmp)
    yield server
    stop(server)
