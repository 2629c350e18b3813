"""The ceiling: raw aiokafka consume + produce of the same bytes, no processing.

Batch fetch, the records re-sent as whole producer batches per partition, offsets
committed per batch: the fastest way through the broker this client allows, so the
pipeline's share of it says how much our processing costs.
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from cargowatch.kafka import make_producer
from cargowatch.settings import Settings


async def run_ceiling(
    settings: Settings, source: str, sink: str, group: str, count: int, batch_size: int
) -> dict[str, float]:
    """Move ``count`` records from ``source`` to ``sink``; the rate from the first
    fetched record to the last acknowledged send and commit."""
    consumer = AIOKafkaConsumer(
        source,
        **settings.kafka_client_options(),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=batch_size,
        fetch_max_bytes=64 << 20,
        max_partition_fetch_bytes=16 << 20,
    )
    producer = make_producer(settings, max_batch_size=1 << 20, max_request_size=16 << 20)
    await consumer.start()
    await producer.start()
    moved = 0
    t0: float | None = None
    try:
        partitions = len(await producer.partitions_for(sink))
        while moved < count:
            batches = await consumer.getmany(timeout_ms=500, max_records=batch_size)
            if not batches:
                continue
            if t0 is None:
                t0 = time.perf_counter()
            futures = []
            offsets: dict[TopicPartition, int] = {}
            for tp, recs in batches.items():
                builder = producer.create_batch()
                for rec in recs:
                    if builder.append(key=rec.key, value=rec.value, timestamp=None) is None:
                        futures.append(
                            await producer.send_batch(
                                builder, sink, partition=tp.partition % partitions
                            )
                        )
                        builder = producer.create_batch()
                        builder.append(key=rec.key, value=rec.value, timestamp=None)
                if builder.record_count():
                    futures.append(
                        await producer.send_batch(
                            builder, sink, partition=tp.partition % partitions
                        )
                    )
                offsets[tp] = recs[-1].offset + 1
                moved += len(recs)
            await asyncio.gather(*futures)
            await consumer.commit(offsets)
        seconds = time.perf_counter() - (t0 or time.perf_counter())
    finally:
        await consumer.stop()
        await producer.stop()
    return {
        "records": moved,
        "seconds": round(seconds, 3),
        "per_s": round(moved / seconds, 1) if seconds else 0.0,
    }
