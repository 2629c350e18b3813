"""`cargowatch quality`: detection quality of the ruleset on the generator's labels."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cargowatch.cli import app
from cargowatch.cli.options import ConfigOption, load_settings


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


@app.command("quality")
def quality_command(
    count: int = typer.Option(20_000, "--count", "-n", help="Manifests to generate and screen."),
    seed: int = typer.Option(1, "--seed", help="Generator seed (same seed, same traffic)."),
    rules: Path | None = typer.Option(None, "--rules", help="Ruleset to evaluate (default: the configured one).",
                                      exists=True, dir_okay=False),
    rate: float = typer.Option(0.05, "--rate", help="RED+YELLOW selection rate for the high-risk target."),
    risk_scale: float = typer.Option(
        0.25, "--risk-scale",
        help="Multiplier of the generator's planted-risk rates (its defaults plant a risk in about a third "
        "of the manifests, far above real traffic).",
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the report as JSON here."),
    config: Path | None = ConfigOption,
) -> None:
    """Generate labelled traffic, screen it offline through the same core as the worker
    (validation, watchlist, trader register and history, rules), and report precision and
    recall per planted risk and the share of high-risk manifests selected at --rate.
    Exits 1 when that share is under 90%."""
    from streams.scoring.quality import evaluate, report_json

    settings = load_settings(config)
    console = Console()
    with Progress(
        TextColumn("[bold]generating and screening[/bold]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as progress:
        task = progress.add_task("quality", total=count)
        report = evaluate(
            count=count, seed=seed, rules=rules, settings=settings, selection_rate=rate, risk_scale=risk_scale,
            progress=lambda n: progress.update(task, completed=n),
        )
    table = Table(title=f"Detection quality: ruleset {report.ruleset_version}, {report.screened} screened "
                        f"({report.rejected} rejected), seed {seed}, risk scale {risk_scale}")
    for col in ("rule id", "planted", "fired", "true positives", "precision", "recall"):
        table.add_column(col, justify="left" if col == "rule id" else "right")
    for rid, q in sorted(report.rules.items()):
        table.add_row(rid, str(q.planted), str(q.fired), str(q.true_positive), _pct(q.precision), _pct(q.recall))
    console.print(table)
    console.print("lanes: " + ", ".join(f"{k} {v:.2%}" for k, v in report.lane_rates.items())
                  + " | referrals: " + ", ".join(f"{k} {v}" for k, v in sorted(report.referrals.items())))
    ok = report.selected_share >= 0.9
    colour = "green" if ok else "red"
    console.print(
        f"[{colour}]high-risk ({', '.join(report.high_risk)}) selected at a {rate:.0%} RED+YELLOW rate: "
        f"{report.selected_high_risk}/{report.high_risk_manifests} = {report.selected_share:.1%} (target >= 90%)[/{colour}]"
    )
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    if json_out:
        json_out.write_text(report_json(report))
    raise typer.Exit(0 if ok else 1)
