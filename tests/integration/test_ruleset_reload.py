"""A ruleset change takes effect in a running pipeline without a restart; a broken file is
refused and the ruleset in force stays (real broker, the worker's batch pipeline)."""

from __future__ import annotations

import asyncio
import os

import msgspec
import pytest
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from cargowatch.generator import GeneratorConfig, RiskRates, generate
from cargowatch.ingest import frame_line
from cargowatch.kafka import ensure_topics
from cargowatch.settings import Settings
from enrichers.refdata import ReferenceData
from schemas.codec import Codec
from streams.context import build_context
from streams.pipeline import ScreeningPipeline
from streams.scoring import DEFAULT_RULESET, RulesetWatcher

pytestmark = pytest.mark.integration


def _manifests(settings: Settings, n: int, seed: int, codec: Codec) -> list[tuple[bytes | None, bytes]]:
    ref = ReferenceData.load(settings.refdata)
    enc = msgspec.json.Encoder()
    out = []
    for record, _ in generate(n, seed, ref, GeneratorConfig(rates=RiskRates.none())):
        key, value, framed = frame_line(enc.encode(record), codec)
        assert framed
        out.append((key, value))
    return out


async def _produce(settings: Settings, items: list[tuple[bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(**settings.kafka_client_options())
    await producer.start()
    try:
        for key, value in items:
            await producer.send_and_wait(settings.topics.raw, value=value, key=key)
    finally:
        await producer.stop()


async def _screened(settings: Settings, codec: Codec, expect: int, timeout: float = 90.0) -> list[dict]:
    consumer = AIOKafkaConsumer(
        settings.topics.screened, **settings.kafka_client_options(), group_id=None,
        auto_offset_reset="earliest", isolation_level="read_committed", enable_auto_commit=False,
    )
    await consumer.start()
    out: list[dict] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(out) < expect and loop.time() < deadline:
            for recs in (await consumer.getmany(timeout_ms=500)).values():
                out.extend(codec.decode("ScreeningResult", r.value) for r in recs)
    finally:
        await consumer.stop()
    return out


def _write(path, data: dict) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False))


async def test_ruleset_change_takes_effect_without_restart(settings: Settings, tmp_path) -> None:
    rules = tmp_path / "rules.yaml"
    data = yaml.safe_load(DEFAULT_RULESET.read_text())
    data["version"] = "it-v1"
    _write(rules, data)
    settings = settings.replace(rules=str(rules))
    await ensure_topics(settings)
    codec = Codec()
    first = _manifests(settings, 20, seed=31, codec=codec)
    second = _manifests(settings, 20, seed=32, codec=codec)
    third = _manifests(settings, 20, seed=33, codec=codec)

    ctx = build_context(settings)
    watcher = RulesetWatcher(rules, poll_interval_s=0.0, initial=ctx.ruleset)

    def refresh(c) -> None:
        c.ruleset = watcher.current()

    pipeline = ScreeningPipeline(settings, ctx, codec, refresh=refresh)
    await pipeline.start()
    task = asyncio.create_task(pipeline.run())
    try:
        await _produce(settings, first)
        results = await _screened(settings, codec, 20)
        assert {r["ruleset_version"] for r in results} == {"it-v1"}

        # A broken edit is refused; the running ruleset stays in force.
        broken = dict(data, version="it-broken")
        broken["rules"] = dict(data["rules"], NOT_A_RULE={"weight": 5})
        _write(rules, broken)
        os.utime(rules)
        await _produce(settings, second)
        results = await _screened(settings, codec, 40)
        assert {r["ruleset_version"] for r in results} == {"it-v1"}
        assert watcher.refusals >= 1 and "NOT_A_RULE" in (watcher.last_error or "")

        # A valid edit: every manifest raises to RED via an analyst criterion.
        data["version"] = "it-v2"
        data["criteria"].append({"id": "EVERYTHING_RED", "when": "goods_count >= 1", "lane": "RED",
                                 "weight": 1, "reason": "test criterion"})
        _write(rules, data)
        await _produce(settings, third)
        results = await _screened(settings, codec, 60)
        new = [r for r in results if r["ruleset_version"] == "it-v2"]
        assert {r["manifest_id"] for r in new} == {k.decode() for k, _ in third}
        assert all(r["lane"] == "RED" for r in new)
        assert all(any(h["rule_id"] == "EVERYTHING_RED" for h in r["hits"]) for r in new)
    finally:
        pipeline.request_stop()
        await task
        await pipeline.stop()
