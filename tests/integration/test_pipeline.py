"""The walking skeleton on a real broker: manifests.raw → worker → screened / alerts /
rejected / dlq, nothing lost, replays screened once, restart keeps the ledger."""

from __future__ import annotations

import asyncio
import os

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from cargowatch.generator import GeneratorConfig, RiskRates, generate
from cargowatch.ingest import frame_line
from cargowatch.kafka import ensure_topics
from cargowatch.settings import Settings
from enrichers.refdata import ReferenceData
from schemas.codec import Codec
from streams.context import build_context
from streams.pipeline import ScreeningPipeline

pytestmark = pytest.mark.integration


async def _read_all(settings: Settings, topic: str, expect: int, timeout: float = 60.0) -> list:
    """Every committed record on a topic, waiting until at least ``expect`` have arrived."""
    consumer = AIOKafkaConsumer(
        topic,
        **settings.kafka_client_options(),
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        enable_auto_commit=False,
    )
    await consumer.start()
    out: list = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for recs in batch.values():
                out.extend(recs)
            if len(out) >= expect:
                # One more short poll: anything beyond `expect` would be a duplicate.
                batch = await consumer.getmany(timeout_ms=1500)
                for recs in batch.values():
                    out.extend(recs)
                break
    finally:
        await consumer.stop()
    return out


async def _produce(settings: Settings, items: list[tuple[bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(**settings.kafka_client_options())
    await producer.start()
    try:
        for key, value in items:
            await producer.send_and_wait(settings.topics.raw, value=value, key=key)
    finally:
        await producer.stop()


async def _run_pipeline_until(settings: Settings, ctx, done) -> ScreeningPipeline:
    pipeline = ScreeningPipeline(settings, ctx, Codec())
    await pipeline.start()
    task = asyncio.create_task(pipeline.run())
    try:
        for _ in range(240):
            await asyncio.sleep(0.25)
            if done(pipeline):
                break
    finally:
        pipeline.request_stop()
        await task
        await pipeline.stop()
    return pipeline


def _clean_manifests(settings: Settings, n: int, seed: int) -> list[bytes]:
    ref = ReferenceData.load(settings.refdata)
    config = GeneratorConfig(rates=RiskRates.none())
    enc = msgspec.json.Encoder()
    return [enc.encode(record) for record, _ in generate(n, seed, ref, config)]


def _framed(settings: Settings, codec: Codec, n: int, seed: int) -> list[tuple[bytes | None, bytes]]:
    """``n`` clean manifests as (key, Avro-framed value) pairs for manifests.raw."""
    return [frame_line(line, codec)[:2] for line in _clean_manifests(settings, n, seed)]


async def test_manifest_flows_to_screened_and_malformed_to_dlq(settings: Settings) -> None:
    await ensure_topics(settings)
    codec = Codec()
    lines = _clean_manifests(settings, 40, seed=11)
    items = []
    for line in lines:
        key, value, framed = frame_line(line, codec)
        assert framed
        items.append((key, value))
    garbage = [(b"bad-1", os.urandom(64)), (b"bad-2", b""), (b"bad-3", b"\x00\x00\x00\x03\xe7garbage")]
    # A business-invalid manifest: a container number with a wrong check digit.
    invalid = msgspec.json.decode(lines[0])
    invalid["manifest_id"] = "INVALID-CHECK-DIGIT"
    invalid["containers"] = [{"number": "CSQU3054384", "seal_numbers": []}]
    key, value, _ = frame_line(msgspec.json.encode(invalid), codec)
    await _produce(settings, items + garbage + [(key, value)])
    total_in = len(items) + len(garbage) + 1

    ctx = build_context(settings)
    pipeline = await _run_pipeline_until(settings, ctx, lambda p: p.stats.received >= total_in)

    screened = await _read_all(settings, settings.topics.screened, len(items))
    rejected = await _read_all(settings, settings.topics.rejected, 4)
    dlq = await _read_all(settings, settings.topics.dlq, 4)
    # Nothing lost, nothing twice: in = screened + rejected.
    assert len(screened) == len(items)
    assert len(rejected) == len(garbage) + 1
    assert len(dlq) == len(garbage) + 1
    assert pipeline.stats.screened + pipeline.stats.rejected == total_in

    results = [codec.decode("ScreeningResult", r.value) for r in screened]
    assert {r["manifest_id"] for r in results} == {k.decode() for k, _ in items}
    assert all(r["lane"] in ("GREEN", "YELLOW", "RED", "BLUE") for r in results)
    assert all(r["ruleset_version"] for r in results)

    by_key = {r.key: r for r in dlq}
    headers = dict(by_key[b"bad-1"].headers)
    assert headers["x-error-codes"] == b"SCHEMA"
    assert headers["x-source-topic"] == settings.topics.raw.encode()
    assert by_key[b"bad-1"].value == garbage[0][1]  # original bytes untouched
    check_digit = dict(by_key[b"INVALID-CHECK-DIGIT"].headers)
    assert b"CONTAINER_CHECK_DIGIT" in check_digit["x-error-codes"]
    rejection = codec.decode("Rejection", next(r for r in rejected if r.key == b"INVALID-CHECK-DIGIT").value)
    assert rejection["errors"][0]["path"].startswith("containers[0]")


async def test_replay_is_screened_once_even_after_a_restart(settings: Settings) -> None:
    await ensure_topics(settings)
    codec = Codec()
    line = _clean_manifests(settings, 1, seed=12)[0]
    key, value, _ = frame_line(line, codec)
    await _produce(settings, [(key, value), (key, value)])
    ctx = build_context(settings)
    await _run_pipeline_until(settings, ctx, lambda p: p.stats.received >= 2)
    # A new worker (empty memory) gets the partition and the same filing arrives again.
    await _produce(settings, [(key, value)])
    fresh = build_context(settings)
    restarted = await _run_pipeline_until(settings, fresh, lambda p: p.stats.received >= 1)
    assert restarted.stats.replays == 1
    screened = await _read_all(settings, settings.topics.screened, 1)
    assert len(screened) == 1


def _kcat(settings: Settings, topic: str) -> list[dict]:
    """Every record of a topic read by kcat (a Kafka client we did not write), as its
    JSON envelope: key, payload, headers, partition, offset."""
    import json
    import shutil
    import subprocess

    assert shutil.which("kcat"), "kcat is installed by `make system-deps` (Debian package kcat)"
    proc = subprocess.run(
        ["kcat", "-C", "-b", settings.kafka_bootstrap, "-t", topic, "-e", "-J", "-q",
         "-X", "isolation.level=read_committed"],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    # Avro payloads are binary: keep undecodable bytes as surrogates rather than fail.
    return [json.loads(line.decode("utf-8", "surrogateescape")) for line in proc.stdout.splitlines() if line.strip()]


async def test_dead_letters_and_rejections_read_back_with_kcat(settings: Settings) -> None:
    await ensure_topics(settings)
    codec = Codec()
    line = _clean_manifests(settings, 1, seed=21)[0]
    bad = msgspec.json.decode(line)
    bad["manifest_id"] = "KCAT-BAD"
    bad["goods"][0]["hs_code"] = "999999"
    bad["goods"][0]["value_currency"] = "XXY"
    key, value, framed = frame_line(msgspec.json.encode(bad), codec)
    assert framed
    await _produce(settings, [(key, value), (b"KCAT-GARBAGE", b"\x01not avro at all")])
    await _run_pipeline_until(settings, build_context(settings), lambda p: p.stats.received >= 2)

    dlq = {r["key"]: r for r in _kcat(settings, settings.topics.dlq)}
    assert set(dlq) == {"KCAT-BAD", "KCAT-GARBAGE"}
    headers = dlq["KCAT-BAD"]["headers"]  # kcat: a flat [name, value, name, value, ...] list
    named = dict(zip(headers[::2], headers[1::2], strict=True))
    assert set(named["x-error-codes"].split(",")) == {"HS_CODE", "CURRENCY"}
    assert named["x-error-stage"] == "validate"
    assert named["x-source-topic"] == settings.topics.raw
    for header in ("x-error-message", "x-source-partition", "x-source-offset", "x-failed-at"):
        assert named[header], header
    garbage = dict(zip(dlq["KCAT-GARBAGE"]["headers"][::2], dlq["KCAT-GARBAGE"]["headers"][1::2], strict=True))
    assert garbage["x-error-codes"] == "SCHEMA"
    assert dlq["KCAT-GARBAGE"]["payload"] == "\x01not avro at all"  # original bytes untouched

    rejected = {r["key"]: r for r in _kcat(settings, settings.topics.rejected)}
    assert set(rejected) == {"KCAT-BAD", "KCAT-GARBAGE"}


class _SlowSink:
    """A sink whose flush takes a while, so a commit is in flight most of the time (as the
    archive's fsyncs make it on a loaded machine). Counts what it was given."""

    def __init__(self, flush_s: float):
        self.flush_s = flush_s
        self.screened = 0

    def on_assign(self, topic: str, partitions: list[int], end_offsets: dict[int, int] | None = None) -> None:
        pass

    def add(self, batch) -> None:
        self.add_prepared(self.prepare(batch))

    def prepare(self, batch) -> int:
        return len(batch.screened)

    def add_prepared(self, prepared: int) -> None:
        self.screened += prepared

    def flush(self) -> None:
        import time

        time.sleep(self.flush_s)

    def close(self) -> None:
        pass


async def test_rebalance_during_a_commit_waits_for_it(settings: Settings) -> None:
    """A partition revoke that lands while a batch commits must commit the rest after it,
    never beside it: a second transaction begun while one is open crashed the worker
    (aiokafka: "Invalid state transition IN_TRANSACTION -> IN_TRANSACTION"), seen when a
    second worker joined during the benchmark's catch-up."""
    await ensure_topics(settings)
    codec = Codec()
    items = _framed(settings, codec, 300, seed=31)
    await _produce(settings, items)
    settings = settings.replace(batch_size=20)
    sink = _SlowSink(flush_s=0.3)
    pipeline = ScreeningPipeline(settings, build_context(settings), codec, sinks=[sink])
    await pipeline.start()
    run = asyncio.create_task(pipeline.run())
    try:
        # A consumer joins the group and leaves, three times: each join and each leave
        # revokes the pipeline's partitions, mostly while it waits for a slow commit.
        for _ in range(3):
            while pipeline.stats.received == 0 and not run.done():
                await asyncio.sleep(0.1)
            other = AIOKafkaConsumer(
                settings.topics.raw,
                **settings.kafka_client_options(),
                group_id=settings.consumer_group,
                enable_auto_commit=False,
                isolation_level="read_committed",
            )
            await other.start()
            await other.getmany(timeout_ms=3000)  # joins; fetches, commits nothing
            await other.stop()
            await asyncio.sleep(1.0)
            assert not run.done(), run.exception()
        for _ in range(240):
            if pipeline.stats.screened + pipeline.stats.rejected >= len(items) or run.done():
                break
            await asyncio.sleep(0.25)
    finally:
        pipeline.request_stop()
        await run  # raises the worker's crash, if any
        await pipeline.stop()
    screened = await _read_all(settings, settings.topics.screened, len(items))
    assert sorted(r.key for r in screened) == sorted(key for key, _ in items)


class _FailingOnceSink(_SlowSink):
    """A slow sink whose ``fail_at``-th flush raises (a disk that refused one write)."""

    def __init__(self, flush_s: float, fail_at: int):
        super().__init__(flush_s)
        self.flushes = 0
        self.fail_at = fail_at

    def flush(self) -> None:
        super().flush()
        self.flushes += 1
        if self.flushes == self.fail_at:
            raise OSError("disk refused the write")


async def test_nothing_after_a_failed_commit_is_committed(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """A batch whose commit failed is screened again after a restart, so no later batch
    may commit its offsets past it: not the run loop's last flush, not stop's."""
    await ensure_topics(settings)
    codec = Codec()
    items = _framed(settings, codec, 200, seed=32)
    await _produce(settings, items[:50])

    async def trickle() -> None:  # filings keep arriving while the first batch commits
        for i in range(50, len(items), 10):
            await _produce(settings, items[i : i + 10])
            await asyncio.sleep(0.05)

    sink = _FailingOnceSink(0.5, fail_at=1)
    failing = ScreeningPipeline(settings, build_context(settings), codec, sinks=[sink])
    await failing.start()
    arriving = asyncio.create_task(trickle())
    try:
        with pytest.raises(OSError, match="disk refused"):
            await asyncio.wait_for(failing.run(), timeout=60)
    finally:
        await failing.stop()
        await arriving
    # Records screened after the failed batch were waiting; they were not committed.
    assert sink.screened > 0 and failing.stats.received == 0
    # The restarted worker screens whatever was not committed: every filing, once.
    await _run_pipeline_until(settings, build_context(settings), lambda p: p.stats.received > 0 and p.stats.lag == 0)
    screened = await _read_all(settings, settings.topics.screened, len(items))
    assert sorted(r.key for r in screened) == sorted(key for key, _ in items)
    assert "screened records left uncommitted after a failed commit" in caplog.text


async def test_a_failed_commit_is_known_as_soon_as_it_raises(settings: Settings) -> None:
    """Whoever sees a commit fail first (the run loop's drain, then its last flush) must
    find it marked: the task's done callbacks run a loop step later, and the flush in
    between committed the next batch past the failed one (a CI run: 148 committed after a
    failed batch of 52)."""
    from collections import namedtuple
    from datetime import UTC, datetime

    await ensure_topics(settings)
    codec = Codec()
    fetched = namedtuple("fetched", "topic partition offset timestamp key value")
    stamp = int(datetime.now(UTC).timestamp() * 1000)
    records = [
        fetched(settings.topics.raw, 0, offset, stamp, key, value)
        for offset, (key, value) in enumerate(_framed(settings, codec, 5, seed=33))
    ]
    pipeline = ScreeningPipeline(settings, build_context(settings), codec, sinks=[_FailingOnceSink(0.0, fail_at=1)])
    await pipeline.start()
    try:
        prepared = pipeline._screen_sync(records, datetime.now(UTC))
        with pytest.raises(OSError, match="disk refused"):
            await pipeline._commit(records, prepared)  # awaited directly: no done callback
        pipeline._pending = [(records, prepared)]
        with pytest.raises(RuntimeError, match="earlier batch failed"):
            pipeline._start_commit()
    finally:
        pipeline._pending = []
        await pipeline.stop()


async def test_keeping_up_it_fetches_when_it_asks_not_while_it_screens(settings: Settings) -> None:
    """Under a backlog the consumer prefetches while a chunk is screened; once it keeps up
    it fetches only when the loop asks. aiokafka would otherwise fetch right after each
    take and hold the records a whole screening interval (~86 ms of the median latency
    at the benchmark's fixed load). Pausing must lose nothing: every filing is screened."""
    await ensure_topics(settings)
    codec = Codec()
    backlog = _framed(settings, codec, 120, seed=41)
    trickle = _framed(settings, codec, 40, seed=42)
    await _produce(settings, backlog)
    settings = settings.replace(batch_size=40)
    pipeline = ScreeningPipeline(settings, build_context(settings), codec)
    seen: list[tuple[int, int, bool]] = []  # (records, room left when fetched, all paused?)
    screen = pipeline._screen

    async def watched(records):
        consumer = pipeline.consumer
        room = settings.batch_size - pipeline._pending_count
        seen.append((len(records), room, consumer.paused() == consumer.assignment()))
        return await screen(records)

    pipeline._screen = watched
    await pipeline.start()
    run = asyncio.create_task(pipeline.run())
    try:
        while pipeline.stats.received < len(backlog) and not run.done():
            await asyncio.sleep(0.1)
        for start in range(0, len(trickle), 5):  # a few filings at a time, as they come
            await _produce(settings, trickle[start : start + 5])
            await asyncio.sleep(0.3)
        for _ in range(120):
            if pipeline.stats.received >= len(backlog) + len(trickle) or run.done():
                break
            await asyncio.sleep(0.25)
    finally:
        pipeline.request_stop()
        await run
        await pipeline.stop()
    screened = await _read_all(settings, settings.topics.screened, len(backlog) + len(trickle))
    assert sorted(r.key for r in screened) == sorted(key for key, _ in backlog + trickle)
    full = [paused for n, room, paused in seen if n == room]
    drained = [paused for n, room, paused in seen if n < room]
    assert full and not any(full), seen  # the backlog: prefetching went on
    assert drained and all(drained), seen  # keeping up: nothing fetched behind the loop's back
