"""`cargowatch watchlist load|eval`: publish a list version, measure the matcher's quality."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cargowatch.cli import app, err
from cargowatch.cli.options import ConfigOption, load_settings

watchlist_app = typer.Typer(
    help="Watchlists: publish a list version to ref.watchlist, evaluate the matcher.",
    no_args_is_help=True,
)
app.add_typer(watchlist_app, name="watchlist")
out = Console()


@watchlist_app.command("load")
def load_command(
    path: Path = typer.Argument(
        ..., exists=True, help="List file, or the OFAC folder holding sdn.csv."
    ),
    fmt: str | None = typer.Option(
        None,
        "--format",
        "-f",
        help="ofac | un | eu | ftm | csv (detected from the file when omitted).",
    ),
    list_id: str | None = typer.Option(
        None, "--list-id", help="List id (default: per format, or the CSV column)."
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Publish PATH as the current version of its list on ref.watchlist (compacted):
    every entry, tombstones for entries gone since the previous version, then a
    version marker. Workers swap the list in live."""
    from enrichers.watchlist.loaders import FORMATS, load_watchlist
    from enrichers.watchlist.publish import publish_version

    if fmt is not None and fmt.lower() not in FORMATS:
        err.print(f"[red]--format must be one of {', '.join(FORMATS)}, got {fmt!r}[/red]")
        raise typer.Exit(2)
    settings = load_settings(config)
    settings.require_kafka()
    version = load_watchlist(path, fmt, list_id)
    err.print(
        f"read {len(version.entries)} entries of list [bold]{version.list_id}[/bold] "
        f"version {version.version} ({version.fmt})"
    )
    with Progress(
        TextColumn("publishing"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=err,
    ) as bar:  # fmt: skip
        task = bar.add_task("publish", total=len(version.entries) + 1)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = asyncio.run(publish_version(settings, version, progress))
    out.print(
        f"published {report.entries} entries, {report.tombstones} tombstones and the version marker "
        f"of {report.list_id} {report.version} (previous: {report.previous_version or 'none'}) "
        f"to {report.topic}"
    )


@watchlist_app.command("eval")
def eval_command(
    refdata: Path | None = typer.Option(
        None, "--refdata", help="Reference-data directory (default: settings)."
    ),
    json_path: Path | None = typer.Option(
        None, "--json", help="Also write the figures as JSON here."
    ),
    negatives_sample: int | None = typer.Option(
        None,
        "--negatives-sample",
        help="Screen this many of each negatives file (default: all 50,000).",
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Matcher quality on the labelled sets: nomenklatura F1, yente UN top-5 and
    false-positive rate, Watchman cross-script share."""
    from enrichers.watchlist.evaluation import run_quality_eval

    root = refdata or Path(load_settings(config).refdata)
    if not (root / "matching").is_dir():
        err.print(f"[red]{root} has no matching/ folder of labelled sets; pass --refdata[/red]")
        raise typer.Exit(2)
    with err.status("evaluating") as status:
        report = run_quality_eval(root, negatives_sample, progress=lambda m: status.update(m))
    nk = report.nomenklatura
    table = Table(title=f"Watchlist matcher quality (threshold {report.threshold})")
    table.add_column("set")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_row(
        "nomenklatura cases",
        f"F1 ({nk.pairs} pairs; P {nk.precision:.3f} R {nk.recall:.3f})",
        f"{nk.f1:.3f}",
        "≥ 0.82",
    )
    if nk.logicv2_f1 is not None:
        table.add_row("", "logic-v2 F1 (frozen run)", f"{nk.logicv2_f1:.3f}", "")
    table.add_row("", "STRONG matches missed", str(nk.strong_misses), "0")
    t5 = report.yente_top5
    table.add_row(
        "yente UN treated",
        f"right entry in top 5 ({t5.found}/{t5.queries})",
        f"{t5.rate:.2%}",
        "≥ 99%",
    )
    for neg in report.negatives:
        table.add_row(
            neg.file, f"alert rate ({neg.alerts}/{neg.queries})", f"{neg.rate:.2%}", "≤ 1%"
        )
    table.add_row(
        "yente negatives",
        "alert rate, both files (UN list)",
        f"{report.negatives_rate:.2%}",
        "≤ 1%",
    )
    for neg in report.negatives_ofac_un:
        table.add_row(
            neg.file,
            f"alert rate vs UN + OFAC ({neg.alerts}/{neg.queries})",
            f"{neg.rate:.2%}",
            "info",
        )
    cs = report.cross_script
    table.add_row(
        "watchman cross-script",
        f"share matched ({cs.matched}/{cs.pairs})",
        f"{cs.share:.1%}",
        "report",
    )
    for script, (ok, n) in cs.by_script.items():
        table.add_row("", f"  {script}", f"{ok}/{n}", "")
    out.print(table)
    out.print(f"lists: {report.list_versions}; {report.seconds} s")
    if json_path:
        json_path.write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        out.print(f"wrote {json_path}")
