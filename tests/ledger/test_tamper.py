"""Tampering behind the API is detected and named; honest databases verify clean (SPEC §9).

Each test writes through the library, seals, then edits the database with SQL as an operator
with database access could, and runs ``verify_chain`` with the trusted public key.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from llmtrail.ledger.signing import Signer
from llmtrail.ledger.verify import ChainReport, verify_chain
from llmtrail.store.base import Store
from tests.ledger.conftest import NOW, populate, sql, trail


def check(store: Store, signer: Signer, project: str | None = None) -> ChainReport:
    return verify_chain(store, signer, project_id=project)


def kinds(report: ChainReport) -> set[tuple[str, str | None]]:
    return {(f.kind, f.message_id) for f in report.findings}


def test_an_untouched_database_verifies_before_and_after_sealing(
    store: Store, signer: Signer
) -> None:
    populate(store)
    report = check(store, signer)
    assert report.ok, report.findings
    assert report.trails == 46 and report.entries == 48 and report.sealed == 0
    sealed = store.seal()
    assert sealed.entries == 48 and {cp.project_id for cp in sealed.checkpoints} == {"p1", "p2"}
    report = check(store, signer)
    assert report.ok, report.findings
    assert report.sealed == 48 and report.checkpoints == 2
    # more writes after the seal: unsealed, still consistent
    store.update("m-2", status="failed")
    assert check(store, signer).ok
    assert store.seal().entries == 1
    assert check(store, signer).ok


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("cost_total", "'9.99'"),
        ("model", "'gpt-3.5-turbo'"),
        ("reasoning", "NULL"),
        ("prompt_tokens", "1"),
        ("status", "'failed'"),
    ],
)
def test_a_changed_row_is_named(store: Store, signer: Signer, column: str, value: str) -> None:
    populate(store)
    store.seal()
    sql(store, f"UPDATE audit_trails SET {column} = {value} WHERE message_id = 'm-3'")
    report = check(store, signer)
    assert kinds(report) == {("changed", "m-3")}, report.findings


def test_a_deleted_and_an_inserted_row_are_named(store: Store, signer: Signer) -> None:
    populate(store)
    store.seal()
    sql(store, "DELETE FROM audit_trails WHERE message_id = 'b-7'")
    cols = (
        "project_id, timestamp, model, reasoning, context_layers, prompt_tokens, "
        "completion_tokens, total_tokens, cache_read_tokens, cache_write_tokens, "
        "reasoning_tokens, cost_prompt, cost_completion, cost_total, cost_source, "
        "price_version, status, metadata, created_at, updated_at"
    )
    sql(
        store,
        f"INSERT INTO audit_trails (id, message_id, {cols}) "
        f"SELECT 'forged-id', 'forged', {cols} FROM audit_trails WHERE message_id = 'm-0'",
    )
    report = check(store, signer)
    assert kinds(report) == {("deleted", "b-7"), ("inserted", "forged")}, report.findings


def test_a_rewritten_ledger_entry_is_named_even_when_the_row_matches_it(
    store: Store, signer: Signer
) -> None:
    """The careful attacker changes the row and rewrites its entry's hash to match: the
    signed checkpoint no longer folds, and its locator names the entry."""
    from llmtrail.ledger.entries import content_hash

    populate(store)
    store.seal()
    sql(store, "UPDATE audit_trails SET cost_total = '0' WHERE message_id = 'm-4'")
    changed = store.get("m-4")
    assert changed is not None
    sql(
        store,
        "UPDATE ledger_entries SET content_hash = :h WHERE message_id = 'm-4'",
        h=content_hash(changed),
    )
    report = check(store, signer)
    assert kinds(report) == {("ledger-changed", "m-4")}, report.findings


def test_a_removed_ledger_entry_is_named(store: Store, signer: Signer) -> None:
    populate(store)
    store.seal()
    # remove the metadata update of m-1 and put the row back as it was before it
    sql(store, "DELETE FROM ledger_entries WHERE message_id = 'm-1' AND op = 'update'")
    report = check(store, signer)
    assert ("ledger-removed", None) in kinds(report)
    assert ("changed", "m-1") in kinds(report)  # the row still holds the removed update


def test_reordered_ledger_entries_are_detected(store: Store, signer: Signer, db_url: str) -> None:
    populate(store)
    store.seal()
    if db_url.startswith("postgresql"):
        # swap the order of two entries (their transaction ids), contents untouched
        sql(
            store,
            "UPDATE ledger_entries SET txid = CASE message_id WHEN 'm-0' THEN "
            "(SELECT txid FROM ledger_entries WHERE message_id = 'm-2') ELSE "
            "(SELECT txid FROM ledger_entries WHERE message_id = 'm-0') END "
            "WHERE message_id IN ('m-0', 'm-2')",
        )
        assert ("ledger-reordered", None) in kinds(check(store, signer))
    else:  # SQLite orders by id: renumbering an entry moves it (out of the sealed range)
        sql(store, "UPDATE ledger_entries SET id = 100000 WHERE message_id = 'm-0'")
        assert ("ledger-removed", None) in kinds(check(store, signer))


def test_a_checkpoint_signed_by_another_key_is_forged(store: Store, signer: Signer) -> None:
    populate(store)
    mallory = Signer.generate()
    store.seal()
    sql(store, "DELETE FROM ledger_checkpoints")
    store.seal(mallory)  # nothing new to seal: rebuild the checkpoint by re-sealing from 0
    sql(store, "UPDATE store_state SET value = :v WHERE key = 'ledger.seal'", v='{"bound": 0}')
    assert store.seal(mallory).entries == 48
    report = check(store, signer)
    assert {f.kind for f in report.findings} == {"forged"}, report.findings
    assert len(report.findings) == 2  # p1's and p2's
    assert check(store, mallory).ok  # to the forger's own key it would verify


def test_a_checkpoint_with_a_changed_root_does_not_verify(store: Store, signer: Signer) -> None:
    populate(store)
    store.seal()
    sql(store, "UPDATE ledger_checkpoints SET seq = seq + 1 WHERE project_id = 'p2'")
    assert {f.kind for f in check(store, signer).findings} == {"forged"}


def test_retention_redaction_and_project_deletion_verify_clean(
    store: Store, signer: Signer
) -> None:
    old = (NOW - timedelta(days=20)).isoformat()
    older = (NOW - timedelta(days=40)).isoformat()
    for i in range(30):
        store.store(trail(f"old-{i}", timestamp=old if i % 2 else older), "keep")
        store.store(trail(f"new-{i}"), "keep")
    store.create_project("short", content_retention_days=1)
    for i in range(10):
        store.store(trail(f"s-{i}", timestamp=old), "short")
    store.store(trail("gone-1"), "doomed")
    store.seal()
    assert store.cleanup(30) == 15
    assert store.redact_content() == 10
    store.delete_project("doomed")
    report = check(store, signer)
    assert report.ok, report.findings
    store.seal()
    report = check(store, signer)
    assert report.ok, report.findings
    # ... and a deletion behind the API among the survivors is still caught
    sql(store, "DELETE FROM audit_trails WHERE message_id = 'old-1'")
    assert kinds(check(store, signer)) == {("deleted", "old-1")}


def test_one_project_can_be_verified_alone(store: Store, signer: Signer) -> None:
    populate(store)
    store.seal()
    sql(store, "UPDATE audit_trails SET model = 'x' WHERE message_id = 'm-0'")
    assert check(store, signer, "p2").ok
    assert kinds(check(store, signer, "p1")) == {("changed", "m-0")}


def test_reprice_and_copy_rewrites_are_recorded(store: Store, signer: Signer) -> None:
    """``rewrite`` (used by reprice, copy and dual mode) appends an update entry."""
    import dataclasses

    populate(store)
    store.rewrite("m-0", lambda t: dataclasses.replace(t, model="gpt-4o-mini"))
    store.seal()
    assert check(store, signer).ok


def test_the_ledger_can_be_turned_off(db_url: str, signer: Signer) -> None:
    import llmtrail
    from llmtrail.config import load_settings

    off = llmtrail.open_store(db_url, settings=load_settings(ledger=False, usage_fold_seconds=0))
    try:
        off.store(trail("quiet"), "p")
        off.update("quiet", status="failed")
        assert list(off.ledger_entries()) == []
        assert off.seal(signer).entries == 0
    finally:
        off.close()
