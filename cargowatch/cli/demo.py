"""`cargowatch demo`: the whole product in one command."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer

from cargowatch.cli import app
from cargowatch.cli.options import ConfigOption, load_settings


@app.command("demo")
def demo_command(
    duration: float | None = typer.Option(None, "--duration", help="Stop after S seconds (default: run until Ctrl-C)."),
    rate: float = typer.Option(50.0, "--rate", help="Synthetic manifests per second."),
    dashboard_port: int | None = typer.Option(
        8080, "--dashboard-port", help="Port of the officers' dashboard on 127.0.0.1 (0 or omit with --no-dashboard to disable)."
    ),
    no_dashboard: bool = typer.Option(False, "--no-dashboard", help="Do not start the dashboard."),
    seed: int = typer.Option(7, "--seed", help="Seed of the synthetic traffic."),
    workdir: Path | None = typer.Option(None, "--workdir", help="Where logs, archive and state go (default: a new temp dir)."),
    summary_json: Path | None = typer.Option(None, "--summary-json", help="Also write the final counts as JSON here."),
    config: Path | None = ConfigOption,
) -> None:
    """Run everything: a local Kafka unless CARGOWATCH_KAFKA_BOOTSTRAP is set, reference data
    (UN sanctions list, a trader register), a worker, the dashboard, and synthetic traffic
    at RATE manifests/s, with a live summary of lanes, rejections, throughput and lag.
    Prints the dashboard URL and a demo login. Stops everything it started on Ctrl-C or
    after --duration seconds, and exits 0."""
    from cargowatch.demo import run_demo

    settings = load_settings(config)
    port = None if no_dashboard or not dashboard_port else dashboard_port
    counts = asyncio.run(
        run_demo(settings, duration=duration, rate=rate, dashboard_port=port, seed=seed, workdir=workdir)
    )
    if summary_json is not None:
        summary_json.write_text(
            json.dumps(
                {
                    "produced": counts.produced,
                    "screened": counts.screened,
                    "rejected": counts.rejected,
                    "lanes": counts.lanes,
                    "referrals": counts.referrals,
                    "rejection_codes": counts.codes,
                },
                indent=2,
            )
        )
