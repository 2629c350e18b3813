"""The project's own Kafka: topics, clients and the local broker scripts, on a real broker.

Checked against clients we did not write (kcat, i.e. librdkafka) and against the pinned
faust-streaming + aiokafka pair, so a broker upgrade that breaks either fails here.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord

from cargowatch.kafka import ensure_topics, make_admin, make_consumer, make_producer, topic_configs
from cargowatch.settings import Settings

pytestmark = pytest.mark.integration

# Bounded waits: a broken feature fails with a message instead of hanging the run.
WAIT_S = 90.0


async def read_records(settings: Settings, topic: str, count: int) -> list[ConsumerRecord]:
    """Read ``count`` records of ``topic`` from the beginning (no consumer group)."""
    consumer = make_consumer(settings, topic, group_id=None)
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while len(records) < count:
            assert asyncio.get_running_loop().time() < deadline, (
                f"only {len(records)} of {count} records arrived on {topic}"
            )
            batches = await consumer.getmany(timeout_ms=500)
            for batch in batches.values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def describe(settings: Settings, topic: str) -> dict[str, Any]:
    admin = make_admin(settings)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return described


async def wait_for_partitions(
    settings: Settings, topic: str, condition: Callable[[dict[str, Any]], bool], failure: str
) -> None:
    """Wait until ``condition`` holds for every partition of ``topic`` (metadata propagates)."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:
        described = await describe(settings, topic)
        if all(condition(p) for p in described["partitions"]):
            return
        assert asyncio.get_running_loop().time() < deadline, f"{failure}: {described}"
        await asyncio.sleep(0.5)


def kcat() -> str:
    path = shutil.which("kcat")
    # Not a skip: the test is the point. `make system-deps` installs it.
    assert path, "kcat is not installed: run `make system-deps` (apt-get install -y kcat)"
    return path


async def test_ensure_topics_creates_contract_topics_with_cleanup_policy(
    settings: Settings,
) -> None:
    await ensure_topics(settings)
    await ensure_topics(settings)  # idempotent: a second worker starting finds them all

    names = settings.topics.all()
    configs = await topic_configs(settings, names.values(), ["cleanup.policy"])
    assert configs[settings.topics.watchlist]["cleanup.policy"] == "compact"
    assert configs[settings.topics.traders]["cleanup.policy"] == "compact"
    for role in ("raw", "dlq", "rejected", "screened", "alerts", "decisions"):
        assert configs[names[role]]["cleanup.policy"] == "delete", role
    for topic in names.values():
        described = await describe(settings, topic)
        assert len(described["partitions"]) == settings.topic_partitions, topic
        assert all(p["leader"] >= 0 for p in described["partitions"]), topic


async def test_ensure_topics_uses_the_requested_partition_count(settings: Settings) -> None:
    await ensure_topics(settings, partitions=5)
    described = await describe(settings, settings.topics.raw)
    assert len(described["partitions"]) == 5


async def test_round_trip_with_aiokafka_keeps_key_value_headers_and_order(
    settings: Settings,
) -> None:
    await ensure_topics(settings)
    topic = settings.topics.raw
    producer = make_producer(settings)
    await producer.start()
    try:
        sent = [
            await producer.send(
                topic,
                value=f"manifest-{i}".encode(),
                key=f"MRN{i % 4}".encode(),
                headers=[("source", b"test")],
            )
            for i in range(40)
        ]
        metadata = await asyncio.gather(*sent)
    finally:
        await producer.stop()
    assert {m.topic for m in metadata} == {topic}

    records = await read_records(settings, topic, 40)
    assert sorted(r.value for r in records) == sorted(f"manifest-{i}".encode() for i in range(40))
    assert all(r.headers == (("source", b"test"),) for r in records)
    # Same key, same partition, in the order sent: what per-manifest ordering relies on.
    by_key: dict[bytes, list[tuple[int, bytes]]] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        assert r.key is not None and r.value is not None
        by_key.setdefault(r.key, []).append((r.partition, r.value))
    for key, seen in by_key.items():
        assert len({p for p, _ in seen}) == 1, key
        numbers = [int(v.split(b"-")[1]) for _, v in seen]
        assert numbers == sorted(numbers), key


async def test_kcat_reads_what_we_produce_and_we_read_what_kcat_produces(
    settings: Settings,
) -> None:
    await ensure_topics(settings)
    topic = settings.topics.screened
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, value=b'{"lane":"RED"}', key=b"MRN-KCAT-1", headers=[("cw-codes", b"HS_CODE")]
        )
    finally:
        await producer.stop()

    out = await asyncio.to_thread(
        subprocess.run,
        [
            kcat(),
            "-b",
            settings.kafka_bootstrap,
            "-C",
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-J",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert out.returncode == 0, out.stderr
    (line,) = [line for line in out.stdout.splitlines() if line.strip()]
    envelope = json.loads(line)
    assert envelope["key"] == "MRN-KCAT-1"
    assert envelope["payload"] == '{"lane":"RED"}'
    assert envelope["headers"] == ["cw-codes", "HS_CODE"]

    raw = settings.topics.raw
    out = await asyncio.to_thread(
        subprocess.run,
        [kcat(), "-b", settings.kafka_bootstrap, "-P", "-t", raw, "-K", ":", "-X", "acks=all"],
        input="MRN-FROM-KCAT:hello from librdkafka\n",
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert out.returncode == 0, out.stderr
    (record,) = await read_records(settings, raw, 1)
    assert (record.key, record.value) == (b"MRN-FROM-KCAT", b"hello from librdkafka")


FAUST_APP = textwrap.dedent(
    '''
    """A minimal faust app: the pinned faust + aiokafka against the pinned broker."""
    import os

    import faust

    PREFIX = os.environ["ECHO_PREFIX"]
    app = faust.App(
        PREFIX + "echo",
        broker="kafka://" + os.environ["ECHO_BOOTSTRAP"],
        store="memory://",
        web_enabled=False,
        datadir=os.environ["ECHO_DATADIR"],
        topic_partitions=2,
        consumer_auto_offset_reset="earliest",
    )
    source = app.topic(PREFIX + "echo.in", value_serializer="raw", key_serializer="raw")
    sink = app.topic(PREFIX + "echo.out", value_serializer="raw", key_serializer="raw")


    @app.agent(source)
    async def shout(stream):
        async for event in stream.events():
            await sink.send(key=event.key, value=event.value.upper())
    '''
)


async def test_faust_app_consumes_and_produces_on_the_pinned_broker(
    settings: Settings, tmp_path: Path
) -> None:
    """faust-streaming 0.15.3 + aiokafka 0.14.0 work with the broker kafka.sh pins."""
    prefix = settings.topic_prefix
    producer = make_producer(settings)
    await producer.start()
    try:
        for i in range(10):
            await producer.send(
                prefix + "echo.in", key=f"k{i}".encode(), value=f"manifest {i}".encode()
            )
        await producer.flush()
    finally:
        await producer.stop()

    app_file = tmp_path / "echo_app.py"
    app_file.write_text(FAUST_APP)
    env = {
        **os.environ,
        "ECHO_PREFIX": prefix,
        "ECHO_BOOTSTRAP": settings.kafka_bootstrap,
        "ECHO_DATADIR": str(tmp_path / "faust-data"),
    }
    log_path = tmp_path / "faust.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "faust",
                "-A",
                "echo_app",
                "worker",
                "-l",
                "info",
                "--without-web",
            ],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            records = await read_records(settings, prefix + "echo.out", 10)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nfaust log:\n{log_path.read_text()[-4000:]}") from None
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    assert sorted((r.key, r.value) for r in records) == sorted(
        (f"k{i}".encode(), f"MANIFEST {i}".encode()) for i in range(10)
    )


@pytest.mark.slow
async def test_cluster_keeps_accepting_acks_all_writes_with_one_broker_down(
    kafka_cluster: Any, topic_prefix: str
) -> None:
    settings = Settings.load().replace(
        kafka_bootstrap=kafka_cluster.bootstrap,
        topic_prefix=topic_prefix,
        topic_replication=3,
        topic_partitions=3,
    )
    await ensure_topics(settings)
    topic = settings.topics.raw
    configs = await topic_configs(settings, [topic], ["min.insync.replicas"])
    assert configs[topic]["min.insync.replicas"] == "2"
    before = await describe(settings, topic)
    assert all(len(p["replicas"]) == 3 for p in before["partitions"])

    # Take down the leader of partition 0 so a leader election has to happen.
    victim = next(p["leader"] for p in before["partitions"] if p["partition"] == 0)
    await asyncio.to_thread(kafka_cluster.stop_broker, victim)
    await wait_for_partitions(
        settings, topic, lambda p: victim not in p["isr"], f"broker {victim} still in an ISR"
    )

    producer = make_producer(settings)  # acks=all, idempotent
    await producer.start()
    try:
        sent = [await producer.send(topic, key=f"MRN{i}".encode(), value=b"x") for i in range(30)]
        acked = await asyncio.gather(*sent)
    finally:
        await producer.stop()
    assert len(acked) == 30
    assert {m.partition for m in acked} <= {0, 1, 2}
    assert len(await read_records(settings, topic, 30)) == 30

    await asyncio.to_thread(kafka_cluster.start_broker, victim)
    # The restarted broker catches up and rejoins every ISR.
    await wait_for_partitions(
        settings, topic, lambda p: len(p["isr"]) == 3, f"broker {victim} did not rejoin the ISRs"
    )
