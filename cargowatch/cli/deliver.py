"""`cargowatch deliver`: alert delivery to webhooks, as its own process."""

from __future__ import annotations

from pathlib import Path

from cargowatch.cli import app
from cargowatch.cli.options import ConfigOption, load_settings


@app.command("deliver")
def deliver_command(config: Path | None = ConfigOption) -> None:
    """Deliver alerts from the alerts topic to the configured webhooks.

    Each alert is POSTed as JSON (or as an Alertmanager payload with
    CARGOWATCH_WEBHOOK_FORMAT=alertmanager) to every URL in CARGOWATCH_WEBHOOK_URLS,
    signed with HMAC-SHA256 of the body (header X-Cargowatch-Signature: sha256=<hex>,
    secret CARGOWATCH_WEBHOOK_SECRET) and carrying its idempotency key (the alert id).
    Failures are retried with exponential backoff, then dead-lettered to alerts.dlq.
    A slow or dead endpoint never blocks screening: this runs apart from the worker,
    with a bounded queue that pauses consumption when full. Serves /healthz and
    /metrics on webhook_http_port (8090). Needs CARGOWATCH_KAFKA_BOOTSTRAP.
    """
    from sinks.webhook import run_delivery_process

    settings = load_settings(config)
    settings.require_kafka()
    run_delivery_process(settings)
