"""Faults around the worker: a second worker in the group dies, a broker of the 3-broker
cluster goes down mid-run."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fault_harness import (
    Worker,
    assert_nothing_lost_nothing_twice,
    group_members,
    produce_workload,
    wait_committed,
    workload,
)

from cargowatch.kafka import ensure_topics, topic_configs
from cargowatch.settings import Settings


async def _members(settings: Settings, want: int, timeout_s: float = 120) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (await group_members(settings, settings.consumer_group))[1] != want:
        assert asyncio.get_running_loop().time() < deadline, f"group never had {want} members"
        await asyncio.sleep(0.5)


async def test_two_workers_one_dies_its_partitions_move_nothing_lost_or_twice(
    fault_settings: Settings, tmp_path: Path
) -> None:
    settings = fault_settings
    await ensure_topics(settings)
    wl = await asyncio.to_thread(workload, settings.refdata, 12_000, tag="g")
    await produce_workload(settings, wl)
    # Both share the archive directory, as workers sharing partitions must.
    a = Worker(settings, tmp_path / "logs", name="a").start()
    b = Worker(settings, tmp_path / "logs", name="b").start()
    try:
        await _members(settings, 2)
        await wait_committed(settings, len(wl), 180, workers=[a, b], until=len(wl) // 3)
        a.kill()  # no goodbye: its partitions move once its session times out
        await wait_committed(settings, len(wl), 240, workers=[b])
        assert b.alive() and b.starts == 1
        code, _ = b.terminate()
        assert code == 0, b.log_tail()
        await assert_nothing_lost_nothing_twice(settings, wl, Path(settings.archive_dir))
    finally:
        a.stop()
        b.stop()


async def test_one_broker_down_mid_run_nothing_lost_processing_continues(
    kafka_cluster, fault_settings: Settings, tmp_path: Path
) -> None:
    settings = fault_settings.replace(kafka_bootstrap=kafka_cluster.bootstrap, topic_replication=3)
    await ensure_topics(settings)
    configs = await topic_configs(settings, [settings.topics.raw], ["min.insync.replicas"])
    assert configs[settings.topics.raw]["min.insync.replicas"] == "2"
    wl = await asyncio.to_thread(workload, settings.refdata, 8_000, tag="c")
    await produce_workload(settings, wl)  # acks=all, idempotent
    worker = Worker(settings, tmp_path / "logs").start()
    try:
        await wait_committed(settings, len(wl), 180, workers=[worker], until=len(wl) // 4)
        await asyncio.to_thread(kafka_cluster.stop_broker, 2)
        # Processing continues on two brokers (RF 3, min ISR 2).
        await wait_committed(settings, len(wl), 180, workers=[worker], until=len(wl) * 2 // 3)
        await asyncio.to_thread(kafka_cluster.start_broker, 2)
        await wait_committed(settings, len(wl), 180, workers=[worker])
        assert worker.alive() and worker.starts == 1, worker.log_tail()
        code, _ = worker.terminate()
        assert code == 0, worker.log_tail()
        await assert_nothing_lost_nothing_twice(settings, wl, Path(settings.archive_dir))
    finally:
        worker.stop()
