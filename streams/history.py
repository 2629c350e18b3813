"""Trader history in Kafka: a Faust table keyed by trader, and how the worker feeds it
and reads it (the history itself is enrichers/traders.py; this is its wiring).

::

    hot path (a batch)   --TraderDelta per trader touched, in the batch's transaction-->
    decisions agent      --TraderDelta per trader of the decision------------------------>  traders.history.deltas
                         (one record per partition: the deltas of the traders hashed to it)
    fold agent (Faust, partitioned like the deltas): table[trader] = state.fold(delta)
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

The fold writes the table's store and its changelog itself, one producer batch per deltas
record (:func:`fold_into`, :class:`ChangelogWriter`), not through ``table[key] = value``:
Faust sends a changelog record per key set through its per-message producer buffer, and
with a few hundred traders a batch that was most of the worker's event loop, which also
carries the manifests' commits (2026-11-28: end-to-end p50 ~1 s at 1,500/s against
~0.2-0.3 s without the fold). The records are the ones Faust would write (same topic,
partition, key and value), so Faust's recovery reads them as before; each
record's changelog batch is acknowledged before the agent takes the next (at least once;
a redelivered delta folds once).
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


def fold_into(store: Any, deltas: list[TraderDelta], max_keys: int) -> list[tuple[bytes, bytes]]:
    """Fold ``deltas`` into the table ``store`` (trader id bytes -> state JSON, a mapping);
    returns the changed (key, value) pairs in the order first changed, each trader once
    with its last state (the changelog records to write)."""
    changed: dict[bytes, bytes] = {}
    for delta in deltas:
        key = delta.trader_id.encode()
        old = store.get(key)
        state = decode_state(old) if old is not None else TraderState()
        if state.fold(delta, max_keys):
            store[key] = changed[key] = encode_state(state)
    return list(changed.items())


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

    @app.agent(deltas_topic, name="cargowatch-trader-history-fold")
    async def fold_trader_history(stream):
        """Fold each delta into its trader's state (a record holds the deltas of one
        batch for the traders of its partition: the table's keys are in that partition,
        and so are their changelog records)."""
        writer = ChangelogWriter(settings, settings.topics.trader_history)
        try:
            async for event in stream.events():
                try:
                    deltas = decode_deltas(event.value)
                except msgspec.DecodeError as exc:
                    log.warning("unreadable trader-history deltas skipped: %s", exc)
                    continue
                store = table.data
                changed = fold_into(store, deltas, max_keys)
                if changed:
                    partition = event.message.partition
                    # the memory store's record of which partition holds a key (it drops
                    # the keys of partitions this worker no longer owns)
                    owner = getattr(store, "_key_partition", None)
                    if owner is not None:
                        for key, _ in changed:
                            owner[key] = partition
                    await writer.write(partition, changed)
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
