"""Global tables from compacted topics: every worker reads the whole topic from the
beginning, then keeps tailing it (design: "ref.watchlist, ref.traders ► tables in every
worker, hot-swapped"). No consumer group: each worker holds every key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from cargowatch.settings import Settings

log = logging.getLogger("cargowatch.tables")

RecordHandler = Callable[[bytes | None, bytes | None], None]


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    """Partition numbers of ``topic`` from fresh cluster metadata (``partitions_for_topic``
    alone only knows topics the client has subscribed to or produced to)."""
    cluster = await consumer._client.fetch_all_metadata()  # noqa: SLF001 - no public equivalent
    return set(cluster.partitions_for_topic(topic) or ())


class TopicTail:
    """Read ``topic`` from the beginning and hand every record (key, value or None for a
    tombstone) to ``on_record``; ``caught_up`` is set once the end offsets seen at start
    have been reached. A handler error is logged with the offset and never stops the tail."""

    def __init__(self, settings: Settings, topic: str, on_record: RecordHandler):
        self.settings = settings
        self.topic = topic
        self.on_record = on_record
        self.caught_up = asyncio.Event()
        self.records = 0
        self.errors = 0
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            **self.settings.kafka_client_options(),
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        await consumer.start()
        try:
            partitions = await topic_partitions(consumer, self.topic)
            tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            if not tps:
                log.warning("topic %s has no partitions; nothing to read", self.topic)
                self.caught_up.set()
                await self._stop.wait()
                return
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            pending = {tp for tp in tps if ends[tp] > 0}
            if not pending:
                self.caught_up.set()
            while not self._stop.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=5000)
                for tp, records in batches.items():
                    for rec in records:
                        self.records += 1
                        try:
                            self.on_record(rec.key, rec.value)
                        except Exception:  # noqa: BLE001 - one bad record must not stop the table
                            self.errors += 1
                            log.exception("%s@%s:%s could not be applied", self.topic, tp.partition, rec.offset)
                if pending:
                    for tp in list(pending):
                        if await consumer.position(tp) >= ends[tp]:
                            pending.discard(tp)
                    if not pending:
                        log.info("%s caught up: %d records", self.topic, self.records)
                        self.caught_up.set()
        finally:
            await consumer.stop()
