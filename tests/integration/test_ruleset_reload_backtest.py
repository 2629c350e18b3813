"""Before a new ruleset goes live: backtest it on the archive the running pipeline wrote
(real broker, the worker's batch pipeline and archive sink)."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
import yaml
from aiokafka import AIOKafkaProducer

from cargowatch.generator import GeneratorConfig, RiskRates, generate
from cargowatch.ingest import frame_line
from cargowatch.kafka import ensure_topics
from cargowatch.settings import Settings
from enrichers.refdata import ReferenceData
from schemas.codec import Codec
from sinks.archive import ArchiveSink
from streams.context import build_context
from streams.pipeline import ScreeningPipeline
from streams.scoring import DEFAULT_RULESET, ScoringReference
from streams.scoring.backtest import run_backtest

pytestmark = pytest.mark.integration


async def test_backtest_runs_on_the_archive_the_pipeline_wrote(settings: Settings, tmp_path) -> None:
    await ensure_topics(settings)
    codec = Codec()
    ref = ReferenceData.load(settings.refdata)
    enc = msgspec.json.Encoder()
    config = GeneratorConfig(rates=RiskRates().replace(watchlist=0.0, invalid=0.0, replay=0.0))
    items = []
    for record, _ in generate(120, 41, ref, config):
        key, value, framed = frame_line(enc.encode(record), codec)
        assert framed
        items.append((key, value))
    producer = AIOKafkaProducer(**settings.kafka_client_options())
    await producer.start()
    try:
        for key, value in items:
            await producer.send_and_wait(settings.topics.raw, value=value, key=key)
    finally:
        await producer.stop()

    archive = tmp_path / "archive"
    ctx = build_context(settings)
    pipeline = ScreeningPipeline(settings, ctx, codec, sinks=[ArchiveSink(archive)])
    await pipeline.start()
    task = asyncio.create_task(pipeline.run())
    try:
        for _ in range(480):
            await asyncio.sleep(0.25)
            if pipeline.stats.received >= len(items):
                break
    finally:
        pipeline.request_stop()
        await task
        await pipeline.stop()
    screened = pipeline.stats.screened
    assert screened > 100

    candidate = yaml.safe_load(DEFAULT_RULESET.read_text())
    candidate["version"] = "stricter"
    candidate["lanes"]["thresholds"] = {"YELLOW": 10, "RED": 40}
    path = tmp_path / "stricter.yaml"
    path.write_text(yaml.safe_dump(candidate))
    out = tmp_path / "report"
    report = run_backtest(archive, path, DEFAULT_RULESET, ScoringReference.load(settings, ref), out=out)
    assert report.manifests == screened
    archived, baseline, stricter = report.sides
    assert archived.ruleset_version == ctx.ruleset.version
    assert stricter.ruleset_version == "stricter"
    assert stricter.selected_rate >= baseline.selected_rate
    assert report.changed  # lower thresholds move manifests up a lane
    assert all(c["new_lane"] in ("YELLOW", "RED") for c in report.changed)
    assert (out / "scores.png").read_bytes().startswith(b"\x89PNG")
