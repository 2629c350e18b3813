"""What the fault tests share: a generated workload with its expected outcome, worker
subprocesses (the real ``cargowatch worker``), and readers that count what reached the
topics (``read_committed``) and the Parquet archive.

Named ``fault_harness`` (not ``helpers``) so it never clashes with another folder's
module on pytest's rootdir-based import path.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import msgspec
import polars as pl
from aiokafka import AIOKafkaConsumer, TopicPartition

from cargowatch.bench.data import BenchRecord, with_manifest_id
from cargowatch.bench.measure import Subprocess, committed_total, produce
from cargowatch.generator import GeneratorConfig, generate
from cargowatch.ingest import frame_line
from cargowatch.settings import Settings
from enrichers.refdata import ReferenceData
from schemas.codec import Codec
from sinks.archive import scan_screened

VERSION_HEADER = "cargowatch-version"


@dataclass(frozen=True)
class Workload:
    """Records for ``manifests.raw`` and what the pipeline must make of them."""

    records: list[BenchRecord]
    rejected: int  # planted invalid records
    replays: int  # exact resends of a valid (id, version)
    valid_keys: frozenset[tuple[str, int]]  # every distinct valid (manifest_id, version)

    @property
    def screened(self) -> int:
        return len(self.valid_keys)

    def __len__(self) -> int:
        return len(self.records)


@cache
def _pool(
    refdata: str, size: int, seed: int
) -> tuple[tuple[BenchRecord, str | None, bool, str, int], ...]:
    ref = ReferenceData.load(refdata)
    codec = Codec()
    enc = msgspec.json.Encoder()
    out = []
    for record, label in generate(size, seed, ref, GeneratorConfig()):
        key, value, framed = frame_line(enc.encode(record), codec)
        out.append(
            (
                BenchRecord(key, value, framed),
                label.invalid_code,
                label.replay,
                label.manifest_id,
                label.version,
            )
        )
    return tuple(out)


def workload(
    refdata: str, count: int, *, pool: int = 2000, seed: int = 77, tag: str = ""
) -> Workload:
    """``count`` generated manifests (default risk, invalid and replay rates): a
    generated pool, cloned with distinct manifest ids (``~<copy><tag>``) up to ``count``."""
    base = _pool(refdata, min(pool, count), seed)
    records: list[BenchRecord] = []
    rejected = replays = 0
    keys: set[tuple[str, int]] = set()
    copy = 0
    while len(records) < count:
        suffix = f"~{copy}{tag}"
        for rec, invalid, _replay, mid, version in base:
            if len(records) >= count:
                break
            if rec.framed and rec.key is not None:
                new_id = rec.key.decode() + suffix
                rec = BenchRecord(new_id.encode(), with_manifest_id(rec.value, new_id), True)
                mid = new_id
            records.append(rec)
            if invalid is not None:
                rejected += 1
            elif (mid, version) in keys:
                replays += 1
            else:
                keys.add((mid, version))
        copy += 1
    return Workload(records, rejected, replays, frozenset(keys))


async def produce_workload(settings: Settings, wl: Workload) -> None:
    """Publish the workload to ``manifests.raw`` as fast as the broker takes it."""
    await produce(settings, settings.topics.raw, wl.records)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_env(settings: Settings, **extra: object) -> dict[str, str]:
    """The environment a ``cargowatch worker`` subprocess reads its settings from."""
    keys = (
        "kafka_bootstrap",
        "topic_prefix",
        "consumer_group",
        "topic_partitions",
        "topic_replication",
        "refdata",
        "state_dir",
        "archive_dir",
        "batch_size",
        "stall_timeout_s",
        "reference_wait_s",
        "transaction_timeout_s",
    )
    env = {f"CARGOWATCH_{k.upper()}": str(getattr(settings, k)) for k in keys}
    env["CARGOWATCH_LOG_LEVEL"] = "INFO"
    env.update({k: str(v) for k, v in extra.items()})
    return env


@dataclass
class Worker:
    """A ``cargowatch worker`` subprocess with its own HTTP port and a log file per start
    (the process lifecycle is the benchmark's :class:`Subprocess`)."""

    settings: Settings
    log_dir: Path
    name: str = "worker"
    extra_env: dict[str, object] = field(default_factory=dict)
    port: int = 0
    child: Subprocess | None = None
    starts: int = 0

    def start(self) -> Worker:
        self.port = free_port()
        self.starts += 1
        env = {
            **worker_env(self.settings, **self.extra_env),
            "CARGOWATCH_HTTP_PORT": str(self.port),
            # One id per worker across its restarts: a restart fences its killed predecessor.
            "CARGOWATCH_WORKER_ID": f"{self.settings.topic_prefix}{self.name}",
        }
        self.child = Subprocess(
            name=self.name,
            module="cargowatch",
            args=("worker",),
            env={k: str(v) for k, v in env.items()},
            log_path=self.log_dir / f"{self.name}-{self.starts}.log",
        ).start()
        return self

    @property
    def proc(self) -> subprocess.Popen | None:
        return self.child.proc if self.child else None

    @property
    def pid(self) -> int:
        assert self.child is not None
        return self.child.pid

    def alive(self) -> bool:
        return self.child is not None and self.child.alive()

    def kill(self) -> None:
        """SIGKILL: no flush, no commit, no goodbye to the group."""
        assert self.child is not None
        self.child.kill()

    def terminate(self, timeout_s: float = 30.0) -> tuple[int | None, float]:
        """SIGTERM and wait: (exit code, seconds until the process was gone)."""
        assert self.child is not None
        return self.child.terminate(timeout_s)

    def healthz(self) -> tuple[int, str]:
        """(HTTP status, body) of /healthz; (0, "") when it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    def log_tail(self, lines: int = 60) -> str:
        return self.child.tail(lines) if self.child else ""

    def stop(self) -> None:
        if self.alive():
            self.terminate(20)


async def wait_committed(
    settings: Settings,
    target: int,
    timeout_s: float,
    *,
    workers: list[Worker] = (),  # type: ignore[assignment]
    until: int | None = None,
    on_poll: Callable[[int], None] | None = None,
) -> int:
    """Poll the group's committed offsets on ``manifests.raw`` until ``until`` (default
    ``target``) is reached; fails with the workers' log tails on timeout."""
    goal = target if until is None else until
    deadline = time.monotonic() + timeout_s
    total = 0
    while time.monotonic() < deadline:
        total = await committed_total(settings, settings.consumer_group, settings.topics.raw)
        if on_poll:
            on_poll(total)
        if total >= goal:
            return total
        await asyncio.sleep(0.5)
    tails = "\n\n".join(
        f"--- {w.name} (start {w.starts}, alive {w.alive()}):\n{w.log_tail()}" for w in workers
    )
    raise AssertionError(
        f"committed {total} of {goal} on {settings.topics.raw} after {timeout_s:.0f}s\n{tails}"
    )


async def read_topic(settings: Settings, topic: str, timeout_s: float = 120.0) -> list:
    """Every committed record of ``topic`` (read_committed, from the beginning to the end).

    The end is the log end, not the last stable offset: a killed worker's open transaction
    holds read_committed readers back until the broker aborts it (transaction_timeout_s),
    and reading only to the stable offset would miss everything its successor wrote after it.
    """
    ends = await _log_end_offsets(settings, topic)
    consumer = AIOKafkaConsumer(
        **settings.kafka_client_options(),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=10_000,
        fetch_max_bytes=64 << 20,
    )
    await consumer.start()
    out: list = []
    try:
        tps = await _topic_partitions(consumer, topic)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        remaining = {tp for tp in tps if ends[tp] > 0}
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            batch = await consumer.getmany(*remaining, timeout_ms=500)
            for recs in batch.values():
                out.extend(recs)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        assert not remaining, (
            f"{topic}: could not read to the log end within {timeout_s}s "
            f"(positions {[await consumer.position(tp) for tp in remaining]}, ends {[ends[tp] for tp in remaining]}): "
            "a transaction left open longer than the worker's transaction_timeout_s?"
        )
    finally:
        await consumer.stop()
    return out


async def _topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic``, waiting for the metadata to name them."""
    parts = consumer.partitions_for_topic(topic)
    while not parts:
        await consumer._client.force_metadata_update()  # noqa: SLF001 - no public metadata wait
        parts = consumer.partitions_for_topic(topic)
    return [TopicPartition(topic, p) for p in sorted(parts)]


async def _log_end_offsets(
    settings: Settings, topic: str, isolation_level: str = "read_uncommitted"
) -> dict[TopicPartition, int]:
    """The end offset of each partition of ``topic``: the log end (read_uncommitted, past
    open transactions) or the last stable offset (read_committed)."""
    consumer = AIOKafkaConsumer(**settings.kafka_client_options(), group_id=None, isolation_level=isolation_level)
    await consumer.start()
    try:
        return await consumer.end_offsets(await _topic_partitions(consumer, topic))
    finally:
        await consumer.stop()


async def open_transactions(settings: Settings, topic: str) -> list[int]:
    """Partitions of ``topic`` whose last stable offset is behind the log end: a
    transaction is open on them and read_committed readers wait there."""
    stable = await _log_end_offsets(settings, topic, "read_committed")
    end = await _log_end_offsets(settings, topic)
    return sorted(tp.partition for tp in end if stable[tp] < end[tp])


def screened_keys(records: list) -> Counter[tuple[str, int]]:
    """(manifest_id, version) of each record on manifests.screened, counted."""
    return Counter((r.key.decode(), int(dict(r.headers)[VERSION_HEADER])) for r in records)


def alert_keys(records: list, codec: Codec | None = None) -> Counter[tuple[str, int]]:
    """(manifest_id, version) of each record on alerts, counted."""
    codec = codec or Codec()
    out: Counter[tuple[str, int]] = Counter()
    for r in records:
        alert = codec.decode("Alert", r.value)
        out[(alert["manifest_id"], alert["version"])] += 1
    return out


def archive_screened(root: Path) -> pl.DataFrame:
    """The screened rows of the Parquet archive (empty frame when there are none)."""
    if not any(root.glob("screened/**/*.parquet")):
        return pl.DataFrame(
            {"manifest_id": [], "version": []},
            schema={"manifest_id": pl.String, "version": pl.Int32},
        )
    return scan_screened(root).select("manifest_id", "version").collect()


def archive_rejected(root: Path) -> pl.DataFrame:
    if not any(root.glob("rejected/**/*.parquet")):
        return pl.DataFrame({"input_partition": [], "input_offset": []})
    return pl.read_parquet(root / "rejected" / "**" / "*.parquet", hive_partitioning=True).select(
        "input_partition", "input_offset"
    )


async def assert_nothing_lost_nothing_twice(
    settings: Settings, wl: Workload, archive: Path
) -> dict[str, int]:
    """The invariants every fault test ends with: each valid (manifest_id, version) has
    exactly one result on the topic and one row in the archive; each invalid record one
    rejection; at most one alert per version; in = screened + rejected + replays."""
    screened = screened_keys(await read_topic(settings, settings.topics.screened))
    rejected = await read_topic(settings, settings.topics.rejected)
    alerts = alert_keys(await read_topic(settings, settings.topics.alerts))
    twice = {k: n for k, n in screened.items() if n > 1}
    assert not twice, (
        f"{len(twice)} versions screened more than once, e.g. {list(twice.items())[:3]}"
    )
    assert set(screened) == set(wl.valid_keys), (
        f"screened {len(screened)} versions, expected {wl.screened}: "
        f"missing {len(wl.valid_keys - set(screened))}, unexpected {len(set(screened) - wl.valid_keys)}"
    )
    assert len(rejected) == wl.rejected, (
        f"{len(rejected)} rejections for {wl.rejected} invalid records"
    )
    assert len(screened) + len(rejected) + wl.replays == len(wl), (
        "in != screened + rejected + replays"
    )
    double_alerts = {k: n for k, n in alerts.items() if n > 1}
    assert not double_alerts, f"alerts twice: {list(double_alerts.items())[:3]}"
    assert set(alerts) <= set(screened)

    rows = archive_screened(archive)
    assert rows.height == wl.screened, (
        f"archive has {rows.height} screened rows for {wl.screened} versions"
    )
    assert rows.unique().height == rows.height, "a version is in the archive twice"
    assert set(zip(rows["manifest_id"], rows["version"], strict=True)) == set(wl.valid_keys)
    rej_rows = archive_rejected(archive)
    assert rej_rows.height == wl.rejected and rej_rows.unique().height == rej_rows.height
    return {
        "screened": len(screened),
        "rejected": len(rejected),
        "replays": wl.replays,
        "alerts": len(alerts),
    }


async def group_members(settings: Settings, group: str) -> tuple[str, int]:
    """(state, number of members) of a consumer group as the coordinator sees it."""
    from aiokafka.errors import GroupCoordinatorNotAvailableError, NotCoordinatorError

    from cargowatch.kafka import make_admin

    admin = make_admin(settings)
    await admin.start()
    try:
        for attempt in range(30):
            try:
                responses = await admin.describe_consumer_groups([group])
                break
            except (GroupCoordinatorNotAvailableError, NotCoordinatorError):
                # The coordinator is (re)loading the group: a moment, not an answer.
                if attempt == 29:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await admin.close()
    # DescribeGroups v0-v3: (error_code, group_id, state, protocol_type, protocol, members, ...)
    info = responses[0].groups[0]
    return str(info[2]), len(info[5])
