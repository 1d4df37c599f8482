"""Signed exports: a project's trails with the proof that the ledger recorded them, checked
offline (``llmtrail export --signed DIR`` / ``llmtrail verify-export DIR``).

The directory holds three files:

- ``trails.jsonl``: one trail per line, each line exactly the trail's canonical JSON (so its
  SHA-256 is the trail's content hash);
- ``ledger.jsonl``: the project's ledger entries in chain order up to the checkpoint, one
  canonical entry per line;
- ``manifest.json``: the format, the project, the public key, the covering checkpoint with its
  signature, the SHA-256 of both files, and each exported trail's message id and hash.

``verify_export`` checks the signature with a public key given by the auditor (never only the
one the manifest names), folds ``ledger.jsonl`` to the signed root and count, and checks that
each trail line hashes to its latest entry in that ledger. Trails written after the checkpoint
are left out (the export says how many): a signed export holds only what a signature covers.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from llmtrail.errors import NotFoundError
from llmtrail.ledger.entries import (
    Checkpoint,
    LedgerEntry,
    canonical_json,
    canonical_trail,
    chain,
    checkpoint_message,
    genesis,
)
from llmtrail.ledger.signing import Verifier
from llmtrail.model.wire import iso, loads
from llmtrail.store.base import Store

FORMAT = "llmtrail.signed-export.v1"
TRAILS, LEDGER, MANIFEST = "trails.jsonl", "ledger.jsonl", "manifest.json"


@dataclass
class ExportResult:
    trails: int = 0
    entries: int = 0
    left_out: int = 0
    checkpoint: Checkpoint | None = None


def export_signed(store: Store, project_id: str, directory: Path) -> ExportResult:
    """Seal, then write the signed export of ``project_id`` into ``directory``."""
    store.seal()
    result = ExportResult()
    directory.mkdir(parents=True, exist_ok=True)
    with store.ledger_snapshot() as view:
        cps = view.checkpoints(project_id)
        if not cps:
            raise NotFoundError(f"project {project_id!r} has no sealed checkpoint to export")
        cp = cps[-1]
        latest: dict[str, bytes] = {}
        entries_digest = hashlib.sha256()
        with open(directory / LEDGER, "w", encoding="utf-8", newline="\n") as out:
            for e in view.entries(project_id):
                if e.order is None or e.order >= cp.bound:
                    break
                line = e.canonical() + "\n"
                out.write(line)
                entries_digest.update(line.encode())
                result.entries += 1
                if e.message_id is not None and e.content_hash is not None:
                    latest[e.message_id] = e.content_hash
                elif e.op == "drop":
                    latest.clear()
        listed: list[dict[str, str]] = []
        trails_digest = hashlib.sha256()
        with open(directory / TRAILS, "w", encoding="utf-8", newline="\n") as out:
            for t in view.trails(project_id):
                text = canonical_trail(t)
                digest = hashlib.sha256(text.encode()).digest()
                if latest.get(t.message_id) != digest:
                    result.left_out += 1  # written after the checkpoint
                    continue
                line = text + "\n"
                out.write(line)
                trails_digest.update(line.encode())
                listed.append({"messageId": t.message_id, "contentHash": digest.hex()})
                result.trails += 1
    result.checkpoint = cp
    manifest = {
        "format": FORMAT,
        "projectId": project_id,
        "exportedAt": iso(store.clock()),
        "publicKey": store.signer.public_key,
        "checkpoint": cp.document(),
        "files": {TRAILS: trails_digest.hexdigest(), LEDGER: entries_digest.hexdigest()},
        "trails": listed,
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return result


@dataclass
class ExportCheck:
    ok: bool = True
    trails: int = 0
    entries: int = 0
    problems: list[str] = field(default_factory=list)

    def fail(self, problem: str) -> None:
        self.ok = False
        self.problems.append(problem)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "trails": self.trails,
            "entries": self.entries,
            "problems": self.problems,
        }


def verify_export(directory: Path, verifier: Verifier) -> ExportCheck:
    """Check a signed export offline against the auditor's public key."""
    check = ExportCheck()
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        ledger_bytes = (directory / LEDGER).read_bytes()
        trail_bytes = (directory / TRAILS).read_bytes()
    except (OSError, ValueError) as e:
        check.fail(f"cannot read the export: {e}")
        return check
    try:
        _verify(manifest, ledger_bytes, trail_bytes, verifier, check)
    except (KeyError, TypeError, ValueError) as e:
        check.fail(f"the export is malformed: {type(e).__name__}: {e}")
    return check


def _verify(
    manifest: dict[str, Any],
    ledger_bytes: bytes,
    trail_bytes: bytes,
    verifier: Verifier,
    check: ExportCheck,
) -> None:
    if manifest.get("format") != FORMAT:
        check.fail(f"not a {FORMAT} export")
        return
    pid = manifest["projectId"]
    cp = manifest["checkpoint"]
    if cp["projectId"] != pid:
        check.fail("the checkpoint is of another project")
    signed_at = datetime.fromisoformat(cp["signedAt"].replace("Z", "+00:00"))
    message = checkpoint_message(
        pid, int(cp["seq"]), bytes.fromhex(cp["root"]), int(cp["bound"]), signed_at
    )
    if not verifier.verify(base64.b64decode(cp["signature"]), message):
        check.fail(f"the checkpoint's signature does not verify with key {verifier.key_id}")
    files = manifest["files"]
    for name, data in ((LEDGER, ledger_bytes), (TRAILS, trail_bytes)):
        if hashlib.sha256(data).hexdigest() != files[name]:
            check.fail(f"{name} differs from the manifest's hash of it")
    root, count = genesis(pid), 0
    latest: dict[str, bytes] = {}
    for line in ledger_bytes.decode("utf-8").splitlines():
        entry = LedgerEntry.from_document(json.loads(line))
        if entry.canonical() != line:
            check.fail(f"ledger entry {entry.id} is not in canonical form")
        root = chain(root, entry.digest())
        count += 1
        if entry.project_id != pid:
            check.fail(f"ledger entry {entry.id} is of another project")
        if entry.message_id is not None and entry.content_hash is not None:
            latest[entry.message_id] = entry.content_hash
        elif entry.op == "drop":
            latest.clear()
    check.entries = count
    if count != int(cp["seq"]) or root.hex() != cp["root"]:
        check.fail("ledger.jsonl does not fold to the signed checkpoint")
    listed = {t["messageId"]: t["contentHash"] for t in manifest["trails"]}
    seen: set[str] = set()
    for n, line in enumerate(trail_bytes.decode("utf-8").splitlines(), 1):
        digest = hashlib.sha256(line.encode()).digest()
        doc = loads(line)  # numbers as exact decimals, as the canonical text writes them
        mid = doc.get("messageId")
        if canonical_json(doc) != line:
            check.fail(f"trails.jsonl line {n} is not in canonical form")
        if not isinstance(mid, str) or latest.get(mid) != digest:
            check.fail(f"trail {mid!r} (line {n}) is not the version the ledger recorded")
        elif listed.get(mid) != digest.hex():
            check.fail(f"trail {mid!r} (line {n}) differs from the manifest")
        seen.add(str(mid))
        check.trails += 1
    missing = set(listed) - seen
    if missing:
        check.fail(
            f"{len(missing)} trails of the manifest are missing, e.g. {sorted(missing)[0]!r}"
        )
    if manifest.get("publicKey") not in (None, verifier.public_key):
        check.fail("the manifest names another public key than the one given")
