"""`cargowatch produce`: publish a file of manifests to `manifests.raw`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cargowatch.cli import app
from cargowatch.cli.options import ConfigOption, load_settings


@app.command("produce")
def produce_command(
    file: Path = typer.Argument(..., help="Manifests as JSON lines.", exists=True, dir_okay=False),
    rate: float | None = typer.Option(None, "--rate", help="Manifests per second (default: as fast as possible)."),
    create_topics: bool = typer.Option(True, help="Create the contract topics first when missing."),
    config: Path | None = ConfigOption,
) -> None:
    """Publish manifests to the raw topic as Confluent-framed Avro, keyed by manifest_id.

    Lines that do not have the manifest's shape are published as their original bytes, so
    the worker rejects them (code SCHEMA) onto manifests.rejected and manifests.dlq rather
    than the file's errors being lost here. Needs CARGOWATCH_KAFKA_BOOTSTRAP.
    """
    from cargowatch.ingest import produce_lines
    from cargowatch.kafka import ensure_topics

    settings = load_settings(config)
    settings.require_kafka()
    console = Console(stderr=True)
    total = sum(1 for line in file.open("rb") if line.strip())

    async def run() -> None:
        if create_topics:
            await ensure_topics(settings)
        with Progress(
            TextColumn(f"[bold]producing[/bold] {file.name} → {settings.topics.raw}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("produce", total=total)
            with file.open("rb") as fh:
                summary = await produce_lines(
                    settings, fh, rate=rate, on_progress=lambda n: progress.update(task, completed=n)
                )
        console.print(
            f"sent {summary.sent} manifests to {settings.topics.raw} in {summary.seconds:.1f}s "
            f"({summary.framed} Avro-framed, {summary.unframed} sent as received for SCHEMA rejection)"
        )

    asyncio.run(run())
