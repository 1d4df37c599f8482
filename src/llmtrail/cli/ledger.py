"""Tamper evidence (SPEC §9): ``seal``, ``verify-chain``, ``verify-export``, ``public-key``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from llmtrail.cli.app import app, console, fail, settings
from llmtrail.errors import AuditTrailError, ValidationError

URL_OPTION = typer.Option(None, "--url", help="Database URL (default: DATABASE_URL).")
KEY_OPTION = typer.Option(
    None,
    "--public-key",
    help="The trusted public key (base64, hex or PEM, or a file holding it); default: the "
    "public half of the configured signing key.",
)


@app.command()
def seal(url: str | None = URL_OPTION) -> None:
    """Seal the ledger now: fold the entries written since the last seal into each project's
    hash chain and sign a checkpoint; prints {"entries": n, "checkpoints": […]}."""
    from llmtrail.store import open_store

    s = settings()
    try:
        store = open_store(url, settings=s)
    except AuditTrailError as e:
        fail(str(e), code=2 if isinstance(e, ValidationError) else 1)
    try:
        report = store.seal()
    except AuditTrailError as e:
        fail(str(e), code=2 if isinstance(e, ValidationError) else 1)
    finally:
        store.close()
    out = {
        "entries": report.entries,
        "checkpoints": [
            {"projectId": cp.project_id, "seq": cp.seq, "root": cp.root.hex()}
            for cp in report.checkpoints
        ],
    }
    typer.echo(json.dumps(out))


@app.command("verify-chain")
def verify_chain(
    project: str | None = typer.Option(None, "--project", help="Only this project."),
    url: str | None = URL_OPTION,
    public_key: str | None = KEY_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Recompute every sealed checkpoint from the ledger and every trail's hash from its row;
    name each trail changed, deleted or inserted behind the API. Exit 1 if anything does not
    verify, 0 when intact."""
    from llmtrail.ledger.signing import parse_public_key
    from llmtrail.ledger.verify import verify_chain as run
    from llmtrail.store import open_store

    s = settings()
    try:
        verifier = parse_public_key(public_key, field="--public-key") if public_key else None
        store = open_store(url, settings=s)
    except AuditTrailError as e:
        fail(str(e), code=2 if isinstance(e, ValidationError) else 1)
    try:
        report = run(store, verifier or store.signer, project_id=project)
    except AuditTrailError as e:
        fail(str(e), code=2)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
    else:
        for f in report.findings:
            console.print(str(f), highlight=False, markup=False)
        verdict = "intact" if report.ok else f"{len(report.findings)} findings"
        console.print(
            f"{verdict}: {report.trails} trails, {report.entries} ledger entries "
            f"({report.sealed} sealed), {report.checkpoints} checkpoints, "
            f"{report.projects} projects, {report.seconds:.2f} s",
            highlight=False,
        )
    if not report.ok:
        raise typer.Exit(1)


@app.command("verify-export")
def verify_export(
    directory: Path = typer.Argument(..., help="The directory `export --signed` wrote."),
    public_key: str = typer.Option(
        ..., "--public-key", help="The trusted public key (base64, hex or PEM, or a file)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Check a signed export offline (no database): the checkpoint's signature, the ledger
    folding to it, every trail hashing to its recorded version. Exit 1 if anything fails."""
    from llmtrail.ledger.export import verify_export as run
    from llmtrail.ledger.signing import parse_public_key

    try:
        verifier = parse_public_key(public_key, field="--public-key")
    except ValidationError as e:
        fail(str(e), code=2)
    if not directory.is_dir():
        fail(f"no such directory: {directory}", code=2)
    check = run(directory, verifier)
    if as_json:
        typer.echo(json.dumps(check.to_dict()))
    else:
        for p in check.problems:
            console.print(p, highlight=False, markup=False)
        verdict = "verified" if check.ok else "NOT verified"
        console.print(
            f"{verdict}: {check.trails} trails, {check.entries} ledger entries", highlight=False
        )
    if not check.ok:
        raise typer.Exit(1)


@app.command("public-key")
def public_key(
    pem: bool = typer.Option(False, "--pem", help="Print it as PEM instead of base64."),
) -> None:
    """Print the public key of the checkpoint signing key (give it to auditors)."""
    from llmtrail.ledger.signing import load_signer

    s = settings()
    try:
        signer = load_signer(s.signing_key, s.signing_key_file)
    except AuditTrailError as e:
        fail(str(e), code=2)
    typer.echo(signer.public_pem().rstrip() if pem else signer.public_key)
