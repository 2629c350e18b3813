"""Measuring on the broker: producing the inputs, reading a consumer group's committed
progress, sampling a process's CPU and memory, and end-to-end latency.

Rates come from Kafka itself (committed offsets of the group under test), so the
pipeline, the baseline and any future contender are measured the same way from outside
the process, whatever they do inside.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaError

from cargowatch.bench.data import BenchRecord
from cargowatch.kafka import make_admin, make_producer
from cargowatch.settings import Settings


async def create_topics(settings: Settings, names: Sequence[str], partitions: int) -> None:
    """Create ``names`` (replication as the settings say) if they do not exist yet."""
    admin = make_admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        todo = [
            NewTopic(n, partitions, settings.topic_replication) for n in names if n not in existing
        ]
        if todo:
            await admin.create_topics(todo)
    finally:
        await admin.close()


TICK_S = 0.01
"""A fixed load is offered in ticks of this length: each tick sends the records due by
then, each stamped when it is sent. Paced one record at a time (one produce request
each), 5,000/s cost the load generator 88% of a core and the broker 40% (2026-11-29,
no workers running); in 10 ms ticks 20% and 8%, so the workers under test no longer
compete with the harness for the cores."""


async def produce(
    settings: Settings,
    topic: str,
    records: Sequence[BenchRecord],
    *,
    rate: float | None = None,
    tick_s: float = TICK_S,
    on_progress: Callable[[int], None] | None = None,
) -> list[tuple[bytes | None, int]]:
    """Send ``records`` (at ``rate`` per second when given, in ticks of ``tick_s``, else
    as fast as the broker takes them); returns each record's key and Kafka timestamp
    (ms) in order."""
    producer = make_producer(settings, linger_ms=5 if rate is None else 0)
    await producer.start()
    out: list[tuple[bytes | None, int]] = []
    try:
        start = time.monotonic()
        pending: list[asyncio.Future] = []
        keys: list[bytes | None] = []
        for i, rec in enumerate(records):
            # Records sent in one step of the loop share a produce request.
            pending.append(await producer.send(topic, value=rec.value, key=rec.key))
            keys.append(rec.key)
            if rate is not None:
                ahead = (i + 1) / rate - (time.monotonic() - start)
                if ahead > 0:
                    await asyncio.sleep(max(ahead, tick_s))
            if len(pending) >= 5000:
                metas = await asyncio.gather(*pending)
                out.extend(zip(keys, (m.timestamp for m in metas), strict=True))
                pending.clear()
                keys.clear()
                if on_progress:
                    on_progress(len(out))
        if pending:
            metas = await asyncio.gather(*pending)
            out.extend(zip(keys, (m.timestamp for m in metas), strict=True))
        if on_progress:
            on_progress(len(out))
    finally:
        await producer.stop()
    return out


async def committed_total(settings: Settings, group: str, topic: str, retry_s: float = 30.0) -> int:
    """Sum of the group's committed offsets on ``topic`` (0 before its first commit).

    Retries for ``retry_s`` while the group coordinator is unavailable (a fresh cluster
    creating ``__consumer_offsets``, or the coordinator's broker just stopped)."""
    deadline = time.monotonic() + retry_s
    while True:
        admin = make_admin(settings)
        try:
            await admin.start()
            offsets = await admin.list_consumer_group_offsets(group)
            break
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
    return sum(max(0, om.offset) for tp, om in offsets.items() if tp.topic == topic)


@dataclass
class ProcessSample:
    """CPU and memory of one process (and its children), sampled on a thread."""

    pid: int
    interval_s: float = 0.5
    cpu_percent: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> ProcessSample:
        proc = psutil.Process(self.pid)
        proc.cpu_percent(None)

        def loop() -> None:
            while not self._stop.wait(self.interval_s):
                try:
                    self.cpu_percent.append(proc.cpu_percent(None))
                    self.rss_mb.append(proc.memory_info().rss / 2**20)
                except psutil.Error:
                    return

        self._thread = threading.Thread(target=loop, name="bench-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        return self.summary()

    def summary(self) -> dict[str, float]:
        cpu = self.cpu_percent or [0.0]
        return {
            "cpu_percent_mean": round(sum(cpu) / len(cpu), 1),
            "cpu_percent_max": round(max(cpu), 1),
            "rss_mb_peak": round(max(self.rss_mb or [0.0]), 1),
        }


def stage_totals(port: int) -> dict[str, tuple[int, float]]:
    """The worker's ``cargowatch_stage_seconds`` histogram from its /metrics page:
    (batches observed, seconds in total) per stage, plus ``end_to_end`` (records, seconds
    from input timestamp to commit, as the worker sees it); empty when unreadable."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    counts: dict[str, int] = {}
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in ("cargowatch_stage_seconds", "cargowatch_end_to_end_seconds"):
            continue
        for sample in family.samples:
            stage = sample.labels.get("stage", "end_to_end")
            if sample.name.endswith("_count"):
                counts[stage] = int(sample.value)
            elif sample.name.endswith("_sum"):
                sums[stage] = sample.value
    return {k: (counts[k], sums.get(k, 0.0)) for k in counts}


def stage_breakdown(
    before: dict[str, tuple[int, float]], after: dict[str, tuple[int, float]], records: int
) -> dict[str, float]:
    """Per stage between two :func:`stage_totals`: mean milliseconds per batch, plus the
    batches committed and their mean size.

    >>> stage_breakdown({"produce": (1, 0.5)}, {"produce": (3, 0.9), "screen": (2, 0.1)}, 100)
    {'batches': 2, 'records_per_batch': 50.0, 'produce_ms': 200.0, 'screen_ms': 50.0}
    """
    out: dict[str, float] = {}
    batches = after.get("produce", (0, 0.0))[0] - before.get("produce", (0, 0.0))[0]
    out["batches"] = batches
    out["records_per_batch"] = round(records / batches, 1) if batches else 0.0
    for stage, (count, total) in sorted(after.items()):
        n = count - before.get(stage, (0, 0.0))[0]
        if n > 0:
            out[f"{stage}_ms"] = round((total - before.get(stage, (0, 0.0))[1]) / n * 1000, 1)
    return out


@dataclass
class GroupSample:
    """:class:`ProcessSample` of each worker process of a group, summed up: CPU added
    (100% = one core), peak RSS per worker."""

    pids: list[int]
    interval_s: float = 0.5
    samples: list[ProcessSample] = field(default_factory=list)

    def start(self) -> GroupSample:
        self.samples = [ProcessSample(pid, self.interval_s).start() for pid in self.pids]
        return self

    def stop(self) -> dict[str, Any]:
        parts = [s.stop() for s in self.samples]
        return {
            "cpu_percent_mean": round(sum(p["cpu_percent_mean"] for p in parts), 1),
            "cpu_percent_max": round(sum(p["cpu_percent_max"] for p in parts), 1),
            "rss_mb_peak": max(p["rss_mb_peak"] for p in parts),
            "rss_mb_peak_per_worker": [p["rss_mb_peak"] for p in parts],
        }


def thread_cpu(pids: Sequence[int]) -> dict[int, tuple[float, float]]:
    """CPU seconds so far of each process: (its main thread, which runs the worker's
    event loop; all its other threads: screening, sink writes, Kafka's own)."""
    out: dict[int, tuple[float, float]] = {}
    for pid in pids:
        try:
            threads = psutil.Process(pid).threads()
        except psutil.Error:
            continue
        main = sum(t.user_time + t.system_time for t in threads if t.id == pid)
        rest = sum(t.user_time + t.system_time for t in threads if t.id != pid)
        out[pid] = (main, rest)
    return out


async def settle(pids: Sequence[int], max_s: float = 30.0, busy_share: float = 0.1) -> float:
    """Wait until every process in ``pids`` is idle (under ``busy_share`` of a core over a
    second), at most ``max_s``; returns the seconds waited.

    After a backlog the workers may still fold and tail the trader history it left
    (every worker reads every changelog record): a fixed load offered meanwhile would
    measure that catch-up, not the latency at that load. (In the runs of 2026-11-29 they
    were idle within a second: a safeguard, not a measured cause.)"""
    started = time.monotonic()
    before = thread_cpu(pids)
    while time.monotonic() - started < max_s:
        await asyncio.sleep(1.0)
        now = thread_cpu(pids)
        busy = [sum(now[p]) - sum(before[p]) for p in now if p in before]
        before = now
        if all(b < busy_share for b in busy):
            break
    return round(time.monotonic() - started, 1)


def cpu_per_record(
    before: dict[int, tuple[float, float]], after: dict[int, tuple[float, float]], records: int
) -> dict[str, float]:
    """Worker CPU per record between two :func:`thread_cpu` readings (all workers), and
    the event loops' share of it (a process that ended in between counts for nothing).

    >>> cpu_per_record({1: (1.0, 2.0)}, {1: (1.5, 4.0)}, 10_000)
    {'cpu_us_per_record': 250.0, 'event_loop_share': 0.2}
    """
    loop = other = 0.0
    for pid, (main, rest) in after.items():
        main0, rest0 = before.get(pid, (main, rest))
        loop += main - main0
        other += rest - rest0
    total = loop + other
    return {
        "cpu_us_per_record": round(1e6 * total / records, 1) if records else 0.0,
        "event_loop_share": round(loop / total, 3) if total else 0.0,
    }


def rss_mb(pid: int) -> float:
    """The current resident memory of ``pid`` in MiB."""
    return psutil.Process(pid).memory_info().rss / 2**20


@dataclass
class GroupProgress:
    """How fast a consumer group moved through ``target`` records."""

    records: int
    seconds: float
    per_s: float
    completed: bool


async def measure_group(
    settings: Settings,
    group: str,
    topic: str,
    target: int,
    *,
    max_records: int | None = None,
    max_seconds: float = 600.0,
    start_timeout_s: float = 180.0,
    poll_s: float = 0.5,
    on_progress: Callable[[int], None] | None = None,
    alive: Callable[[], bool] = lambda: True,
) -> GroupProgress:
    """Rate of the group's commits on ``topic``: from its first commit progress until
    ``target`` are committed, or ``max_records`` past the first, or ``max_seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + start_timeout_s
    first = await committed_total(settings, group, topic)
    while True:
        now_total = await committed_total(settings, group, topic)
        if now_total > first or now_total >= target:
            break
        if loop.time() > deadline or not alive():
            raise RuntimeError(
                f"group {group} committed nothing on {topic} within {start_timeout_s:.0f}s"
            )
        await asyncio.sleep(poll_s / 5)
    t0, c0 = time.perf_counter(), now_total
    stop_at = target if max_records is None else min(target, c0 + max_records)
    total = c0
    while total < stop_at and time.perf_counter() - t0 < max_seconds and alive():
        await asyncio.sleep(poll_s)
        total = await committed_total(settings, group, topic)
        if on_progress:
            on_progress(total)
    seconds = time.perf_counter() - t0
    done = total - c0
    return GroupProgress(done, seconds, done / seconds if seconds > 0 else 0.0, total >= target)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


@contextlib.contextmanager
def frozen_heap():
    """While measuring latency, keep this process's own garbage collector from pausing
    the load generator and the reader: what is allocated before (the benchmark's
    records, hundreds of thousands of objects) is frozen, so a full collection does not
    traverse it. A pause here delays every result read meanwhile, and counts as the
    pipeline's latency: the latency reader's full collections took up to 0.3 s and set
    the p99 (a probe at 5,000/s, 2026-11-29: p99 568 ms with them, 229 ms without).
    Objects allocated inside are collected as usual; ``gc.unfreeze`` after."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def measure_latency(
    settings: Settings,
    raw_topic: str,
    result_topics: Sequence[str],
    records: Sequence[BenchRecord],
    rate: float,
) -> dict[str, float]:
    """Offer ``records`` at ``rate``/s and time each one from its input Kafka timestamp
    to the moment a ``read_committed`` consumer receives its result."""
    with frozen_heap():
        tail = AIOKafkaConsumer(
            *result_topics,
            **settings.kafka_client_options(),
            group_id=None,
            auto_offset_reset="latest",
            isolation_level="read_committed",
            enable_auto_commit=False,
            fetch_max_wait_ms=20,  # measure the pipeline, not this reader's fetch wait
        )
        await tail.start()
        # Pin the start position before anything is produced, so no result is missed.
        while not tail.assignment():
            await asyncio.sleep(0.05)
        await tail.seek_to_end()
        for tp in tail.assignment():
            await tail.position(tp)
        received: dict[bytes, float] = {}
        expected = {r.key for r in records if r.key is not None}

        async def read() -> None:
            while True:
                batch = await tail.getmany(timeout_ms=200)
                now_ms = time.time() * 1000
                for recs in batch.values():
                    for rec in recs:
                        if rec.key is not None and rec.key not in received:
                            received[rec.key] = now_ms

        lags: list[float] = []
        reader = asyncio.create_task(read())
        monitor = asyncio.create_task(_loop_lag(lags))
        try:
            sent = await produce(settings, raw_topic, records, rate=rate)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len(received.keys() & expected) < len(expected):
                await asyncio.sleep(0.2)
        finally:
            for task in (reader, monitor):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await tail.stop()
        latencies = [received[k] - ts for k, ts in sent if k is not None and k in received]
        return {
            "offered_per_s": round(rate, 1),
            "sent": len(sent),
            "results": len(latencies),
            "missing": len(expected - received.keys()),
            "p50_ms": round(percentile(latencies, 50), 1),
            "p95_ms": round(percentile(latencies, 95), 1),
            "p99_ms": round(percentile(latencies, 99), 1),
            "max_ms": round(max(latencies, default=0.0), 1),
            # How late this process's own loop ran (generator and reader): a result read
            # late counts as latency, so a large figure here makes the others suspect.
            "harness_lag_p99_ms": round(percentile(lags, 99), 1),
            "harness_lag_max_ms": round(max(lags, default=0.0), 1),
        }


LAG_PROBE_S = 0.005


async def _loop_lag(lags: list[float]) -> None:
    """Append, every ``LAG_PROBE_S``, how much later than asked this event loop woke up
    (ms), until cancelled."""
    while True:
        asked = time.perf_counter()
        await asyncio.sleep(LAG_PROBE_S)
        lags.append(max(0.0, (time.perf_counter() - asked - LAG_PROBE_S) * 1000))


@dataclass
class Subprocess:
    """A child Python process (``python -m module args…``), its output in a log file.
    Used by the benchmark and by the fault tests' worker harness."""

    name: str
    module: str
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen | None = None
    args: tuple[str, ...] = ()

    def start(self) -> Subprocess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, *self.args],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self, timeout_s: float = 30.0) -> tuple[int | None, float]:
        """SIGTERM, wait; SIGKILL after ``timeout_s``. Returns (exit code, seconds to exit)."""
        if self.proc is None or self.proc.poll() is not None:
            return (self.proc.returncode if self.proc else None), 0.0
        t0 = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        return code, time.perf_counter() - t0

    def kill(self) -> None:
        """SIGKILL and reap (for a process whose clean stop is not being measured)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
