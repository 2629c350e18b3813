"""The Parquet archive behind the real pipeline on the real broker: every screened manifest
and every rejection lands once, even when a batch is replayed after a crash between the
archive flush and the Kafka commit."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import msgspec
import polars as pl
from unit.sinks.sink_samples import make_manifest

from cargowatch.ingest import produce_lines
from cargowatch.kafka import ensure_topics
from cargowatch.settings import Settings
from schemas.model import Manifest
from sinks.archive import ArchiveSink, scan_screened
from streams.context import build_context
from streams.pipeline import ScreeningPipeline


class _DiesAfterFlush(ArchiveSink):
    """The archive is written, then the worker dies before the batch's Kafka commit."""

    def flush(self) -> None:
        had_rows = bool(self._range)
        super().flush()
        if had_rows:
            raise RuntimeError("worker killed between the archive flush and the commit")


def _lines(start: int, n: int) -> list[bytes]:
    lines = [msgspec.json.encode(make_manifest(f"24NL{i:013d}")) for i in range(start, start + n)]
    lines.append(b'{"manifest_id": "BROKEN", "version": 1}')  # rejected: SCHEMA
    return lines


async def _run_until(pipeline: ScreeningPipeline, received: int, timeout: float = 60) -> None:
    task = asyncio.create_task(pipeline.run())
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while pipeline.stats.received < received:
            if task.done():
                task.result()
            assert asyncio.get_running_loop().time() < deadline, (
                f"only {pipeline.stats.received} of {received} received"
            )
            await asyncio.sleep(0.1)
    finally:
        pipeline.request_stop()
        await asyncio.wait_for(task, 30)


def _archive(root: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    screened = scan_screened(root).collect()
    rejected = pl.read_parquet(root / "rejected" / "**" / "*.parquet", hive_partitioning=True)
    return screened, rejected


async def test_archive_holds_each_result_once_across_a_crash(
    settings: Settings, tmp_path: Path
) -> None:
    await ensure_topics(settings)
    archive = tmp_path / "archive"
    ctx = await asyncio.to_thread(build_context, settings)

    await produce_lines(settings, _lines(0, 10))
    pipeline = ScreeningPipeline(settings, ctx, sinks=[ArchiveSink(archive)])
    await pipeline.start()
    try:
        await _run_until(pipeline, 11)
    finally:
        await pipeline.stop()
    screened, rejected = _archive(archive)
    assert screened.height == pipeline.stats.screened > 0
    assert rejected.height == pipeline.stats.rejected >= 1
    row = screened.row(0, named=True)
    manifest = msgspec.json.decode(row["manifest_json"], type=Manifest)
    assert (manifest.manifest_id, manifest.version) == (row["manifest_id"], row["version"])
    assert row["lane"] in ("GREEN", "YELLOW", "RED", "BLUE") and row["ruleset_version"]

    # a worker that archives the next batch, then dies before committing it
    await produce_lines(settings, _lines(10, 5))
    crashing = ScreeningPipeline(settings, ctx, sinks=[_DiesAfterFlush(archive)])
    await crashing.start()
    task = asyncio.create_task(crashing.run())
    deadline = asyncio.get_running_loop().time() + 60
    while scan_screened(archive).collect().height == screened.height and not task.done():
        assert asyncio.get_running_loop().time() < deadline, "the crashing worker never flushed"
        await asyncio.sleep(0.1)
    crashing.request_stop()
    await asyncio.wait({task}, timeout=30)
    if not task.done():
        task.cancel()
    with contextlib.suppress(BaseException):
        await crashing.stop()
    assert crashing.stats.received == 0, "the batch was committed although its sink failed"
    flushed_before_crash = scan_screened(archive).collect().height
    assert flushed_before_crash > screened.height  # the archive got the batch, Kafka did not

    # the replacement worker gets the same records again (their offsets were not committed)
    ctx_after = await asyncio.to_thread(build_context, settings)
    again = ScreeningPipeline(settings, ctx_after, sinks=[ArchiveSink(archive)])
    await again.start()
    try:
        await _run_until(again, 6)
    finally:
        await again.stop()
    screened, rejected = _archive(archive)
    keys = screened.select("manifest_id", "version")
    assert keys.height == keys.unique().height, "a replayed batch was archived twice"
    assert screened.height == flushed_before_crash
    assert rejected.select("input_partition", "input_offset").is_unique().all()
    assert rejected.height == 2


async def test_an_archive_of_another_log_stops_the_worker_with_what_to_do(
    settings: Settings, tmp_path: Path
) -> None:
    """An archive whose commit markers reach past the topic's end (written from another
    topic, or before the topic was recreated) would skip the new records as replays: the
    worker refuses to screen and says which directory and what to do."""
    await ensure_topics(settings)
    archive = tmp_path / "archive"
    ArchiveSink(archive)  # creates the layout
    parts = settings.topic_partitions
    for p in range(parts):
        (archive / "_committed" / f"p{p}-{10**9:012d}").touch()
    ctx = await asyncio.to_thread(build_context, settings)
    await produce_lines(settings, _lines(0, 3))
    pipeline = ScreeningPipeline(settings, ctx, sinks=[ArchiveSink(archive)])
    await pipeline.start()
    try:
        task = asyncio.create_task(pipeline.run())
        done, _ = await asyncio.wait({task}, timeout=60)
        assert done, "the worker kept running on an archive of another log"
        exc = task.exception()
        assert exc is not None and "CARGOWATCH_ARCHIVE_DIR" in str(exc) and str(archive) in str(exc)
    finally:
        pipeline.request_stop()
        with contextlib.suppress(Exception):
            await pipeline.stop()
    assert pipeline.stats.screened == 0
    assert not list(archive.rglob("*.parquet"))  # nothing written past the refusal
