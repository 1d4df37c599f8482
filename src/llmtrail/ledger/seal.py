"""Sealing: fold a project's new ledger entries into its hash chain and sign the head."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from llmtrail.ledger.entries import (
    Checkpoint,
    LedgerEntry,
    chain,
    checkpoint_message,
    genesis,
    locator,
)
from llmtrail.ledger.signing import Signer


@dataclass
class SealReport:
    """What a ``seal`` did: entries folded in and the checkpoints signed."""

    entries: int = 0
    checkpoints: list[Checkpoint] = field(default_factory=list)

    @property
    def projects(self) -> list[str]:
        return sorted({cp.project_id for cp in self.checkpoints})


def make_checkpoints(
    entries: list[LedgerEntry],
    heads: dict[str, Checkpoint],
    bound: int,
    signer: Signer,
    now: datetime,
) -> list[Checkpoint]:
    """One signed checkpoint per project among ``entries`` (in chain order), continuing
    its chain from ``heads``."""
    per: dict[str, list[LedgerEntry]] = {}
    for e in entries:
        per.setdefault(e.project_id, []).append(e)
    out = []
    for pid, mine in per.items():
        head = heads.get(pid)
        root = head.root if head is not None else genesis(pid)
        seq = head.seq if head is not None else 0
        located = []
        for e in mine:
            d = e.digest()
            root = chain(root, d)
            seq += 1
            located.append((e.id or 0, d))
        signature = signer.sign(checkpoint_message(pid, seq, root, bound, now))
        out.append(
            Checkpoint(pid, seq, root, bound, now, signature, signer.key_id, locator(located))
        )
    return out
