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

from cargowatch.kafka import TopicTail, ensure_topics
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
        self.bad_records = 0
        # The topic read (all partitions, from the beginning, then tailing) is the shared
        # global-table reader; this class only knows what a watchlist record means.
        self._tail = TopicTail(settings, settings.topics.watchlist, self.apply)
        self.caught_up = self._tail.caught_up

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
        """Consume until ``stop`` is set, :meth:`stop` is called, or the task is cancelled."""
        await ensure_topics(self.settings)
        watcher = asyncio.create_task(stop.wait()) if stop is not None else None
        if watcher is not None:
            watcher.add_done_callback(lambda _: self._tail.stop())
        try:
            await self._tail.run()
        finally:
            if watcher is not None:
                watcher.cancel()

    def stop(self) -> None:
        self._tail.stop()

    @property
    def records(self) -> int:
        return self._tail.records


async def run_watchlist_feed(
    settings: Settings, store: WatchlistStore, stop: asyncio.Event | None = None
) -> None:
    """The feed as one coroutine, for ``asyncio.create_task`` in the worker."""
    await WatchlistFeed(settings, store).run(stop)
