"""`cargowatch backtest`: re-score the archive with another ruleset, side by side."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from cargowatch.cli import app, err
from cargowatch.cli.options import ConfigOption, load_settings


@app.command("backtest")
def backtest_command(
    archive: Path = typer.Option(..., "--archive", help="Archive directory the worker writes (screened/date=.../).",
                                 exists=True, file_okay=False),
    rules: Path = typer.Option(..., "--rules", help="Candidate ruleset (YAML).", exists=True, dir_okay=False),
    baseline: Path | None = typer.Option(None, "--baseline", help="Ruleset to compare with (default: the configured one).",
                                         exists=True, dir_okay=False),
    out: Path | None = typer.Option(None, "--out", help="Write report.json, changes.csv and scores.png here."),
    watchlist: list[Path] = typer.Option([], "--watchlist", help="List file(s) to re-screen parties against (format detected).",
                                         exists=True, dir_okay=False),
    traders: Path | None = typer.Option(None, "--traders", help="Trader register (CSV/JSONL) for AEO and new-trader rules.",
                                        exists=True, dir_okay=False),
    since: str | None = typer.Option(None, "--since", help="First day (YYYY-MM-DD) of the archive to use."),
    until: str | None = typer.Option(None, "--until", help="Last day (YYYY-MM-DD) of the archive to use."),
    show: int = typer.Option(15, "--show", help="Manifests that change lane to list."),
    config: Path | None = ConfigOption,
) -> None:
    """Re-score archived manifests with the baseline and the candidate ruleset (same
    enrichment for both) and report lane rates, hit rates and the manifests that change lane."""
    from enrichers.refdata import ReferenceData
    from enrichers.traders import TraderRegister
    from streams.scoring import RulesetError, ScoringReference
    from streams.scoring.backtest import BacktestError, run_backtest

    settings = load_settings(config)
    ref = ReferenceData.load(settings.refdata)
    screener = None
    if watchlist:
        from enrichers.watchlist import build_screener_from_files

        screener = build_screener_from_files([(p, None) for p in watchlist], settings)
    try:
        report = run_backtest(
            archive, rules, baseline or settings.rules, ScoringReference.load(settings, ref), out=out,
            screener=screener, traders=TraderRegister.load(traders) if traders else None, since=since, until=until,
        )
    except (BacktestError, RulesetError) as exc:
        err.print(f"[red]backtest refused:[/red] {exc}")
        raise SystemExit(2) from None
    console = Console()
    table = Table(title=f"Backtest on {report.manifests} archived manifests ({archive})")
    table.add_column("")
    for side in report.sides:
        table.add_column(f"{side.name}\n{side.ruleset_version}", justify="right")
    for lane in ("GREEN", "BLUE", "YELLOW", "RED"):
        table.add_row(f"{lane} rate", *[f"{s.lane_rates[lane]:.2%}" for s in report.sides])
    table.add_row("selected (RED+YELLOW)", *[f"{s.selected_rate:.2%}" for s in report.sides])
    table.add_row("rule hit rate", *["-" if s.rule_hit_rate is None else f"{s.rule_hit_rate:.2%}" for s in report.sides])
    table.add_row("officer hit rate", *["-" if s.hit_rate is None else f"{s.hit_rate:.1%} of {s.decided}" for s in report.sides])
    table.add_row("mean score", *["-" if s.mean_score is None else f"{s.mean_score:.1f}" for s in report.sides])
    console.print(table)
    console.print(f"{len(report.changed)} manifests change lane: "
                  + ", ".join(f"{k} {v}" for k, v in report.transitions.items()))
    if report.changed and show:
        changes = Table(title=f"first {min(show, len(report.changed))} lane changes")
        for col in ("manifest", "v", "archived", "baseline", "candidate", "score", "rules added", "rules dropped"):
            changes.add_column(col)
        for c in report.changed[:show]:
            changes.add_row(c["manifest_id"], str(c["version"]), str(c["archived_lane"]), c["baseline_lane"],
                            c["new_lane"], f"{c['baseline_score']:.0f} -> {c['new_score']:.0f}", c["new_rules"], c["dropped_rules"])
        console.print(changes)
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    if report.plot:
        console.print(f"score distributions: {report.plot}")
