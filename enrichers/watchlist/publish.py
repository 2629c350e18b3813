"""Publish one list version to the compacted ``ref.watchlist`` topic.

Layout of the topic (key ``list_id/entry_id``, Avro ``WatchlistEntry`` via the Codec):

1. every entry of the new version (``list_version`` = the version);
2. a tombstone (null value) for each entry of that list that the topic holds from the
   previous version but the new version lacks;
3. last, the version marker: key ``list_id/__version__``, an entry with
   ``entry_id="__version__"``, ``list_version`` = the version and the identifier
   ``ENTRY_COUNT`` = number of entries. A consumer holds the version complete once it
   has seen the marker and that many entries of that version (entries and marker can sit
   on different partitions, so the count, not the order, decides).

The previous state of the list is read from the topic itself (all partitions, from the
beginning), so ``load`` needs no memory of its own and can run from any machine.

>>> report = asyncio.run(publish_version(settings, load_watchlist("un.xml")))  # doctest: +SKIP
>>> report.entries, report.tombstones  # doctest: +SKIP
(1003, 2)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from cargowatch.kafka import ensure_topics, make_producer
from cargowatch.settings import Settings
from enrichers.watchlist.loaders import WatchlistVersion
from enrichers.watchlist.store import ENTRY_COUNT, VERSION_MARKER_ID
from schemas.codec import Codec, registry_from_settings
from schemas.model import EntryIdentifier, WatchlistEntry

SUBJECT = "WatchlistEntry"


def entry_key(list_id: str, entry_id: str) -> bytes:
    """The compacted topic's key: ``list_id/entry_id``."""
    return f"{list_id}/{entry_id}".encode()


def split_key(key: bytes | None) -> tuple[str, str] | None:
    """``(list_id, entry_id)`` of a topic key, or None when it is not ours."""
    if not key:
        return None
    text = key.decode("utf-8", errors="replace")
    list_id, sep, entry_id = text.partition("/")
    return (list_id, entry_id) if sep else None


def version_marker(list_id: str, version: str, entry_count: int) -> WatchlistEntry:
    """The record that closes a list version on the topic."""
    return WatchlistEntry(
        list_id=list_id,
        entry_id=VERSION_MARKER_ID,
        kind="unknown",
        names=[],
        identifiers=[
            EntryIdentifier(ENTRY_COUNT, str(entry_count)),
            EntryIdentifier("PUBLISHED_AT", datetime.now(UTC).isoformat(timespec="seconds")),
        ],
        list_version=version,
        sanctions=False,
    )


def marker_count(entry: WatchlistEntry) -> int:
    """The entry count a version marker announces."""
    for ident in entry.identifiers:
        if ident.type == ENTRY_COUNT:
            return int(ident.value)
    raise ValueError(f"version marker of {entry.list_id} carries no {ENTRY_COUNT}")


@dataclass
class ListState:
    """What the topic holds for one list: live entry ids and the last complete version."""

    entry_ids: set[str] = field(default_factory=set)
    version: str | None = None


@dataclass
class PublishReport:
    list_id: str
    version: str
    previous_version: str | None
    entries: int
    tombstones: int
    topic: str


async def read_list_state(
    settings: Settings, list_id: str, codec: Codec | None = None
) -> ListState:
    """Read the whole topic (up to its current end) and return the state of ``list_id``."""
    codec = codec or Codec(registry_from_settings(settings.schema_registry_url))
    topic = settings.topics.watchlist
    consumer = AIOKafkaConsumer(
        **settings.kafka_client_options(), group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    state = ListState()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - fresh topic
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return state
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if end[tp] > 0}
        prefix = f"{list_id}/".encode()
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batch.items():
                for rec in records:
                    if rec.key and rec.key.startswith(prefix):
                        entry_id = rec.key[len(prefix) :].decode()
                        if entry_id == VERSION_MARKER_ID:
                            if rec.value is not None:
                                state.version = codec.decode(SUBJECT, rec.value)["list_version"]
                        elif rec.value is None:
                            state.entry_ids.discard(entry_id)
                        else:
                            state.entry_ids.add(entry_id)
                    if rec.offset + 1 >= end[tp]:
                        remaining.discard(tp)
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return state


async def publish_version(
    settings: Settings,
    version: WatchlistVersion,
    progress: Callable[[int, int], None] | None = None,
    codec: Codec | None = None,
) -> PublishReport:
    """Publish ``version`` as the current version of its list (see the module docstring).

    ``progress(done, total)`` is called as records are handed to the producer.
    """
    settings.require_kafka()
    codec = codec or Codec(registry_from_settings(settings.schema_registry_url))
    await ensure_topics(settings)
    previous = await read_list_state(settings, version.list_id, codec)
    new_ids = {e.entry_id for e in version.entries}
    removed = sorted(previous.entry_ids - new_ids)
    topic = settings.topics.watchlist
    total = len(version.entries) + len(removed) + 1
    producer = make_producer(settings)
    await producer.start()
    try:
        entries = [
            e
            if e.list_version == version.version and e.list_id == version.list_id
            else msgspec.structs.replace(e, list_id=version.list_id, list_version=version.version)
            for e in version.entries
        ]
        futures = []
        done = 0
        for entry, value in zip(entries, codec.encode_many(SUBJECT, entries), strict=True):
            futures.append(
                await producer.send(
                    topic, value=value, key=entry_key(entry.list_id, entry.entry_id)
                )
            )
            done += 1
            if progress and done % 500 == 0:
                progress(done, total)
        for entry_id in removed:
            futures.append(
                await producer.send(topic, value=None, key=entry_key(version.list_id, entry_id))
            )
            done += 1
        await asyncio.gather(*futures)
        # The marker goes last, after every entry is acknowledged.
        marker = version_marker(version.list_id, version.version, len(entries))
        await producer.send_and_wait(
            topic,
            value=codec.encode(SUBJECT, marker),
            key=entry_key(version.list_id, VERSION_MARKER_ID),
        )
        done += 1
        if progress:
            progress(done, total)
    finally:
        await producer.stop()
    return PublishReport(
        version.list_id, version.version, previous.version, len(entries), len(removed), topic
    )
