"""The benchmark's baseline: the straightforward Faust agent a team would write first.

One event at a time: ``async for`` over the stream, decode, the same screening core
(validate, replay ledger, enrich with watchlist screening, score) on a batch of one,
then ``await topic.send(...)`` per output record. Same context, same codec, same
topics' shapes as the pipeline; only the shape of the loop differs. Faust commits the
consumed offsets on its own interval, which the benchmark reads to measure progress.

Configured by the environment: ``CARGOWATCH_*`` settings (broker, reference data) and
``CARGOWATCH_BENCH_BASELINE_{APP_ID,SOURCE,PREFIX}``, watchlists as in
:mod:`cargowatch.bench.worker`.

    python -m cargowatch.bench.baseline_app
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

APP_ID_ENV = "CARGOWATCH_BENCH_BASELINE_APP_ID"
SOURCE_ENV = "CARGOWATCH_BENCH_BASELINE_SOURCE"
PREFIX_ENV = "CARGOWATCH_BENCH_BASELINE_PREFIX"


def main() -> None:
    """Build the per-event Faust app and run it until SIGTERM."""
    import faust

    from cargowatch.bench.worker import watchlist_files
    from cargowatch.settings import Settings
    from schemas.codec import Codec
    from schemas.intake import read_kafka_value
    from schemas.model import Source
    from streams.app import run_worker
    from streams.context import build_context
    from streams.screening import Inbound, screen_batch

    settings = Settings.load()
    bootstrap = settings.require_kafka()
    ctx = build_context(settings, watchlists=watchlist_files())
    codec = Codec()
    app_id = os.environ[APP_ID_ENV]
    prefix = os.environ[PREFIX_ENV]
    datadir = Path(settings.state_dir, "baseline")
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        app_id,
        broker=";".join(f"kafka://{h}" for h in bootstrap.split(",")),
        autodiscover=False,
        store="memory://",
        web_enabled=False,
        topic_partitions=settings.topic_partitions,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        datadir=str(datadir),
        loghandlers=[],
    )

    def raw_topic(name: str) -> faust.TopicT:
        return app.topic(
            name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        )

    source = raw_topic(os.environ[SOURCE_ENV])
    screened = raw_topic(f"{prefix}screened")
    alerts = raw_topic(f"{prefix}alerts")
    rejected = raw_topic(f"{prefix}rejected")

    @app.agent(source)
    async def screen(stream):  # the per-event shape under test
        async for event in stream.events():
            msg = event.message
            now = datetime.now(UTC)
            where = Source(
                kind="kafka", topic=msg.topic, partition=msg.partition, offset=msg.offset
            )
            received = datetime.fromtimestamp(msg.timestamp, UTC) if msg.timestamp else now
            item = read_kafka_value(event.value, codec, where, received)
            outcome = screen_batch([Inbound(0, item, received, where)], ctx, now)
            for _, result in outcome.results:
                await screened.send(
                    key=result.manifest_id.encode(), value=codec.encode("ScreeningResult", result)
                )
            for _, alert in outcome.alerts:
                await alerts.send(
                    key=alert.manifest_id.encode(), value=codec.encode("Alert", alert)
                )
            for _, rejection in outcome.rejections:
                await rejected.send(key=event.key, value=codec.encode("Rejection", rejection))

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # faust's stub: positional-only sender
    async def ready(sender: Any, assigned: Any, **kwargs: Any) -> None:
        if assigned:  # the benchmark waits for this line
            print("baseline ready", flush=True)

    run_worker(app, "WARNING")


if __name__ == "__main__":
    main()
