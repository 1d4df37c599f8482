"""The canonical form: one text per trail, whatever database it went through (SPEC §9).

A content hash is only useful if the trail read back from SQLite or PostgreSQL hashes exactly
as the trail that was written: decimals at any scale, floats and big integers in metadata
(JSONB rewrites ``1e+300`` as an integer), any Unicode, instants with and without
microseconds. Generated trails are written, read back and verified on both databases.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmtrail
from llmtrail.config import load_settings
from llmtrail.ledger.entries import canonical_json, canonical_trail, content_hash, trail_document
from llmtrail.ledger.signing import Signer
from llmtrail.ledger.verify import verify_chain
from llmtrail.model import parse_trail

text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)
numbers = st.one_of(
    st.integers(-(10**15), 10**15),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e300, -1e-300, 0.1, 1.0, -0.0, 2.5e-7, 123456789.125]),
)
values = st.one_of(text, numbers, st.booleans())
KEY = Signer.generate()  # one key: the examples share a database and its checkpoints
money = st.decimals(min_value=0, max_value=Decimal("1000"), places=12, allow_nan=False)


@st.composite
def trails(draw: st.DrawFn) -> dict[str, Any]:
    ts = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(
        seconds=draw(st.integers(0, 86_400 * 20)),
        microseconds=draw(st.sampled_from([0, 1, 999_999])),
    )
    prompt = draw(st.integers(0, 10**9))
    return {
        "messageId": "m-" + draw(st.uuids()).hex,
        "model": draw(st.sampled_from(["gpt-4o", "claude-sonnet-4-5", "ünïcødé-模型"])),
        "timestamp": ts.isoformat(),
        "contextLayers": draw(st.integers(0, 10_000)),
        "reasoning": draw(st.one_of(st.none(), st.lists(text, max_size=4))),
        "tokens": {
            "prompt": prompt,
            "completion": draw(st.integers(0, 10**6)),
            "cacheRead": draw(st.one_of(st.none(), st.integers(0, prompt))),
        },
        "cost": {"prompt": str(draw(money)), "completion": str(draw(money))},
        "metadata": draw(
            st.one_of(
                st.none(),
                st.dictionaries(st.text("abcxyz_", min_size=1, max_size=8), values, max_size=6),
            )
        ),
        "status": draw(st.sampled_from(["pending", "completed", "failed"])),
    }


def _clean(t: dict[str, Any]) -> dict[str, Any]:
    if t["tokens"]["cacheRead"] is None:
        del t["tokens"]["cacheRead"]
    return t


@given(trails())
@settings(max_examples=200, deadline=None)
def test_the_fast_canonical_text_equals_the_reference(data: dict[str, Any]) -> None:
    t = parse_trail(_clean(data), "p", now=datetime.now(UTC), pricer=None, stamp=True).trail
    assert canonical_trail(t) == canonical_json(trail_document(t))


@given(batch=st.lists(trails(), min_size=1, max_size=8))
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_a_trail_read_back_hashes_as_written(db_url: str, batch: list[dict[str, Any]]) -> None:
    store = llmtrail.open_store(db_url, settings=load_settings(usage_fold_seconds=0))
    try:
        for data in batch:
            data["messageId"] += f"-{uuid.uuid4().hex}"  # examples share one database
            written = store.store(_clean(data), "p")
            back = store.get(written.message_id)
            assert back is not None
            assert content_hash(back) == content_hash(written), canonical_trail(back)
        store.seal(KEY)
        assert verify_chain(store, KEY).ok
    finally:
        store.close()
