"""Keep a worker's :class:`~enrichers.watchlist.store.WatchlistStore` in step with the
compacted ``ref.watchlist`` topic.

Every worker holds every list, so the feed reads the whole topic: all partitions
assigned, from the beginning, no consumer group and no commits. Entries and tombstones
go into the store; a version marker tells the store a list version is complete, and the
store rebuilds and swaps the index in the background.

>>> store = WatchlistStore(screener)  # doctest: +SKIP
>>> feed = WatchlistFeed(settings, store)  # doctest: +SKIP
>>> task = asyncio.create_task(feed.run())  # doctest: +SKIP
>>> await feed.caught_up.wait()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from cargowatch.kafka import ensure_topics
from cargowatch.settings import Settings
from enrichers.watchlist.publish import SUBJECT, marker_count, split_key
from enrichers.watchlist.store import VERSION_MARKER_ID, WatchlistStore
from schemas.codec import Codec, CodecError, registry_from_settings
from schemas.model import WatchlistEntry

log = logging.getLogger(__name__)


class WatchlistFeed:
    """Consumes ``ref.watchlist`` into a store. ``caught_up`` is set once the records
    present when the feed started have all been applied."""

    def __init__(self, settings: Settings, store: WatchlistStore, codec: Codec | None = None):
        self.settings = settings
        self.store = store
        self.codec = codec or Codec(registry_from_settings(settings.schema_registry_url))
        self.caught_up = asyncio.Event()
        self.records = 0
        self.bad_records = 0

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Apply one topic record to the store."""
        ids = split_key(key)
        if ids is None:
            self.bad_records += 1
            return
        list_id, entry_id = ids
        if value is None:
            if entry_id != VERSION_MARKER_ID:
                self.store.apply_tombstone(list_id, entry_id)
            return
        try:
            entry = msgspec.convert(self.codec.decode(SUBJECT, value), WatchlistEntry)
        except (CodecError, msgspec.ValidationError) as exc:
            # A bad record must not stop the lists from updating; it is counted and logged.
            self.bad_records += 1
            log.warning("unreadable watchlist record %s/%s: %s", list_id, entry_id, exc)
            return
        if entry.entry_id == VERSION_MARKER_ID:
            self.store.apply_marker(entry.list_id, entry.list_version, marker_count(entry))
        else:
            self.store.apply(entry)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Consume until ``stop`` is set (or the task is cancelled)."""
        settings = self.settings
        await ensure_topics(settings)
        topic = settings.topics.watchlist
        consumer = AIOKafkaConsumer(
            **settings.kafka_client_options(), group_id=None, enable_auto_commit=False
        )
        await consumer.start()
        try:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                await consumer._client.force_metadata_update()  # noqa: SLF001 - fresh topic
                partitions = consumer.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            end = await consumer.end_offsets(tps)
            behind = {tp for tp in tps if end[tp] > 0}
            if not behind:
                self.caught_up.set()
            while stop is None or not stop.is_set():
                batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                for records in batch.values():
                    for rec in records:
                        self.apply(rec.key, rec.value)
                        self.records += 1
                if behind:
                    for tp in list(behind):
                        if await consumer.position(tp) >= end[tp]:
                            behind.discard(tp)
                    if not behind:
                        log.info("watchlist feed caught up after %d records", self.records)
                        self.caught_up.set()
        finally:
            await consumer.stop()


async def run_watchlist_feed(
    settings: Settings, store: WatchlistStore, stop: asyncio.Event | None = None
) -> None:
    """The feed as one coroutine, for ``asyncio.create_task`` in the worker."""
    await WatchlistFeed(settings, store).run(stop)
