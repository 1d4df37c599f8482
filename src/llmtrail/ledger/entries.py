"""The ledger's records and their canonical forms (SPEC §9; docs/audit.md defines them).

A **ledger entry** is appended, in the same transaction, by every write of a trail: ``create``
and ``update`` (with the SHA-256 of the trail's canonical JSON after the write), ``redact`` (the
content retention cleared the content: the hash of what is left), ``expire`` (a retention
cleanup deleted this project's trails older than ``cutoff``) and ``drop`` (the project was
deleted with all of its trails); ``adopt`` records a trail stored before the ledger existed
(migration 0005), as it was then. Entries are never changed; a **checkpoint** signs the hash
chain over a project's entries up to a point, as a Certificate Transparency log signs its tree
heads.

Canonical JSON (the bytes that are hashed): UTF-8, keys sorted, no whitespace (``,`` and
``:``), every field present (null when unset); money and metadata numbers as plain decimals
(no exponent, no trailing zeros: ``0.0125``, ``1000``); instants as RFC 3339 UTC with a ``Z``
and microseconds only when not zero (``2026-12-04T20:42:35.123456Z``).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from llmtrail.model import AuditTrail, Cost
from llmtrail.model.wire import JSONDecimal, dumps, iso, trail_to_wire

OPERATIONS = ("create", "update", "redact", "expire", "drop", "adopt")
GENESIS_PREFIX = b"llmtrail-ledger-v1\x00"
CHECKPOINT_TYPE = "llmtrail.checkpoint.v1"


def canonical_json(obj: Any) -> str:
    """``obj`` as canonical JSON text (sorted keys, compact, exact decimals)."""
    return dumps(obj, sort_keys=True, separators=(",", ":"))


def _number(v: object) -> object:
    # bool first (it is an int); a float as the shortest decimal that reads back as it, so a
    # value reads back the same from every database (JSONB turns 1e+300 into an integer)
    if isinstance(v, bool) or not isinstance(v, int | float | Decimal):
        return v
    d = Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
    return JSONDecimal(d.normalize() if d else Decimal(0))


def trail_document(t: AuditTrail) -> dict[str, Any]:
    """The JSON object a trail's content hash is computed over: the trail's wire form (every
    field of SPEC §1), metadata numbers in canonical decimal form."""
    doc = trail_to_wire(t)
    if t.metadata:
        doc["metadata"] = {k: _number(v) for k, v in t.metadata.items()}
    return doc


def canonical_trail(t: AuditTrail) -> str:
    """The canonical JSON text of a trail (also one line of a signed export): equal to
    ``canonical_json(trail_document(t))``, written field by field because every trail write
    hashes it (a third of the time; a test checks the two agree)."""
    tk = t.tokens
    c = t.cost or Cost()
    tokens = [
        f'"{key}":{value}'
        for key, value in (
            ("cacheRead", tk.cache_read),
            ("cacheWrite", tk.cache_write),
            ("cacheWrite1h", tk.cache_write_1h),
            ("completion", tk.completion),
            ("prompt", tk.prompt),
            ("reasoning", tk.reasoning),
            ("total", tk.total or 0),
        )
        if value is not None
    ]
    return (
        f'{{"contentRedactedAt":{_when(t.content_redacted_at)},'
        f'"contextLayers":{t.context_layers},'
        f'"cost":{{"completion":{_money(c.completion)},"prompt":{_money(c.prompt)},'
        f'"total":{_money(c.total)}}},'
        f'"costSource":{_text(t.cost_source)},'
        f'"createdAt":{_when(t.created_at)},'
        f'"id":{_text(t.id)},'
        f'"messageId":{_text(t.message_id)},'
        f'"metadata":{_metadata(t.metadata)},'
        f'"model":{_text(t.model)},'
        f'"priceVersion":{_text(t.price_version)},'
        f'"projectId":{_text(t.project_id)},'
        f'"provider":{_text(t.provider)},'
        f'"reasoning":{_reasoning(t.reasoning)},'
        f'"status":{_text(t.status)},'
        f'"timestamp":{_when(t.timestamp)},'
        f'"tokens":{{{",".join(tokens)}}},'
        f'"updatedAt":{_when(t.updated_at)}}}'
    )


_quote = json.encoder.encode_basestring  # the escaping of dumps(..., ensure_ascii=False)


def _text(v: str | None) -> str:
    return "null" if v is None else _quote(v)


def _when(v: datetime | None) -> str:
    return "null" if v is None else _quote(iso(v) or "")


def _money(v: Decimal | None) -> str:
    return str(JSONDecimal(v if v is not None else 0))


def _reasoning(v: list[str] | None) -> str:
    return "null" if v is None else "[" + ",".join(map(_quote, v)) + "]"


def _metadata(v: dict[str, str | int | float | bool] | None) -> str:
    if v is None:
        return "null"
    return "{" + ",".join(f"{_quote(k)}:{_value(v[k])}" for k in sorted(v)) + "}"


def _value(v: object) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        return _quote(v)
    return str(_number(v))


def content_hash(t: AuditTrail) -> bytes:
    """SHA-256 of the trail's canonical JSON (32 bytes)."""
    return hashlib.sha256(canonical_trail(t).encode()).digest()


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One write, as the ledger records it.

    ``id`` is the database's sequence number (assigned on insert); ``order`` is the position
    the chain takes it in (the writing transaction's id on PostgreSQL, where ids are handed out
    before commit and transactions commit in any order; the id itself on SQLite)."""

    project_id: str
    op: str
    at: datetime
    message_id: str | None = None
    content_hash: bytes | None = None
    trail_timestamp: datetime | None = None
    cutoff: datetime | None = None
    id: int | None = None
    order: int | None = None

    def document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "projectId": self.project_id,
            "op": self.op,
            "messageId": self.message_id,
            "contentHash": None if self.content_hash is None else self.content_hash.hex(),
            "trailTimestamp": iso(self.trail_timestamp),
            "cutoff": iso(self.cutoff),
            "at": iso(self.at),
        }

    def canonical(self) -> str:
        return canonical_json(self.document())

    def digest(self) -> bytes:
        """SHA-256 of the entry's canonical JSON: what the chain folds in."""
        return hashlib.sha256(self.canonical().encode()).digest()

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> LedgerEntry:
        """The entry of ``document()`` (a line of a signed export's ledger)."""
        h = doc.get("contentHash")
        return cls(
            project_id=doc["projectId"],
            op=doc["op"],
            at=_instant(doc["at"]),
            message_id=doc.get("messageId"),
            content_hash=None if h is None else bytes.fromhex(h),
            trail_timestamp=_instant(doc.get("trailTimestamp")),
            cutoff=_instant(doc.get("cutoff")),
            id=doc.get("id"),
        )


def _instant(v: Any) -> Any:
    if v is None:
        return None
    return datetime.fromisoformat(str(v).replace("Z", "+00:00"))


def written(t: AuditTrail, op: str) -> LedgerEntry:
    """The entry of a ``create``, ``update`` or ``redact`` that left ``t`` stored."""
    assert t.project_id is not None and t.updated_at is not None
    return LedgerEntry(
        project_id=t.project_id,
        op=op,
        at=t.updated_at,
        message_id=t.message_id,
        content_hash=content_hash(t),
        trail_timestamp=t.timestamp,
    )


def genesis(project_id: str) -> bytes:
    """The chain's value before a project's first entry."""
    return hashlib.sha256(GENESIS_PREFIX + project_id.encode()).digest()


def chain(root: bytes, digest: bytes) -> bytes:
    """The chain's value after folding in one entry's digest."""
    return hashlib.sha256(root + digest).digest()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed head of one project's chain: the first ``seq`` entries (those ordered before
    ``bound``) fold to ``root``. ``entries`` lists (id, first 16 bytes of the digest) of the
    entries since the previous checkpoint, so a verifier can name the ones that changed."""

    project_id: str
    seq: int
    root: bytes
    bound: int
    signed_at: datetime
    signature: bytes
    key_id: str
    entries: bytes = b""

    def message(self) -> bytes:
        """The signed bytes."""
        return checkpoint_message(self.project_id, self.seq, self.root, self.bound, self.signed_at)

    def document(self) -> dict[str, Any]:
        return {
            "projectId": self.project_id,
            "seq": self.seq,
            "root": self.root.hex(),
            "bound": self.bound,
            "signedAt": iso(self.signed_at),
            "signature": base64.b64encode(self.signature).decode(),
            "keyId": self.key_id,
        }


def checkpoint_message(
    project_id: str, seq: int, root: bytes, bound: int, signed_at: datetime
) -> bytes:
    """What a checkpoint's Ed25519 signature signs: canonical JSON of its fields."""
    return canonical_json(
        {
            "type": CHECKPOINT_TYPE,
            "projectId": project_id,
            "seq": seq,
            "root": root.hex(),
            "bound": bound,
            "signedAt": iso(signed_at),
        }
    ).encode()


LOCATOR = 24  # bytes per entry in Checkpoint.entries: 8 of id, 16 of digest


def locator(entries: list[tuple[int, bytes]]) -> bytes:
    """``Checkpoint.entries`` of (id, digest) pairs."""
    return b"".join(i.to_bytes(8, "big") + d[:16] for i, d in entries)


def read_locator(blob: bytes) -> list[tuple[int, bytes]]:
    return [
        (int.from_bytes(blob[k : k + 8], "big"), blob[k + 8 : k + LOCATOR])
        for k in range(0, len(blob), LOCATOR)
    ]
