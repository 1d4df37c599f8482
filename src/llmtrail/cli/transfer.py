"""``llmtrail copy``, ``llmtrail verify``, ``llmtrail import`` and ``llmtrail export``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from llmtrail.cli.app import app, console, err_console, fail, settings
from llmtrail.errors import AuditTrailError
from llmtrail.store import open_store
from llmtrail.store.base import Store

FROM = typer.Option(..., "--from", help="Source database URL (sqlite:///…, postgresql://…).")
TO = typer.Option(..., "--to", help="Target database URL.")


def _open(url: str, *, must_exist: bool) -> Store:
    if must_exist and url.startswith("sqlite:"):
        from sqlalchemy.engine import make_url

        path = make_url(url).database
        if path and path != ":memory:" and not Path(path).exists():
            fail(f"no such SQLite database: {path}")
    if url.startswith("memory:"):
        fail(
            "memory:// holds nothing outside its own process; export the service's trails "
            "to JSONL (GET …/audit-trails/export?format=jsonl) and use `llmtrail import`"
        )
    settings()
    return open_store(url)


@contextmanager
def _bar(label: str, total: int | None) -> Iterator[Progress]:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    ) as bar:
        bar.add_task(label, total=total)
        yield bar


@app.command()
def copy(
    source_url: str = FROM,
    target_url: str = TO,
    batch: int = typer.Option(2_000, "--batch", min=1, max=100_000, help="Trails per commit."),
    state: Path | None = typer.Option(
        None, "--state", help="Resume-state file (default: .llmtrail-copy-<hash>.json here)."
    ),
    restart: bool = typer.Option(False, "--restart", help="Ignore a saved resume position."),
) -> None:
    """Backfill projects, keys and trails into another database (resumable, idempotent)."""
    from llmtrail.transfer.copy import copy_store, default_state_path

    if source_url == target_url:
        fail("--from and --to are the same database")
    source = _open(source_url, must_exist=True)
    try:
        target = _open(target_url, must_exist=False)
    except BaseException:
        source.close()
        raise
    state_path = state or default_state_path(source_url, target_url)
    try:
        total = source.count_trails()
        with _bar("copying trails", total) as bar:
            task = bar.task_ids[0]
            report = copy_store(
                source,
                target,
                batch=batch,
                state_path=state_path,
                restart=restart,
                source_name=source_url,
                target_name=target_url,
                progress=lambda n: bar.advance(task, n),
            )
    except KeyboardInterrupt:
        err_console.print(f"interrupted: run the same command again to resume ({state_path})")
        raise typer.Exit(130) from None
    except AuditTrailError as e:
        fail(f"{e} (progress is saved; run the same command again to resume)")
    finally:
        source.close()
        target.close()
    t = report.trails
    console.print(
        f"{'resumed and ' if report.resumed else ''}copied: {t.created} new, "
        f"{t.overwritten} updated, {t.unchanged} already there, {t.stale} newer on the target; "
        f"projects written: {report.projects}, keys written: {report.keys}",
        highlight=False,
    )
    console.print(f"next: llmtrail verify --from {source_url} --to {target_url}", highlight=False)


@app.command()
def verify(
    source_url: str = FROM,
    target_url: str = TO,
    limit: int = typer.Option(50, "--show", min=0, help="How many differences to print."),
) -> None:
    """Compare two databases (counts per project, content checksums per trail); exit 1 on
    any difference."""
    from llmtrail.transfer.verify import verify_stores

    source = _open(source_url, must_exist=True)
    try:
        target = _open(target_url, must_exist=True)
    except BaseException:
        source.close()
        raise
    try:
        total = source.count_trails()
        tgt_total = target.count_trails()
        both = total + tgt_total if total is not None and tgt_total is not None else None
        with _bar("verifying", both) as bar:
            task = bar.task_ids[0]
            report = verify_stores(source, target, progress=lambda n: bar.advance(task, n))
    except AuditTrailError as e:
        fail(str(e))
    finally:
        source.close()
        target.close()
    for pid, (a, b) in sorted(report.counts.items()):
        mark = "ok" if a == b else "DIFF"
        console.print(f"{mark:<4} project {pid}: source {a}, target {b}", highlight=False)
    for d in report.differences[:limit]:
        console.print(str(d), highlight=False)
    if len(report.differences) > limit:
        console.print(f"… and {len(report.differences) - limit} more", highlight=False)
    s = report.summary()
    console.print(
        f"trails: source {report.source_total}, target {report.target_total}; differences: "
        f"{len(report.differences)} (missing {s['missing']}, extra {s['extra']}, "
        f"changed {s['changed']})",
        highlight=False,
    )
    if not report.ok:
        raise typer.Exit(1)
    console.print("verified: both sides hold the same projects and trails")


@app.command("import")
def import_(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A JSONL export."),
    url: str | None = typer.Option(None, "--url", help="Database URL (default: DATABASE_URL)."),
    batch: int = typer.Option(2_000, "--batch", min=1, max=100_000, help="Trails per commit."),
) -> None:
    """Load a JSONL export (one trail per line) into a database; safe to run twice."""
    from llmtrail.transfer.jsonl import check_jsonl, import_jsonl

    s = settings()
    try:
        total = check_jsonl(file)
    except AuditTrailError as e:
        fail(f"{file}: nothing imported: {e}")
    target = _open(url or s.database_url, must_exist=False)
    try:
        with _bar("importing", total) as bar:
            task = bar.task_ids[0]
            report = import_jsonl(
                file, target, batch=batch, progress=lambda n: bar.advance(task, n)
            )
    except AuditTrailError as e:
        fail(str(e))
    finally:
        target.close()
    t = report.trails
    console.print(
        f"imported {report.lines} lines: {t.created} new, {t.overwritten} updated, "
        f"{t.unchanged} already there, {t.stale} newer in the database",
        highlight=False,
    )


@app.command()
def export(
    url: str | None = typer.Option(None, "--url", help="Database URL (default: DATABASE_URL)."),
    project: list[str] | None = typer.Option(None, "--project", help="Only these projects."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File (default: stdout)."),
    signed: Path | None = typer.Option(
        None,
        "--signed",
        help="Write a signed export of one --project into this directory: trails.jsonl, "
        "ledger.jsonl and manifest.json (check it with `llmtrail verify-export`).",
    ),
) -> None:
    """Write trails as JSON Lines (the format `llmtrail import` reads)."""
    from llmtrail.transfer.jsonl import export_jsonl

    s = settings()
    if signed is not None and (not project or len(project) != 1):
        fail("--signed exports one project: give exactly one --project", code=2)
    source = _open(url or s.database_url, must_exist=True)
    if signed is not None:
        _export_signed(source, project[0] if project else "", signed)
        return
    try:
        if output is None:
            n = export_jsonl(source, sys.stdout, project_ids=project or None)
        else:
            with open(output, "w", encoding="utf-8") as fh:
                n = export_jsonl(source, fh, project_ids=project or None)
    except AuditTrailError as e:
        fail(str(e))
    finally:
        source.close()
    err_console.print(f"exported {n} trails", highlight=False)


def _export_signed(source: Store, project: str, directory: Path) -> None:
    from llmtrail.ledger.export import export_signed

    try:
        result = export_signed(source, project, directory)
    except AuditTrailError as e:
        fail(str(e))
    finally:
        source.close()
    cp = result.checkpoint
    assert cp is not None
    err_console.print(
        f"exported {result.trails} trails and {result.entries} ledger entries of {project} "
        f"to {directory}, covered by checkpoint {cp.seq}"
        + (f"; {result.left_out} written after it were left out" if result.left_out else ""),
        highlight=False,
    )


@app.command()
def outbox(
    path: Path | None = typer.Option(
        None, "--path", help="The outbox file (default: AUDIT_TRAIL_DUAL_OUTBOX)."
    ),
    replay: bool = typer.Option(False, "--replay", help="Apply what waits to the target now."),
    url: str | None = typer.Option(None, "--url", help="Target URL (default: DATABASE_URL)."),
) -> None:
    """Show the dual-mode outbox (waiting and given-up writes); with --replay, drain it into
    the target. Exit 1 while anything is left."""
    import contextlib

    from llmtrail.store.base import utcnow
    from llmtrail.store.outbox import Outbox
    from llmtrail.store.replay import Replayer

    s = settings()
    where = path or s.dual_outbox
    if not Path(where).exists():
        fail(f"no outbox at {where}")
    box = Outbox(where)
    try:
        if replay and box.pending():
            target = _open(url or s.database_url, must_exist=False)
            try:
                player = Replayer(
                    box, lambda: target, lambda _ids: contextlib.nullcontext(), clock=utcnow
                )
                player.replay()
            finally:
                target.close()
        pending, dead = box.pending(), box.dead()
    finally:
        box.close()
    console.print(f"outbox {where}: {pending} waiting, {dead} given up", highlight=False)
    if pending or dead:
        raise typer.Exit(1)
