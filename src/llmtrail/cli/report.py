"""``llmtrail report PROJECT``: the analytics of SPEC §4 as tables in the terminal."""

from __future__ import annotations

from decimal import Decimal

import typer
from rich.table import Table
from rich.text import Text

from llmtrail.analytics import Analytics
from llmtrail.cli.app import app, console, fail, settings
from llmtrail.errors import AuditTrailError
from llmtrail.model import dumps
from llmtrail.model.wire import JSONDecimal
from llmtrail.store import open_store

BAR_WIDTH = 24


@app.command()
def report(
    project_id: str = typer.Argument(..., metavar="PROJECT", help="The project's id."),
    days: int = typer.Option(30, "--days", "-d", help="The last N calendar days, today included."),
    since: str | None = typer.Option(None, "--since", help="RFC 3339 start (instead of --days)."),
    until: str | None = typer.Option(None, "--until", help="RFC 3339 end (default: now)."),
    tz: str = typer.Option("UTC", "--tz", help="IANA time zone of the day boundaries."),
    group_by: str | None = typer.Option(
        None,
        "--group-by",
        help="Also cost by model, provider or metadata.<key> (e.g. metadata.userId).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the API's JSON instead."),
    url: str | None = typer.Option(None, "--url", help="Database URL (default: DATABASE_URL)."),
) -> None:
    """Cost and usage of a project: totals, cost per day and per model, the newest trails;
    with --group-by, cost per group, and the budget when the project has one."""
    store = open_store(url, settings=settings())
    try:
        result = store.analytics(
            project_id, days=days, since=since, until=until, tz=tz, group_by=group_by
        )
    except AuditTrailError as e:
        fail(str(e))
    finally:
        store.close()
    if as_json:
        typer.echo(dumps(result.to_wire(), indent=2))
        return
    render(result, project_id)
    if result.cost_by_group is not None and group_by is not None:
        render_groups(result, group_by)
    if result.budget is not None:
        b = result.budget
        state = "exceeded" if b.exceeded else f"{usd(b.remaining)} left"
        console.print(
            f"budget: {usd(b.spent)} of {usd(b.budget.amount)} per {b.budget.period} "
            f"({b.used * 100:.0f}%), {state}",
            highlight=False,
        )


def render_groups(a: Analytics, group_by: str) -> None:
    """Print ``costByGroup`` as a table."""
    groups = a.cost_by_group or []
    peak = max((g.cost for g in groups), default=Decimal(0))
    table = Table(title=f"cost by {group_by}", title_justify="left", header_style="bold")
    table.add_column(group_by, overflow="fold", max_width=60)
    table.add_column("messages", justify="right")
    table.add_column("tokens", justify="right")
    table.add_column("cost", justify="right")
    table.add_column("", min_width=BAR_WIDTH, no_wrap=True)
    for g in groups:
        label = Text("(none)", style="dim") if g.group is None else Text(str(g.group))
        table.add_row(label, f"{g.messages:,}", f"{g.tokens:,}", usd(g.cost), _bar(g.cost, peak))
    if not groups:
        table.add_row(Text("no messages in this window", style="dim"), "", "", "", "")
    console.print(table)


def usd(d: Decimal) -> str:
    """Exact dollars: every digit the sum has (never rounded through a float)."""
    return f"${JSONDecimal(d)}"


def _bar(value: Decimal, peak: Decimal) -> Text:
    if peak <= 0 or value <= 0:
        return Text("")
    cells = max(1, round(float(value / peak) * BAR_WIDTH))
    return Text("█" * cells, style="magenta")


def render(a: Analytics, project_id: str) -> None:
    """Print the analytics as rich tables."""
    w = a.window
    first, last = w.days[0].isoformat(), w.days[-1].isoformat()
    summary = Table.grid(padding=(0, 3))
    for _ in range(4):
        summary.add_column()
    summary.add_row(
        Text("total cost", style="dim"),
        Text("messages", style="dim"),
        Text("tokens", style="dim"),
        Text("average cost", style="dim"),
    )
    summary.add_row(
        Text(usd(a.total_cost), style="bold magenta"),
        Text(f"{a.message_count:,}", style="bold"),
        Text(f"{a.total_tokens:,}", style="bold"),
        Text(usd(a.average_cost), style="bold"),
    )
    console.print(
        f"[bold]{project_id}[/] · {len(w.days)} days · {first} – {last} ({w.tz_name})",
        highlight=False,
    )
    console.print(summary)

    peak = max((d.cost for d in a.cost_by_day), default=Decimal(0))
    days = Table(title="cost per day", title_justify="left", header_style="bold")
    days.add_column("date")
    days.add_column("messages", justify="right")
    days.add_column("tokens", justify="right")
    days.add_column("cost", justify="right")
    days.add_column("", min_width=BAR_WIDTH, no_wrap=True)
    for d in a.cost_by_day:
        style = "dim" if d.messages == 0 else None
        days.add_row(
            d.date.isoformat(),
            f"{d.messages:,}",
            f"{d.tokens:,}",
            usd(d.cost),
            _bar(d.cost, peak),
            style=style,
        )
    console.print(days)

    models = Table(title="cost by model", title_justify="left", header_style="bold")
    models.add_column("model", overflow="fold", max_width=60)
    models.add_column("messages", justify="right")
    models.add_column("tokens", justify="right")
    models.add_column("cost", justify="right")
    models.add_column("share", justify="right")
    for m in a.cost_by_model:
        share = f"{m.cost / a.total_cost * 100:.1f}%" if a.total_cost else "–"
        models.add_row(m.model, f"{m.messages:,}", f"{m.tokens:,}", usd(m.cost), share)
    if not a.cost_by_model:
        models.add_row(Text("no messages in this window", style="dim"), "", "", "", "")
    console.print(models)

    recent = Table(title="recent trails", title_justify="left", header_style="bold")
    recent.add_column("timestamp (UTC)", no_wrap=True)
    recent.add_column("message id", overflow="fold", max_width=40)
    recent.add_column("model", overflow="fold", max_width=40)
    recent.add_column("tokens", justify="right")
    recent.add_column("cost", justify="right")
    recent.add_column("status")
    for t in a.recent_trails:
        assert t.timestamp is not None
        cost = t.cost.total if t.cost is not None and t.cost.total is not None else Decimal(0)
        recent.add_row(
            t.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
            t.message_id,
            t.model,
            f"{t.tokens.total or 0:,}",
            usd(cost),
            t.status,
        )
    console.print(recent)
