"""The worker's own lifecycle under faults: a stall the watchdog must catch, and SIGTERM."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from fault_harness import (
    Worker,
    archive_screened,
    group_members,
    produce_workload,
    read_topic,
    wait_committed,
    workload,
)

from cargowatch.bench.measure import committed_total
from cargowatch.kafka import ensure_topics
from cargowatch.settings import Settings
from streams.pipeline import FAULT_HANG_ENV

SIGTERM_BOUND_S = 10.0  # the bound; a clean stop measures well under it


async def test_watchdog_reports_a_stalled_worker_and_exits_non_zero(
    fault_settings: Settings, tmp_path: Path
) -> None:
    # The fault-injection hook makes the real worker stop screening after its first
    # batch while records wait: committed offsets stop, lag stays > 0.
    settings = fault_settings.replace(stall_timeout_s=4.0)
    await ensure_topics(settings)
    wl = await asyncio.to_thread(workload, settings.refdata, 3000, tag="w")
    await produce_workload(settings, wl)
    worker = Worker(settings, tmp_path / "logs", extra_env={FAULT_HANG_ENV: "1"}).start()
    try:
        await wait_committed(settings, len(wl), 120, workers=[worker], until=1)
        deadline = time.monotonic() + 60
        status, body = worker.healthz()
        while status != 503:
            assert worker.alive() and time.monotonic() < deadline, (
                f"/healthz never turned unhealthy (last {status} {body})\n{worker.log_tail()}"
            )
            await asyncio.sleep(0.3)
            status, body = worker.healthz()
        assert '"unhealthy"' in body and "no commit" in body
        assert worker.proc is not None
        code = await asyncio.to_thread(worker.proc.wait, 60)
        assert code == 3, f"exit code {code}\n{worker.log_tail()}"
        committed = await committed_total(settings, settings.consumer_group, settings.topics.raw)
        assert 0 < committed < len(wl)
    finally:
        worker.stop()


async def test_sigterm_flushes_commits_leaves_the_group_within_ten_seconds(
    fault_settings: Settings, tmp_path: Path
) -> None:
    settings = fault_settings
    await ensure_topics(settings)
    wl = await asyncio.to_thread(workload, settings.refdata, 20_000, tag="t")
    await produce_workload(settings, wl)
    worker = Worker(settings, tmp_path / "logs").start()
    try:
        # Mid-run: a batch is being screened or committed when the signal comes.
        await wait_committed(settings, len(wl), 180, workers=[worker], until=2000)
        code, seconds = worker.terminate(timeout_s=60)
        assert code == 0, worker.log_tail()
        assert seconds <= SIGTERM_BOUND_S, f"SIGTERM took {seconds:.1f}s\n{worker.log_tail()}"
        # Left the group: no member waits out a session timeout.
        state, members = await group_members(settings, settings.consumer_group)
        assert members == 0, f"group {state} still has {members} member(s)"
        committed = await committed_total(settings, settings.consumer_group, settings.topics.raw)
        assert 2000 <= committed < len(wl)
        # Sinks flushed and offsets committed together: the archive holds exactly the
        # results Kafka committed, no more, no fewer.
        screened = await read_topic(settings, settings.topics.screened)
        rows = archive_screened(Path(settings.archive_dir))
        assert rows.height == len(screened) > 0
    finally:
        worker.stop()
