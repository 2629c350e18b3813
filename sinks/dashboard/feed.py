"""The dashboard's Kafka side: rebuild the board from the topics, tail them, publish
officer decisions, and measure the screening group's lag.

Kafka is the system of record (design principle 3): at start the feed reads ``alerts``
and ``alerts.decisions`` from the beginning and the last hour of ``manifests.screened``,
``manifests.dlq`` and ``alerts.dlq`` (``read_committed``, every partition assigned, no
consumer group), then follows them. A restarted dashboard shows the same board.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from cargowatch.settings import Settings
from schemas.codec import Codec, CodecError
from schemas.model import Alert, Decision
from sinks.dashboard.board import WINDOW_S, BoardState

log = logging.getLogger("cargowatch.dashboard")

EventSink = Callable[[str, object], None]
LAG_EVERY_S = 5.0
LANE_HEADER = "cargowatch-lane"  # optional header on manifests.screened records


class BoardFeed:
    """Reads the topics into a :class:`BoardState` and calls ``on_event(kind, payload)``
    for each new alert (``"alert"``, an AlertRow) and decision (``"decision"``, an
    AlertRow) once the initial rebuild is done."""

    def __init__(self, settings: Settings, board: BoardState, codec: Codec, on_event: EventSink):
        self.settings = settings
        self.board = board
        self.codec = codec
        self.on_event = on_event
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self._catch_up: dict[TopicPartition, int] = {}
        self._raw_partitions: list[TopicPartition] = []
        self._stopping = asyncio.Event()
        self._last_lag = 0.0

    async def start(self) -> None:
        from cargowatch.kafka import ensure_topics, make_consumer, make_producer

        s = self.settings
        t = s.topics
        await ensure_topics(s)
        self.producer = make_producer(s)
        await self.producer.start()
        self.consumer = make_consumer(s, group_id=None, isolation_level="read_committed")
        await self.consumer.start()
        # aiokafka has no public "partitions of these topics" call for a group-less consumer
        cluster = await self.consumer._client.fetch_all_metadata()  # noqa: SLF001
        full = (t.alerts, t.decisions)
        windowed = (t.screened, t.dlq, t.alerts_dlq)
        tps: list[TopicPartition] = []
        for topic in (*full, *windowed):
            tps += [
                TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())
            ]
        self._raw_partitions = [
            TopicPartition(t.raw, p) for p in sorted(cluster.partitions_for_topic(t.raw) or ())
        ]
        if not tps:
            raise RuntimeError(f"topics {', '.join(full)} not found on {s.kafka_bootstrap}")
        self.consumer.assign(tps)
        await self.consumer.seek_to_beginning(*[tp for tp in tps if tp.topic in full])
        since_ms = int((time.time() - WINDOW_S) * 1000)
        recent = [tp for tp in tps if tp.topic in windowed]
        if recent:
            found = await self.consumer.offsets_for_times({tp: since_ms for tp in recent})
            ends = await self.consumer.end_offsets(recent)
            for tp in recent:
                hit = found.get(tp)
                self.consumer.seek(tp, hit.offset if hit is not None else ends[tp])
        ends = await self.consumer.end_offsets(tps)
        self._catch_up = {tp: end for tp, end in ends.items() if end > 0}
        self._check_caught_up_sync(set())
        await self._update_lag()

    def _check_caught_up_sync(self, done: set[TopicPartition]) -> None:
        for tp in done:
            self._catch_up.pop(tp, None)
        if not self._catch_up and not self.board.caught_up:
            self.board.caught_up = True
            log.info(
                "board rebuilt from the topics: %d alerts, %d decided",
                len(self.board.alerts),
                len(self.board.decisions),
            )

    async def run(self) -> None:
        """Tail the topics until stopped; a bad record is skipped, a broker error retried."""
        assert self.consumer is not None
        while not self._stopping.is_set():
            try:
                batches = await self.consumer.getmany(timeout_ms=250, max_records=2000)
                for tp, records in batches.items():
                    self._handle(tp.topic, records)
                if self._catch_up:
                    done = set()
                    for tp, end in self._catch_up.items():
                        if await self.consumer.position(tp) >= end:
                            done.add(tp)
                    self._check_caught_up_sync(done)
                if time.monotonic() - self._last_lag >= LAG_EVERY_S:
                    await self._update_lag()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the board keeps going; Kafka may come back
                log.error("dashboard feed: %s: %s; retrying in 1s", type(exc).__name__, exc)
                await asyncio.sleep(1.0)

    def _handle(self, topic: str, records: list) -> None:
        t = self.settings.topics
        board = self.board
        live = board.caught_up
        for rec in records:
            ts = (rec.timestamp or time.time() * 1000) / 1000
            if topic == t.screened:
                lane = _lane_header(rec.headers)
                if lane is None:  # older records: read the lane from the result itself
                    try:
                        lane = self.codec.decode("ScreeningResult", rec.value)["lane"]
                    except CodecError:
                        continue
                board.count(f"screened:{lane}", ts)
            elif topic == t.alerts:
                alert = self._decode(Alert, "Alert", rec.value)
                if alert is None:
                    continue
                board.count("alert", ts)
                if board.add_alert(alert) and live:
                    self.on_event("alert", board.row(alert))
            elif topic == t.decisions:
                decision = self._decode(Decision, "Decision", rec.value)
                if decision is not None and board.add_decision(decision) and live:
                    alert = board.alerts.get(decision.alert_id)
                    if alert is not None:
                        self.on_event("decision", board.row(alert))
            elif topic == t.dlq:
                board.count("dlq", ts)
            elif topic == t.alerts_dlq:
                board.count("alerts_dlq", ts)

    def _decode(self, kind: type, subject: str, value: bytes | None):
        try:
            return msgspec.convert(self.codec.decode(subject, value or b""), kind, strict=False)
        except (CodecError, msgspec.ValidationError) as exc:
            log.warning("unreadable %s record skipped: %s", subject, exc)
            return None

    async def _update_lag(self) -> None:
        """Lag of the screening group on manifests.raw: end offsets minus committed ones."""
        self._last_lag = time.monotonic()
        if self.consumer is None or not self._raw_partitions:
            return
        from cargowatch.kafka import make_admin

        admin = make_admin(self.settings)
        try:
            await admin.start()
            committed = await admin.list_consumer_group_offsets(self.settings.consumer_group)
            ends = await self.consumer.end_offsets(self._raw_partitions)
        except Exception as exc:  # noqa: BLE001 - lag is a figure, not a reason to stop
            log.debug("consumer lag unavailable: %s", exc)
            return
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
        total = 0
        for tp, end in ends.items():
            meta = committed.get(tp)
            position = meta.offset if meta is not None and meta.offset >= 0 else 0
            total += max(0, end - position)
        self.board.consumer_lag = total

    async def publish_decision(self, decision: Decision) -> None:
        """Publish an officer decision to alerts.decisions (keyed by manifest_id) and wait
        for the broker's acknowledgement, then show it on the board."""
        assert self.producer is not None
        await self.producer.send_and_wait(
            self.settings.topics.decisions,
            self.codec.encode("Decision", decision),
            key=decision.manifest_id.encode(),
        )
        if self.board.add_decision(decision):
            alert = self.board.alerts.get(decision.alert_id)
            if alert is not None:
                self.on_event("decision", self.board.row(alert))

    def request_stop(self) -> None:
        self._stopping.set()

    async def stop(self) -> None:
        self._stopping.set()
        for client in (self.consumer, self.producer):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()


def _lane_header(headers) -> str | None:
    """The lane from a ``cargowatch-lane`` header, so counting lanes needs no Avro decode."""
    for key, value in headers or ():
        if key == LANE_HEADER and value:
            return value.decode()
    return None
