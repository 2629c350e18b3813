"""A worker killed with SIGKILL again and again: nothing lost, nothing twice.

The real ``cargowatch worker`` (archive sink on) screens ≥ 50,000 generated manifests and
is SIGKILLed five times along the way, restarted each time. Meanwhile the alert delivery
service posts every alert to a local aiohttp webhook receiver. At the end every valid
(manifest_id, version) has exactly one result on ``manifests.screened`` (read_committed)
and one row in the Parquet archive, every invalid record one rejection, no alert reached
the topic's consumers or the webhook twice, and in = screened + rejected + replays.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from pathlib import Path

import pytest
from aiohttp import web
from fault_harness import (
    Worker,
    assert_nothing_lost_nothing_twice,
    open_transactions,
    produce_workload,
    wait_committed,
    workload,
)

from cargowatch.kafka import ensure_topics
from cargowatch.settings import Settings
from sinks.webhook import WebhookDelivery
from streams.pipeline import FAULT_HANG_IN_TRANSACTION_ENV

MANIFESTS = 50_000
KILLS = 5


class Receiver:
    """A webhook endpoint counting accepted deliveries per Idempotency-Key."""

    def __init__(self) -> None:
        self.deliveries: Counter[str] = Counter()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.deliveries[request.headers.get("Idempotency-Key", "")] += 1
        return web.Response(status=204)


@pytest.fixture
async def receiver(serve_webhook) -> Receiver:
    rec = Receiver()
    rec.url = await serve_webhook("/hook", rec.handle) + "/hook"
    return rec


async def test_sigkilled_five_times_nothing_lost_nothing_twice(
    fault_settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    settings = fault_settings
    await ensure_topics(settings)
    wl = await asyncio.to_thread(workload, settings.refdata, MANIFESTS)
    assert wl.rejected > 0 and wl.replays > 0  # the generator plants both

    delivery = WebhookDelivery(
        settings.replace(
            webhook_urls=receiver.url, webhook_secret="s3cret", state_dir=str(tmp_path / "webhook")
        ),
        group_id=f"{settings.topic_prefix}webhook",
    )
    await delivery.start()
    delivering = asyncio.create_task(delivery.run())
    worker = Worker(settings, tmp_path / "logs")
    try:
        await produce_workload(settings, wl)
        worker.start()
        for k in range(1, KILLS + 1):
            # Kill at evenly spaced points of progress, mid-batch more often than not.
            await wait_committed(
                settings, len(wl), 240, workers=[worker], until=k * len(wl) // (KILLS + 1)
            )
            worker.kill()
            worker.start()
        await wait_committed(settings, len(wl), 300, workers=[worker])
        assert worker.starts == KILLS + 1
        code, _ = worker.terminate()
        assert code == 0, worker.log_tail()

        counts = await assert_nothing_lost_nothing_twice(settings, wl, Path(settings.archive_dir))
        # Every alert on the topic reaches the webhook, none twice.
        deadline = asyncio.get_running_loop().time() + 120
        while len(receiver.deliveries) < counts["alerts"]:
            assert asyncio.get_running_loop().time() < deadline, (
                f"webhook got {len(receiver.deliveries)} of {counts['alerts']} alerts"
            )
            await asyncio.sleep(0.5)
        twice = [k for k, n in receiver.deliveries.items() if n > 1]
        assert not twice, f"{len(twice)} alerts delivered twice, e.g. {twice[:3]}"
        assert len(receiver.deliveries) == counts["alerts"]
    finally:
        worker.stop()
        delivery.request_stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(delivering, 15)
        await delivery.stop()


async def test_a_restart_fences_the_killed_workers_open_transaction(
    fault_settings: Settings, tmp_path: Path
) -> None:
    """A worker killed with a transaction open holds every read_committed reader (alert
    delivery, dashboard) back on those partitions until the transaction ends. Restarted
    with the same worker_id it fences its predecessor and the broker aborts the orphan at
    once, long before the transaction timeout (15 min here) would."""
    settings = fault_settings.replace(transaction_timeout_s=900.0)
    await ensure_topics(settings)
    wl = await asyncio.to_thread(workload, settings.refdata, 3_000, tag="f")
    await produce_workload(settings, wl)
    worker = Worker(
        settings, tmp_path / "logs", extra_env={FAULT_HANG_IN_TRANSACTION_ENV: "1000"}
    ).start()
    try:
        deadline = asyncio.get_running_loop().time() + 180
        while not await open_transactions(settings, settings.topics.screened):
            assert asyncio.get_running_loop().time() < deadline, "the worker never hung in a transaction"
            assert worker.alive(), worker.log_tail()
            await asyncio.sleep(0.5)
        worker.kill()
        worker.extra_env = {}
        worker.start()
        await wait_committed(settings, len(wl), 180, workers=[worker])
        code, _ = worker.terminate()
        assert code == 0, worker.log_tail()
        # Reads to the log end within 120 s: only possible if the orphan was aborted.
        await assert_nothing_lost_nothing_twice(settings, wl, Path(settings.archive_dir))
        assert not await open_transactions(settings, settings.topics.screened)
    finally:
        worker.stop()
