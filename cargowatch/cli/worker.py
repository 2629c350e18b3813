"""`cargowatch worker`: the streaming worker (scale out by running more in the same group)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from cargowatch.cli import app
from cargowatch.cli.options import ConfigOption, load_settings


@app.command("worker")
def worker_command(
    http_port: int | None = typer.Option(None, "--http-port", help="Port of /healthz and /metrics (default: setting http_port, 8088)."),
    http_host: str | None = typer.Option(None, "--http-host", help="Bind address (default 127.0.0.1)."),
    loglevel: str | None = typer.Option(None, "--loglevel", help="DEBUG, INFO, WARNING (default: setting log_level)."),
    config: Path | None = ConfigOption,
) -> None:
    """Run the streaming worker: consume manifests.raw in batches; validate, enrich, score;
    write manifests.screened, alerts, manifests.rejected and manifests.dlq in one Kafka
    transaction per batch with the input offsets; serve /healthz and /metrics.

    Needs CARGOWATCH_KAFKA_BOOTSTRAP. Stops cleanly on SIGTERM or Ctrl-C (finishes and
    commits the batch in hand, leaves the consumer group). Exits 3 when the watchdog sees
    no progress while lag > 0 for stall_timeout_s, so a supervisor restarts it.
    """
    from streams.app import create_app, run_worker

    settings = load_settings(config, http_port=http_port, http_host=http_host, log_level=loglevel)
    settings.require_kafka()
    # Topics first, so Faust's agents never start on a topic that does not exist yet.
    from cargowatch.kafka import ensure_topics

    asyncio.run(ensure_topics(settings))
    faust_app = create_app(settings)
    run_worker(faust_app, settings.log_level)
