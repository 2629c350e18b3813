"""Trader history in Kafka: a Faust table keyed by trader, and how the worker feeds it
and reads it (the history itself is enrichers/traders.py; this is its wiring).

::

    hot path (a batch)   --TraderDelta per trader touched, in the batch's transaction-->
    decisions agent      --TraderDelta per trader of the decision------------------------>  traders.history.deltas
                         (one record per partition: the deltas of the traders hashed to it)
    fold agent (Faust, partitioned like the deltas): every trader_history_flush_ms, the
        window's deltas folded into table[trader], each changed trader written once
        --> Faust table "trader-history", changelog traders.history (compacted, key trader_id)
    every worker tails traders.history into its TraderHistory (TraderHistory.replace_raw)

Why this shape: a Faust table can only be written inside an agent's stream iteration,
and Faust's per-event machinery (~3,700 events/s doing nothing on this machine) cannot
take the manifest stream; one delta per trader per batch can. The table's changelog is
the system of record: a restarted worker reads it back before it screens (replacing the
JSON checkpoint), and every worker reads every trader from it (manifests are keyed by
manifest id, so any worker may screen any trader's filing). A worker's own deltas count
in its snapshots at once (its next batch sees them) until the table's state shows them
folded (``TraderState.applied``); a delta delivered twice is folded once (its origin and
sequence number).

The fold writes the table's store and its changelog itself (:class:`WriteBehind`,
:class:`ChangelogWriter`), not through ``table[key] = value``: Faust sends a changelog
record per key set through its per-message producer buffer, and with a few hundred
traders a batch that was most of the worker's event loop, which also carries the
manifests' commits (2026-11-28: end-to-end p50 ~1 s at 1,500/s against ~0.2-0.3 s
without the fold). It folds a window of deltas records (``trader_history_flush_ms``) and
writes each changed trader once, as one producer batch per partition: a busy trader
changes in every batch of every worker, and every worker tails every changelog record.
The records are the ones Faust would write (same topic, partition, key and value), so
Faust's recovery reads them as before. The window's records are acknowledged only after
their changelog batches are (at least once; a redelivered delta folds once), so a worker
killed mid-window loses nothing: the partition's next owner folds the window again.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from typing import Any

import msgspec
from aiokafka import AIOKafkaProducer

from cargowatch.kafka import make_producer, send_batched
from cargowatch.settings import Settings
from enrichers.traders import (
    TraderDelta,
    TraderHistory,
    TraderState,
    decode_deltas,
    decode_state,
    encode_deltas,
    encode_state,
)
from schemas.model import Decision

log = logging.getLogger(__name__)

TABLE_NAME = "trader-history"
# at most this many deltas records folded per changelog write (a window is normally
# shorter: one record per deltas partition per screened batch per worker)
FOLD_WINDOW_RECORDS = 1000

# (topic, partition, key, value, headers): what the pipeline appends to a batch's transaction
Output = tuple[str, int, bytes, bytes, list]


def key_partition(key: bytes) -> int:
    """The partition hash of a trader id, before the modulo of the partition count: every
    delta of one trader lands in one partition, so one fold agent folds them in order.
    CRC-32 (C; aiokafka's murmur2 is pure Python, ~10 us a key): every producer of the
    deltas topic partitions with this function."""
    return zlib.crc32(key)


def by_partition(deltas: list[TraderDelta], partitions: int) -> dict[int, list[TraderDelta]]:
    """The deltas grouped by the partition of their trader: one record each (the fold
    agent pays Faust's per-event cost once per record, not once per trader)."""
    out: dict[int, list[TraderDelta]] = {}
    for d in deltas:
        out.setdefault(key_partition(d.trader_id.encode()) % partitions, []).append(d)
    return out


def delta_outputs(history: TraderHistory, topic: str, partitions: int) -> Callable[[], list[Output]]:
    """The deltas the last screened chunk taught ``history``, as records for ``topic``
    (the pipeline sends them in the same transaction as the chunk's results)."""

    def take() -> list[Output]:
        grouped = by_partition(history.take_deltas(), partitions)
        return [(topic, p, str(p).encode(), encode_deltas(ds), []) for p, ds in grouped.items()]

    return take


def changelog_handler(history: TraderHistory) -> Callable[[bytes | None, bytes | None], None]:
    """A ``traders.history`` changelog record into the worker's replica."""

    def apply(key: bytes | None, value: bytes | None) -> None:
        if key is not None:
            history.replace_raw(key.decode(), value)  # decoded when the trader is looked up

    return apply


class WriteBehind:
    """The trader-history table's states changed since its last changelog write, per
    partition: a trader's state is decoded from the store once, folded any number of times,
    and encoded once per write (:meth:`take`). Changes are written every
    ``trader_history_flush_ms`` (the fold agent's ``take_events`` window), not once per
    deltas record: a busy trader changes in every batch, and one record per trader per
    window is what the other workers then tail."""

    def __init__(self, store: Any, max_keys: int):
        self.store = store  # trader id bytes -> state JSON (the table's store, a mapping)
        self.max_keys = max_keys
        self._dirty: dict[int, dict[bytes, TraderState]] = {}

    def add(self, partition: int, deltas: list[TraderDelta]) -> int:
        """Fold ``deltas`` (all of traders in ``partition``); returns how many changed a
        state (a redelivered delta changes nothing)."""
        dirty = self._dirty.setdefault(partition, {})
        store, max_keys, changed = self.store, self.max_keys, 0
        for delta in deltas:
            key = delta.trader_id.encode()
            state = dirty.get(key)
            if state is None:
                old = store.get(key)
                state = decode_state(old) if old is not None else TraderState()
                if not state.fold(delta, max_keys):
                    continue
                dirty[key] = state
            elif not state.fold(delta, max_keys):
                continue
            changed += 1
        return changed

    def take(self) -> dict[int, list[tuple[bytes, bytes]]]:
        """The changed states, encoded and written to the store: per partition, the
        changelog records to write (each trader once, with its last state)."""
        out: dict[int, list[tuple[bytes, bytes]]] = {}
        store = self.store
        owner = getattr(store, "_key_partition", None)  # the memory store's key -> partition
        for partition, states in self._dirty.items():
            if not states:
                continue
            records = out[partition] = []
            for key, state in states.items():
                store[key] = value = encode_state(state)
                records.append((key, value))
                if owner is not None:
                    owner[key] = partition
        self._dirty = {}
        return out


class ChangelogWriter:
    """Writes a table's changelog records of one partition as one producer batch and waits
    for the broker's acknowledgement (acks=all, idempotent)."""

    def __init__(self, settings: Settings, topic: str):
        self.settings = settings
        self.topic = topic
        self._producer: AIOKafkaProducer | None = None

    async def write(self, partition: int, records: list[tuple[bytes, bytes]]) -> None:
        if self._producer is None:
            producer = make_producer(self.settings, linger_ms=0, max_batch_size=1 << 20, max_request_size=16 << 20)
            await producer.start()
            self._producer = producer
        await (await send_batched(self._producer, ((self.topic, partition, k, v, []) for k, v in records)))

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()


def attach_trader_history(app: Any, settings: Settings, history: Callable[[], TraderHistory | None]) -> Any:
    """Declare the trader-history table and its fold agent on the worker's Faust app;
    returns the decisions hook: ``await hook(decision)`` sends the decision's deltas."""
    partitions = settings.topic_partitions
    deltas_topic = app.topic(
        settings.topics.trader_history_deltas, key_type=bytes, value_type=bytes,
        key_serializer="raw", value_serializer="raw", partitions=partitions,
    )
    changelog = app.topic(
        settings.topics.trader_history, key_type=bytes, value_type=bytes, key_serializer="raw",
        value_serializer="raw", partitions=partitions, compacting=True, deleting=False, internal=True,
    )
    table = app.Table(
        TABLE_NAME, key_type=bytes, value_type=bytes, partitions=partitions, changelog_topic=changelog,
        help="trader history: first seen, shipments, usual HS chapters and routes, officer decisions",
    )
    max_keys = TraderHistory().max_keys

    window_s = max(0.01, settings.trader_history_flush_ms / 1000)

    @app.agent(deltas_topic, name="cargowatch-trader-history-fold")
    async def fold_trader_history(stream):
        """Fold the deltas of a window of records into their traders' states and write
        the changed states to the changelog, then let Faust acknowledge the records (a
        record holds the deltas of one batch for the traders of its partition: the table's
        keys are in that partition, and so are their changelog records). A worker that
        stops or loses the partitions before the write leaves the records unacknowledged,
        and the next owner folds them again (a delta is folded once: origin and seq)."""
        writer = ChangelogWriter(settings, settings.topics.trader_history)
        try:
            async for events in stream.take_events(FOLD_WINDOW_RECORDS, within=window_s):
                fold = WriteBehind(table.data, max_keys)
                for event in events:
                    try:
                        deltas = decode_deltas(event.value)
                    except msgspec.DecodeError as exc:
                        log.warning("unreadable trader-history deltas skipped: %s", exc)
                        continue
                    fold.add(event.message.partition, deltas)
                # Written even if a rebalance is under way: Faust waits for the records
                # taken to be acknowledged (stream_wait_empty) before it gives their
                # partitions up, so the next owner recovers the table with this write in it.
                for partition, records in fold.take().items():
                    await writer.write(partition, records)
        finally:
            await writer.close()

    async def on_decision(decision: Decision) -> int:
        h = history()
        if h is None:
            return 0
        deltas = h.decision_deltas(decision)
        for p, group in by_partition(deltas, partitions).items():
            await deltas_topic.send(key=str(p).encode(), value=encode_deltas(group), partition=p)
        return len(deltas)

    app.cargowatch_trader_history = table
    return on_decision
