"""The ledger's doors: the CLI (seal, verify-chain, export --signed, verify-export,
public-key) and ``GET /api/projects/{projectId}/checkpoints/latest``."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrail.cli.app import _register, app
from llmtrail.ledger.entries import checkpoint_message
from llmtrail.ledger.signing import Signer, parse_public_key
from llmtrail.store.base import Store
from tests.api.conftest import Api, make_api
from tests.ledger.conftest import populate, sql

runner = CliRunner()
_register()


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch, signer: Signer) -> str:
    """The signing key in the environment, as production sets it."""
    seed = signer.private_pem().decode()
    monkeypatch.setenv("AUDIT_TRAIL_SIGNING_KEY", seed)
    return signer.public_key


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout


def test_verify_chain_exit_codes_and_json(
    store: Store, db_url: str, key_env: str, signer: Signer
) -> None:
    populate(store)
    code, out = invoke("seal", "--url", db_url)
    assert code == 0, out
    assert json.loads(out)["entries"] == 48
    code, out = invoke("verify-chain", "--url", db_url, "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["ok"] is True and report["trails"] == 46 and report["sealedEntries"] == 48
    sql(store, "UPDATE audit_trails SET cost_total = '1' WHERE message_id = 'b-3'")
    code, out = invoke("verify-chain", "--url", db_url, "--json")
    assert code == 1
    findings = json.loads(out)["findings"]
    assert [(f["kind"], f["projectId"], f["messageId"]) for f in findings] == [
        ("changed", "p1", "b-3")
    ]
    code, out = invoke("verify-chain", "--url", db_url, "--project", "p2")
    assert code == 0 and "intact" in out
    code, out = invoke("verify-chain", "--url", db_url)
    assert code == 1 and "changed" in out and "b-3" in out
    # another trusted key: every checkpoint is forged to it
    other = Signer.generate().public_key
    code, out = invoke("verify-chain", "--url", db_url, "--public-key", other, "--json")
    assert code == 1 and {f["kind"] for f in json.loads(out)["findings"]} >= {"forged"}
    code, _ = invoke("verify-chain", "--url", db_url, "--public-key", "not-a-key")
    assert code == 2


def test_signed_export_verifies_offline_and_a_flipped_byte_fails(
    store: Store, db_url: str, key_env: str, tmp_path: Path
) -> None:
    populate(store)
    out_dir = tmp_path / "audit"
    code, out = invoke("export", "--url", db_url, "--project", "p1", "--signed", str(out_dir))
    assert code == 0, out
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "ledger.jsonl",
        "manifest.json",
        "trails.jsonl",
    ]
    assert len((out_dir / "trails.jsonl").read_text().splitlines()) == 45
    code, public = invoke("public-key")
    assert code == 0 and public.strip() == key_env
    key_file = tmp_path / "auditor.pub"
    code, pem = invoke("public-key", "--pem")
    key_file.write_text(pem)
    for key in (key_env, str(key_file)):
        code, out = invoke("verify-export", str(out_dir), "--public-key", key)
        assert code == 0, out
        assert "verified: 45 trails" in out
    code, out = invoke(
        "verify-export", str(out_dir), "--public-key", Signer.generate().public_key, "--json"
    )
    assert code == 1 and "signature" in " ".join(json.loads(out)["problems"])
    for name in ("trails.jsonl", "ledger.jsonl", "manifest.json"):
        path = out_dir / name
        original = path.read_bytes()
        for offset in (len(original) // 3, len(original) // 2):
            flipped = bytearray(original)
            flipped[offset] ^= 0x01
            path.write_bytes(bytes(flipped))
            code, out = invoke("verify-export", str(out_dir), "--public-key", key_env)
            assert code == 1, (name, offset, out)
        path.write_bytes(original)
    assert invoke("verify-export", str(out_dir), "--public-key", key_env)[0] == 0


def test_export_signed_needs_one_project(db_url: str, key_env: str, tmp_path: Path) -> None:
    code, _ = invoke("export", "--url", db_url, "--signed", str(tmp_path / "x"))
    assert code == 2


def test_checkpoint_route(db_url: str, signer: Signer, tmp_path: Path) -> None:
    api_gen = make_api(db_url, signing_key=signer.private_pem().decode(), seal_seconds=0)
    api: Api = next(api_gen)
    try:
        headers = api.project("cp")
        r = api.client.get("/api/projects/cp/checkpoints/latest", headers=headers)
        assert r.status_code == 404, r.text
        body = {"messageId": "cp-1", "model": "gpt-4o", "contextLayers": 1}
        assert api.post("cp", body, headers).status_code == 201
        api.store.seal()
        r = api.client.get("/api/projects/cp/checkpoints/latest", headers=headers)
        assert r.status_code == 200, r.text
        cp = r.json()
        assert {"seq", "root", "signedAt", "signature", "publicKey"} <= cp.keys()
        assert cp["seq"] == 1 and cp["publicKey"] == signer.public_key
        verifier = parse_public_key(cp["publicKey"])
        signed_at = __import__("datetime").datetime.fromisoformat(cp["signedAt"])
        message = checkpoint_message("cp", 1, bytes.fromhex(cp["root"]), cp["bound"], signed_at)
        assert verifier.verify(base64.b64decode(cp["signature"]), message)
        other = api.project("other")
        r = api.client.get("/api/projects/cp/checkpoints/latest", headers=other)
        assert r.status_code == 403
        r = api.client.get("/api/projects/cp/checkpoints/latest")
        assert r.status_code == 401
    finally:
        api_gen.close()


def test_serve_seals_on_shutdown(db_url: str, signer: Signer) -> None:
    """The periodic sealer's last seal runs at a clean shutdown: nothing written is left
    unsealed."""
    api_gen = make_api(db_url, signing_key=signer.private_pem().decode(), seal_seconds=3600)
    api: Api = next(api_gen)
    headers = api.project("sd")
    for i in range(3):
        assert (
            api.post(
                "sd", {"messageId": f"sd-{i}", "model": "m", "contextLayers": 0}, headers
            ).status_code
            == 201
        )
    store = api.store
    assert store.latest_checkpoint("sd") is None
    api.client.__exit__(None, None, None)  # the app's lifespan ends: the sealer stops
    latest = store.latest_checkpoint("sd")
    assert latest is not None and latest.seq == 3
    api_gen.close()


def test_an_unwritable_key_file_is_a_clear_error_and_serve_still_starts(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("")
    key_file = not_a_dir / "key.pem"  # cannot be created, not even by root
    monkeypatch.setenv("AUDIT_TRAIL_SIGNING_KEY_FILE", str(key_file))
    code, _ = invoke("public-key")
    assert code == 2
    code, _ = invoke("seal", "--url", db_url)
    assert code == 2
    api_gen = make_api(db_url, signing_key_file=key_file, seal_seconds=5)
    api: Api = next(api_gen)
    try:
        headers = api.project("ro")
        body = {"messageId": "ro-1", "model": "gpt-4o", "contextLayers": 1}
        assert api.post("ro", body, headers).status_code == 201
        r = api.client.get("/api/projects/ro/checkpoints/latest", headers=headers)
        assert r.status_code == 404
    finally:
        api_gen.close()
