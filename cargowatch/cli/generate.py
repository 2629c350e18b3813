"""`cargowatch generate`: realistic synthetic manifests with ground-truth labels."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from cargowatch.cli import app, err
from cargowatch.cli.options import ConfigOption, load_settings

_RATE_HELP = "share of new manifests with this planted risk (0..1)"


def _rate(name: str, help_text: str = _RATE_HELP) -> Any:
    return typer.Option(None, f"--rate-{name.replace('_', '-')}", min=0.0, max=1.0, help=help_text, show_default=False)


@app.command("generate")
def generate_command(
    count: int = typer.Option(..., "--count", "-n", min=1, help="number of records to write"),
    out: Path = typer.Option(..., "--out", "-o", help="manifests, one JSON object per line", dir_okay=False),
    seed: int = typer.Option(0, "--seed", "-s", help="same seed, same output (byte for byte)"),
    labels: Path | None = typer.Option(None, "--labels", help="ground-truth labels, one JSON line per record", dir_okay=False),
    traders: Path | None = typer.Option(None, "--traders", help="also write the trader register (JSONL) of the pool", dir_okay=False),
    rates: Path | None = typer.Option(
        None, "--rates", exists=True, dir_okay=False,
        help="YAML of generator settings: rate names (watchlist, undervaluation, ...) and "
        "optionally traders, suppliers, start, filings_per_day, watchlist ...",
    ),
    watchlist: Path | None = typer.Option(
        None, "--watchlist", exists=True,
        help="list the watchlisted names come from: a file, or the folder of an OFAC sdn/alt/add set "
        "(default: the UN consolidated list in the reference data)",
    ),
    watchlist_format: str | None = typer.Option(None, "--watchlist-format", help="ofac|un|eu|ftm|csv (detected when omitted)"),
    start: str | None = typer.Option(None, "--start", help="filing time of the first record, ISO-8601 UTC"),
    rate_watchlist: float | None = _rate("watchlist"),
    rate_embargo_route: float | None = _rate("embargo_route"),
    rate_route_anomaly: float | None = _rate("route_anomaly"),
    rate_dual_use: float | None = _rate("dual_use"),
    rate_undervaluation: float | None = _rate("undervaluation"),
    rate_description_mismatch: float | None = _rate("description_mismatch"),
    rate_new_trader: float | None = _rate("new_trader"),
    rate_late_filing: float | None = _rate("late_filing"),
    rate_weight_anomaly: float | None = _rate("weight_anomaly"),
    rate_late_amendment: float | None = _rate("late_amendment", "share of records that are a version 2 filed after departure"),
    rate_trusted_trader: float | None = _rate("trusted_trader", "share of new manifests with an AEO-certified consignee"),
    rate_invalid: float | None = _rate("invalid", "share of records with exactly one rejection code"),
    rate_amendment: float | None = _rate("amendment", "share of records that are a version 2 before departure"),
    rate_replay: float | None = _rate("replay", "share of records that are exact resends"),
    config: Path | None = ConfigOption,
) -> None:
    """Write COUNT realistic synthetic manifests to OUT, with labels of the planted risks."""
    from cargowatch.generator import GeneratorConfig, GeneratorConfigError, ManifestGenerator
    from cargowatch.generator.output import write_jsonl, write_register
    from enrichers.refdata import RefDataError, ReferenceData

    settings = load_settings(config)
    overrides = {
        "watchlist": rate_watchlist, "embargo_route": rate_embargo_route, "route_anomaly": rate_route_anomaly, "dual_use": rate_dual_use,
        "undervaluation": rate_undervaluation, "description_mismatch": rate_description_mismatch,
        "new_trader": rate_new_trader, "late_filing": rate_late_filing, "weight_anomaly": rate_weight_anomaly,
        "late_amendment": rate_late_amendment, "trusted_trader": rate_trusted_trader, "invalid": rate_invalid,
        "amendment": rate_amendment, "replay": rate_replay,
    }
    try:
        cfg = GeneratorConfig.from_yaml(rates) if rates else GeneratorConfig()
        changes = {k: v for k, v in overrides.items() if v is not None}
        if changes:
            cfg = cfg.replace(rates=cfg.rates.replace(**changes))
        extra: dict[str, Any] = {}
        if watchlist:
            extra["watchlist"] = str(watchlist)
        if watchlist_format:
            extra["watchlist_format"] = watchlist_format
        if start:
            extra["start"] = start
        if extra:
            cfg = GeneratorConfig.from_mapping({**_as_mapping(cfg), **extra})
    except (GeneratorConfigError, ValueError) as exc:
        err.print(f"[red]generator settings:[/red] {exc}")
        raise typer.Exit(2) from None

    console = Console(stderr=True)
    t0 = time.perf_counter()
    try:
        ref = ReferenceData.load(settings.refdata)
        with console.status("building the trader pool and reading the watchlist..."):
            gen = ManifestGenerator(ref, cfg, seed)
    except (RefDataError, FileNotFoundError) as exc:
        err.print(f"[red]cannot generate:[/red] {exc}")
        raise typer.Exit(2) from None
    setup = time.perf_counter() - t0
    for note in gen.tables.dropped:
        err.print(f"[yellow]table entry skipped:[/yellow] {note}")

    t1 = time.perf_counter()
    with Progress(
        TextColumn("[bold]generate"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
    ) as progress:
        task = progress.add_task("generate", total=count, rate="")

        def tick(n: int) -> None:
            elapsed = time.perf_counter() - t1
            progress.update(task, completed=n, rate=f"{n / elapsed:,.0f}/s" if elapsed > 0 else "")

        n = write_jsonl(gen.records(count), out, labels, on_record=tick)
    elapsed = time.perf_counter() - t1
    if traders:
        write_register(gen.register(), traders)
    console.print(
        f"wrote {n:,} manifests to {out}"
        + (f", labels to {labels}" if labels else "")
        + (f", trader register to {traders}" if traders else "")
        + f" in {elapsed:.1f}s ({n / max(elapsed, 1e-9):,.0f}/s; setup {setup:.1f}s)"
    )


def _as_mapping(cfg: Any) -> dict[str, Any]:
    from dataclasses import asdict, fields

    data = {f.name: getattr(cfg, f.name) for f in fields(cfg) if f.name != "rates"}
    data["rates"] = asdict(cfg.rates)
    return data
