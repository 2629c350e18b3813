"""The one place that builds Kafka clients and topics from :class:`~cargowatch.settings.Settings`.

Every producer, consumer and admin client in cargowatch comes from here, so connection
options (TLS/SASL via ``Settings.kafka_client_options``), delivery guarantees and topic
layout are decided once.

>>> import asyncio
>>> settings = Settings.load(env={"CARGOWATCH_KAFKA_BOOTSTRAP": "127.0.0.1:9092"})
>>> asyncio.run(ensure_topics(settings))          # doctest: +SKIP
>>> producer = make_producer(settings)            # doctest: +SKIP
>>> consumer = make_consumer(settings, settings.topics.screened, group_id=None)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from cargowatch.settings import Settings

log = logging.getLogger(__name__)

CLIENT_ID = "cargowatch"
# Kafka protocol error codes ensure_topics tolerates or waits out.
_TOPIC_ALREADY_EXISTS = 36
_UNKNOWN_TOPIC_OR_PARTITION = 3
_LEADER_NOT_AVAILABLE = 5


class KafkaSetupError(RuntimeError):
    """Topics could not be created or did not become ready; the message says which and why."""


def compression_type() -> str | None:
    """``"lz4"`` when the optional ``lz4`` package is installed, else ``None`` (no compression).

    lz4 costs little CPU and shrinks Avro manifests well; without the package aiokafka
    would fail at send time, so we fall back rather than break the producer.
    """
    from aiokafka.codec import has_lz4

    return "lz4" if has_lz4() else None


def make_admin(settings: Settings) -> AIOKafkaAdminClient:
    """An admin client for ``settings`` (not started: call ``await admin.start()``)."""
    return AIOKafkaAdminClient(client_id=f"{CLIENT_ID}-admin", **settings.kafka_client_options())


def make_producer(settings: Settings, **kw: Any) -> AIOKafkaProducer:
    """A producer that does not lose or duplicate records on retry (not started).

    ``acks="all"`` with idempotence: a send is acknowledged only once every in-sync
    replica has it, and retries after a broker failover do not write twice. Batching
    (``linger_ms``/``max_batch_size``) is tuned for throughput, because the pipeline sends
    whole batches without awaiting each record. Any keyword overrides the defaults.
    """
    options: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "max_batch_size": 512 * 1024,
        "compression_type": compression_type(),
        "request_timeout_ms": 30000,
    }
    options.update(kw)
    if options["acks"] not in ("all", -1):
        # Idempotence requires acks=all; a caller asking for weaker acks gets plain retries.
        options["enable_idempotence"] = False
    return AIOKafkaProducer(**settings.kafka_client_options(), **options)


Record = tuple[str, int, bytes | None, bytes | None, list]
"""(topic, partition, key, value, headers) of one record to send."""


async def send_batched(producer: AIOKafkaProducer, records: Iterable[Record]) -> asyncio.Future:
    """Append ``records`` to one producer batch per topic-partition (a new one when a
    batch is full) and send them; returns the future of all their acknowledgements,
    which raises a refused batch's error. No per-record ``send``: a batch is built in
    a loop of appends, the cheapest way through aiokafka."""
    builders: dict[tuple[str, int], Any] = {}
    futures = []
    for topic, partition, key, value, headers in records:
        builder = builders.get((topic, partition))
        if builder is None:
            builder = builders[(topic, partition)] = producer.create_batch()
        if builder.append(key=key, value=value, timestamp=None, headers=headers) is None:
            futures.append(await producer.send_batch(builder, topic, partition=partition))
            builder = builders[(topic, partition)] = producer.create_batch()
            if builder.append(key=key, value=value, timestamp=None, headers=headers) is None:
                raise ValueError(f"record of {len(value or b'')} bytes exceeds the producer batch size")
    for (topic, partition), builder in builders.items():
        if builder.record_count():
            futures.append(await producer.send_batch(builder, topic, partition=partition))
    return asyncio.gather(*futures)


def make_consumer(
    settings: Settings, *topics: str, group_id: str | None, **kw: Any
) -> AIOKafkaConsumer:
    """A consumer of ``topics`` (not started). Offsets are committed by the caller.

    ``group_id`` is required on purpose: pass ``settings.consumer_group`` to share work
    with the screening workers, a name of your own for an independent reader, or
    ``None`` to read without a group (no commits, e.g. a check or a dashboard tail).
    Auto-commit is off because the design commits only after the effects (at-least-once).
    Reading starts at the earliest offset when the group has none.
    """
    options: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
    }
    options.update(kw)
    return AIOKafkaConsumer(*topics, **settings.kafka_client_options(), **options)


def topic_specs(settings: Settings, partitions: int | None = None) -> list[NewTopic]:
    """The contract's topics (contract §5) as they should exist on the cluster.

    ``ref.watchlist`` and ``ref.traders`` are compacted (the latest entry per key is the
    state); the others keep everything for the retention period.
    """
    count = partitions or settings.topic_partitions
    replication = settings.topic_replication
    compacted = settings.topics.compacted()
    specs = []
    for name in settings.topics.all().values():
        configs = {"cleanup.policy": "compact" if name in compacted else "delete"}
        if replication >= 3:
            # Survive one broker down without refusing acks=all writes.
            configs["min.insync.replicas"] = "2"
        specs.append(NewTopic(name, count, replication, topic_configs=configs))
    return specs


async def ensure_topics(
    settings: Settings, partitions: int | None = None, timeout_s: float = 60.0
) -> None:
    """Create every contract topic that does not exist yet, then wait until each has leaders.

    Idempotent and safe to call from several workers at once: existing topics are left as
    they are (their partition count and configs are not changed). ``partitions`` overrides
    ``settings.topic_partitions`` for topics created now.
    """
    settings.require_kafka()
    specs = topic_specs(settings, partitions)
    admin = make_admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if missing:
            response = await admin.create_topics(missing, timeout_ms=int(timeout_s * 1000))
            for entry in response.to_object()["topic_errors"]:
                code = entry["error_code"]
                if code not in (0, _TOPIC_ALREADY_EXISTS):
                    raise KafkaSetupError(
                        f"creating topic {entry['topic']} failed (Kafka error {code}): "
                        f"{entry.get('error_message') or 'no message'}; check topic_replication "
                        f"({settings.topic_replication}) against the number of brokers"
                    )
            log.info("created topics: %s", ", ".join(spec.name for spec in missing))
        await _wait_for_leaders(admin, [spec.name for spec in specs], timeout_s)
    finally:
        await admin.close()


async def _wait_for_leaders(
    admin: AIOKafkaAdminClient, topics: list[str], timeout_s: float
) -> None:
    # A created topic is in the controller's log before every broker serves it; producing
    # in that gap gets UNKNOWN_TOPIC_OR_PARTITION, so wait until all partitions have a leader.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        described = await admin.describe_topics(topics)
        pending = [
            t["topic"]
            for t in described
            if t["error_code"] in (_UNKNOWN_TOPIC_OR_PARTITION, _LEADER_NOT_AVAILABLE)
            or not t["partitions"]
            or any(p["leader"] < 0 for p in t["partitions"])
        ]
        failed = [
            t
            for t in described
            if t["error_code"] not in (0, _UNKNOWN_TOPIC_OR_PARTITION, _LEADER_NOT_AVAILABLE)
        ]
        if failed:
            raise KafkaSetupError(f"describing topics failed: {failed}")
        if not pending:
            return
        if loop.time() >= deadline:
            raise KafkaSetupError(
                f"topics without partition leaders after {timeout_s:.0f}s: {pending}"
            )
        await asyncio.sleep(0.2)


async def topic_configs(
    settings: Settings, topics: Iterable[str], keys: Iterable[str] | None = None, timeout_s: float = 15.0
) -> dict[str, dict[str, str]]:
    """The effective configuration of ``topics`` as the cluster reports it.

    ``keys`` limits the answer to those config names (e.g. ``["cleanup.policy"]``). A
    topic created a moment ago may not be known yet to the broker asked (a cluster):
    asked again for up to ``timeout_s`` before its error is raised.
    """
    wanted = dict.fromkeys(keys) if keys is not None else None
    names = list(topics)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    admin = make_admin(settings)
    await admin.start()
    try:
        while True:
            responses = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, name, wanted) for name in names]
            )
            resources = [r for response in responses for r in response.to_object()["resources"]]
            failed = [r for r in resources if r["error_code"]]
            if not failed:
                break
            if loop.time() >= deadline:
                r = failed[0]
                raise KafkaSetupError(
                    f"describing configs of {r['resource_name']} failed: error {r['error_code']} "
                    f"{r['error_message'] or ''}".rstrip()
                )
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    result: dict[str, dict[str, str]] = {}
    for resource in resources:
        result[resource["resource_name"]] = {
            entry["config_names"]: entry["config_value"] for entry in resource["config_entries"]
        }
    return result


def ensure_topics_sync(settings: Settings, partitions: int | None = None) -> None:
    """:func:`ensure_topics` for synchronous callers (CLI commands outside an event loop)."""
    asyncio.run(ensure_topics(settings, partitions))


# ------------------------------------------------------------ global tables

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
