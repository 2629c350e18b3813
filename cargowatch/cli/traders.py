"""`cargowatch traders load PATH`: publish a trader register onto ``ref.traders``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cargowatch.cli import app, err
from cargowatch.cli.options import ConfigOption, load_settings

traders_app = typer.Typer(help="The trader register (AEO certificates, risk notes) on ref.traders.", no_args_is_help=True)
app.add_typer(traders_app, name="traders")


@traders_app.command("load")
def load_command(
    path: Path = typer.Argument(
        ..., help="Register as CSV (trader_id,name,country,aeo_certificate,aeo_valid_until,risk_notes) or JSON lines.",
        exists=True, dir_okay=False,
    ),
    create_topics: bool = typer.Option(True, help="Create the contract topics first when missing."),
    config: Path | None = ConfigOption,
) -> None:
    """Publish every trader of the register to the compacted ref.traders topic (key
    trader_id, Avro TraderProfile); running workers pick the new profiles up. Needs
    CARGOWATCH_KAFKA_BOOTSTRAP."""
    from cargowatch.kafka import ensure_topics
    from enrichers.traders import (
        TraderRegisterError,
        certificate_valid,
        publish_register,
        read_register_file,
    )

    settings = load_settings(config)
    settings.require_kafka()
    try:
        profiles = read_register_file(path)
    except TraderRegisterError as exc:
        err.print(f"[red]trader register refused:[/red] {exc}")
        raise SystemExit(2) from None
    console = Console(stderr=True)
    today = datetime.now(UTC).date()
    valid = sum(1 for p in profiles if certificate_valid(p, today))
    expired = sum(1 for p in profiles if p.aeo_certificate and not certificate_valid(p, today))

    async def run() -> int:
        if create_topics:
            await ensure_topics(settings)
        with Progress(
            TextColumn(f"[bold]publishing[/bold] {path.name} → {settings.topics.traders}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("traders", total=len(profiles))
            return await publish_register(settings, profiles, on_progress=lambda n: progress.update(task, completed=n))

    sent = asyncio.run(run())
    console.print(
        f"published {sent} traders to {settings.topics.traders} "
        f"({valid} with a valid AEO certificate, {expired} with an expired one, "
        f"{sum(1 for p in profiles if p.risk_notes)} with risk notes)"
    )
