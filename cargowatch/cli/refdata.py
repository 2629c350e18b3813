"""`cargowatch refdata fetch`: download HS, UN/LOCODE and ISO 4217 into the reference-data
directory."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from cargowatch.cli import app, err
from cargowatch.cli.options import ConfigOption, load_settings

refdata_app = typer.Typer(help="Reference data: HS nomenclature, UN/LOCODE, ISO 4217.", no_args_is_help=True)
app.add_typer(refdata_app, name="refdata")


@refdata_app.command("fetch")
def fetch_command(
    into: Path | None = typer.Option(
        None, "--into", help="reference-data directory (default: the refdata setting, CARGOWATCH_REFDATA)", file_okay=False
    ),
    source_url: list[str] = typer.Option(
        [], "--source-url", help="NAME=URL to fetch a source from elsewhere (hs, hs_sections, unlocode, "
        "unlocode_countries, currency); repeatable",
    ),
    mirror: str | None = typer.Option(
        None, "--mirror", envvar="CARGOWATCH_REFDATA_MIRROR",
        help="base URL serving every source under its official file name (harmonized-system.csv, "
        "loc242csv.zip, codes-all.csv, ...)",
    ),
    only: list[str] = typer.Option([], "--only", help="fetch only this source; repeatable"),
    timeout: float = typer.Option(60.0, "--timeout", help="seconds per download before giving up"),
    config: Path | None = ConfigOption,
) -> None:
    """Download the official public sources into the reference-data directory."""
    from cargowatch.refdata_fetch import DEFAULT_SOURCES, FetchError, fetch, mirror_sources

    settings = load_settings(config)
    target = into or Path(settings.refdata)
    sources: dict[str, str] = mirror_sources(mirror) if mirror else {}
    for item in source_url:
        name, sep, url = item.partition("=")
        if not sep or name not in DEFAULT_SOURCES or not url:
            err.print(f"[red]--source-url {item!r}:[/red] write NAME=URL with NAME one of {', '.join(DEFAULT_SOURCES)}")
            raise typer.Exit(2)
        sources[name] = url

    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]{task.description:<20}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        console=console, transient=False,
    ) as progress:
        tasks: dict[str, TaskID] = {}

        def hook(source: str, done: int, total: int | None) -> None:
            if source not in tasks:
                tasks[source] = progress.add_task(source, total=total)
            progress.update(tasks[source], completed=done, total=total)

        try:
            results = fetch(target, sources=sources, only=only or None, progress=hook, timeout=timeout)
        except FetchError as exc:
            err.print(f"[red]refdata fetch failed:[/red] {exc}")
            err.print("Nothing was changed in the reference-data directory.")
            raise typer.Exit(1) from None

    table = Table(title=f"reference data in {target}")
    for column in ("source", "file", "rows", "sha256", "url"):
        table.add_column(column)
    for r in results:
        table.add_row(r.source, str(Path(r.path).relative_to(target)), f"{r.rows:,}", r.sha256[:16], r.url)
    Console().print(table)
    skipped = sorted(set(only or DEFAULT_SOURCES) - {r.source for r in results})
    if skipped:
        err.print(f"[yellow]optional source(s) not fetched (kept as they were):[/yellow] {', '.join(skipped)}")
