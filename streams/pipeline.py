"""The manifest hot path on Kafka: batch fetch, the screening core, batched transactional
produce, offsets committed inside the same transaction as the effects.

Faust's per-event stream machinery tops out far below our target (design §2), so this
path talks to Kafka through aiokafka directly, while the Faust app hosts it as a
service next to the web server and the low-volume agents (streams/app.py).

Exactly-once on the topics: results, alerts, rejections, dead letters and the input
offsets of one batch are committed in one Kafka transaction. Consumers reading with
``isolation_level=read_committed`` see each output once, even across crashes.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.producer import sender as aiokafka_sender

from cargowatch.kafka import send_batched, topic_partitions
from cargowatch.settings import Settings
from schemas.codec import Codec
from schemas.deadletter import dlq_headers
from schemas.intake import read_kafka_value
from schemas.model import Rejection, Source
from sinks.base import BatchSink, RejectedRecord, ScreenedRecord, SinkBatch
from streams import metrics
from streams.screening import BatchOutcome, Inbound, ScreeningContext, screen_batch

log = logging.getLogger("cargowatch.pipeline")

VERSION_HEADER = "cargowatch-version"
LANE_HEADER = "cargowatch-lane"
FAULT_HANG_ENV = "CARGOWATCH_FAULT_HANG_AFTER_RECORDS"
# Test-only: hang inside a transaction (outputs sent, not committed) once this many records
# were received, so a fault test can kill a worker with a transaction open.
FAULT_HANG_IN_TRANSACTION_ENV = "CARGOWATCH_FAULT_HANG_IN_TRANSACTION_AFTER_RECORDS"
"""Fault injection, for tests only: once this many records are committed, the pipeline
stops screening (hangs) with lag left, so the watchdog's stall detection can be tested
on the real worker. Never set in production."""
TXN_RETRY_S = 0.003
"""A transaction begun right after the previous commit is refused (CONCURRENT_TRANSACTIONS)
until the coordinator has written the previous one's markers, a few milliseconds on a
healthy broker; aiokafka retries it after a fixed 20 ms (its ``BACKOFF_OVERRIDE``,
KAFKA-5477), which every commit cycle paid. Only that retry is shortened: other retries
keep ``retry_backoff_ms``."""
aiokafka_sender.BACKOFF_OVERRIDE = TXN_RETRY_S
CHUNK_WAIT_S = 0.025  # while a commit is in flight, screen what arrived at this interval
FETCH_WAIT_MS = 20  # how long the loop waits for a fetch it asked for (see _fetch_later)
STOP_WAIT_S = 5.0  # how long stop() lets the batch being screened finish and commit


@dataclass
class PipelineStats:
    """Counters since start, for the demo's live summary and the benchmark."""

    received: int = 0
    screened: int = 0
    rejected: int = 0
    replays: int = 0
    out_of_order: int = 0
    alerts: int = 0
    lanes: dict[str, int] = field(default_factory=dict)
    referrals: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    last_commit_monotonic: float = field(default_factory=time.monotonic)
    lag: int = 0


def transactional_id(settings: Settings) -> str:
    """The worker's Kafka transactional id: ``cargowatch-<worker_id>`` when configured (a
    restart with the same id fences the predecessor), else unique per process.

    >>> transactional_id(Settings.load(env={"CARGOWATCH_WORKER_ID": "w1"}))
    'cargowatch-w1'
    """
    if settings.worker_id:
        return f"cargowatch-{settings.worker_id}"
    return f"cargowatch-{socket.gethostname()}-{os.getpid()}"


def _now() -> datetime:
    return datetime.now(UTC)


GC_THRESHOLDS = (10_000, 20, 20)
"""Young-generation threshold 10,000 allocations (CPython's default is 700): a 2,000-record
batch allocates ~1 million objects, so the default ran ~1,500 young collections per
20,000 records and a full collection every few batches."""


SWITCH_INTERVAL_S = 0.001


def settle_heap() -> None:
    """Before the stream starts: move everything loaded so far (reference data, the
    watchlist index: millions of objects that live as long as the process) out of the
    cyclic collector's sight, and collect less often.

    Each full collection traversed the whole 300,000-name index: 1.5 s with the GIL held,
    in the middle of a batch (in-process profile, 2026-11-28); with the index frozen it
    takes tens of milliseconds. Frozen objects are still freed by reference counting
    when a list is swapped out. Call once per worker process (it is process-wide)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    # The event loop (Kafka I/O, commits) shares the GIL with the screening thread: a
    # shorter switch interval lets each broker response in sooner (CPython's default 5 ms).
    sys.setswitchinterval(SWITCH_INTERVAL_S)


_Output = tuple[str, int, bytes | None, bytes | None, list]
"""(topic, input partition, key, value, headers) of one record to send."""


@dataclass
class _Prepared:
    """A screened batch ready to commit: its outcome, encoded outputs and next offsets."""

    outcome: BatchOutcome
    outputs: list[_Output]
    offsets: dict[TopicPartition, int]
    # Per sink, what its ``prepare`` built from each chunk (archive rows as Arrow tables):
    # built on the screening thread, so the commit's sink flush only writes.
    sink_parts: list[list[Any]] = field(default_factory=list)


def _merge(parts: Sequence[tuple[Sequence, _Prepared]]) -> tuple[list, _Prepared]:
    """Several screened chunks as one batch: records concatenated, indices shifted."""
    if len(parts) == 1:
        return list(parts[0][0]), parts[0][1]
    records: list = []
    out = BatchOutcome()
    outputs: list[_Output] = []
    offsets: dict[TopicPartition, int] = {}
    sink_parts: list[list[Any]] = [[] for _ in parts[0][1].sink_parts]
    for recs, prepared in parts:
        base = len(records)
        records.extend(recs)
        o = prepared.outcome
        out.results.extend((i + base, r) for i, r in o.results)
        out.alerts.extend((i + base, a) for i, a in o.alerts)
        out.rejections.extend((i + base, r) for i, r in o.rejections)
        out.screened.extend((i + base, m) for i, m in o.screened)
        out.replays.extend(i + base for i in o.replays)
        out.out_of_order.extend(i + base for i in o.out_of_order)
        outputs.extend(prepared.outputs)
        for tp, offset in prepared.offsets.items():
            offsets[tp] = max(offsets.get(tp, -1), offset)
        for mine, theirs in zip(sink_parts, prepared.sink_parts, strict=True):
            mine.extend(theirs)
    return records, _Prepared(out, outputs, offsets, sink_parts)


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, pipeline: ScreeningPipeline):
        self.pipeline = pipeline

    async def on_partitions_revoked(self, revoked):  # noqa: D401 - aiokafka callback
        metrics.REBALANCES.inc()
        # Records fetched but not yet screening are dropped (the next owner, maybe this
        # worker again, re-reads them from the committed offset) ...
        self.pipeline._generation += 1
        # ... and the batches in flight, screening or screened and waiting belong to these
        # partitions: let them commit (or fail) before the partitions move, so the next
        # owner starts after them.
        await self.pipeline.flush_pending()

    async def on_partitions_assigned(self, assigned):
        # aiokafka sets the assignment (and may fetch) before this callback finishes, so
        # screening waits on this gate until the ledger and the sinks know the partitions.
        pipeline = self.pipeline
        pipeline._ledger_ready.clear()
        try:
            await pipeline.recover_ledger(list(assigned))
            ends = await pipeline.consumer.end_offsets(list(assigned)) if assigned else {}  # type: ignore[union-attr]
            for sink in pipeline.sinks:
                sink.on_assign(
                    pipeline.topics.raw,
                    sorted(tp.partition for tp in assigned),
                    {tp.partition: end for tp, end in ends.items()},
                )
        except Exception as exc:  # noqa: BLE001 - aiokafka would only log it
            # Screening without the ledger could score a replay twice, and a sink that
            # could not take the partitions over (its recovery failed, or it holds another
            # log's offsets) must not be written past: stop, and let the supervisor restart
            # the worker.
            log.error("partitions %s could not be taken over: %s", sorted(tp.partition for tp in assigned), exc)
            pipeline._fatal = exc
        finally:
            pipeline._ledger_ready.set()


class ScreeningPipeline:
    """Consume ``manifests.raw`` in batches and screen them."""

    def __init__(
        self,
        settings: Settings,
        ctx: ScreeningContext,
        codec: Codec | None = None,
        refresh: Callable[[ScreeningContext], None] | None = None,
        sinks: Sequence[BatchSink] = (),
        extra_outputs: Callable[[], list[_Output]] | None = None,
        extra_topics: Sequence[str] = (),
    ):
        """``extra_outputs`` (called on the screening thread after each chunk) adds records to
        the chunk's transaction, e.g. trader-history deltas (streams/history.py), for the
        ``extra_topics``."""
        self.settings = settings
        self.topics = settings.topics
        self.ctx = ctx
        self.codec = codec or Codec()
        self.refresh = refresh
        self.sinks = list(sinks)
        self.extra_outputs = extra_outputs
        self.extra_topics = tuple(extra_topics)
        self.stats = PipelineStats()
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self._stopping = asyncio.Event()
        self._ledger_ready = asyncio.Event()
        self._fatal: BaseException | None = None
        # A batch whose commit failed (aborted): no later batch may commit after it, or
        # its offsets would pass the failed batch's records and lose them.
        self._failed_commit: BaseException | None = None
        self._partitions: dict[str, int] = {}
        self._inflight: asyncio.Task[None] | None = None
        # Screened chunks waiting for the commit in flight to finish (one batch's worth).
        self._pending: list[tuple[Sequence, _Prepared]] = []
        self._pending_count = 0
        # The chunk on the screening thread now, and the rebalance generation: bumped on
        # every revoke, so records fetched before it are never committed after it. (A late
        # commit would duplicate the new owner's work: aiokafka's transactional offset
        # commit carries no group generation the broker could fence, KIP-447.)
        self._screening: tuple[list, asyncio.Future[_Prepared]] | None = None
        self._generation = 0
        self._running: asyncio.Event | None = None
        hang = os.environ.get(FAULT_HANG_ENV, "")
        self._fault_hang_after: int | None = int(hang) if hang else None
        hang = os.environ.get(FAULT_HANG_IN_TRANSACTION_ENV, "")
        self._fault_hang_in_transaction_after: int | None = int(hang) if hang else None

    # -- lifecycle ---------------------------------------------------------------
    async def start(self) -> None:
        opts = self.settings.kafka_client_options()
        self.producer = AIOKafkaProducer(
            **opts,
            transactional_id=transactional_id(self.settings),
            transaction_timeout_ms=int(self.settings.transaction_timeout_s * 1000),
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            # A new transaction's first request is refused while the previous one's
            # markers are written (CONCURRENT_TRANSACTIONS): retry after 20 ms, not 100.
            retry_backoff_ms=20,
            max_batch_size=1 << 20,
            max_request_size=16 << 20,
        )
        await self.producer.start()
        self.consumer = AIOKafkaConsumer(
            **opts,
            group_id=self.settings.consumer_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=self.settings.batch_size,
            fetch_max_bytes=64 << 20,
            max_partition_fetch_bytes=16 << 20,
        )
        await self.consumer.start()
        self.consumer.subscribe([self.topics.raw], listener=_Rebalance(self))
        for topic in (self.topics.screened, self.topics.alerts, self.topics.rejected, self.topics.dlq, *self.extra_topics):
            parts = await self.producer.partitions_for(topic)
            self._partitions[topic] = len(parts)

    async def stop(self) -> None:
        """Let the batch in hand finish and commit (bounded), leave the group, close clients."""
        self._stopping.set()
        if self._running is not None and self._running.is_set():
            # run() is mid-batch: its commit must not race the clients closing below.
            deadline = time.monotonic() + STOP_WAIT_S
            while self._running.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        try:
            await self.flush_pending()
        except Exception:  # noqa: BLE001 - its offsets stay uncommitted: the batch is redone
            log.exception("the last batch could not be committed; it will be processed again")
        for sink in self.sinks:
            sink.close()
        if self.consumer is not None:
            await self.consumer.stop()
        if self.producer is not None:
            await self.producer.stop()

    def request_stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Fetch and screen batches until ``request_stop``.

        Screening and committing overlap: while batch N's transaction commits (sinks
        flushed, outputs sent, offsets committed), the records arriving meanwhile are
        fetched and screened on a worker thread in chunks; when N's commit is done, all
        of them are committed as batch N+1. So a batch is whatever arrived during one
        commit (up to ``batch_size``): small and quick under light load, large under a
        backlog, and the worker keeps up without building a queue of its own. Commits
        stay strictly in order, one at a time, each after its own effects; the event
        loop stays free for heartbeats, fetches and /healthz while a chunk is screened.
        """
        assert self.consumer is not None
        linger = self.settings.batch_linger_ms
        size = self.settings.batch_size
        self._running = running = asyncio.Event()
        running.set()
        try:
            while not self._stopping.is_set():
                if self._inflight is not None and self._inflight.done():
                    await self.drain()  # a failed commit stops the worker now, not a batch later
                if self._pending and self._inflight is None:
                    # Screened while the last commit was in flight: commit it before
                    # screening more, or it would wait for the next chunk's screening.
                    self._start_commit()
                room = max(1, size - self._pending_count)
                wait = linger
                if self._inflight is not None:
                    # A commit is in flight: let records gather for a moment (screening
                    # tiny chunks would waste the per-call costs), then take what is
                    # there; it joins the next batch.
                    await asyncio.wait({self._inflight}, timeout=CHUNK_WAIT_S)
                    wait = 0
                if self._fetch_now():
                    wait = max(wait, FETCH_WAIT_MS)
                batches = await self.consumer.getmany(timeout_ms=wait, max_records=room)
                generation = self._generation
                records = [r for part in batches.values() for r in part]
                if records and len(records) < room:
                    self._fetch_later()
                if self._inflight is not None and self._inflight.done():
                    await self.drain()  # a failed commit stops the worker now, not a batch later
                if self._stopping.is_set():
                    break  # fetched, not screened: uncommitted, the next owner takes them
                if records:
                    await self._screen_into_pending(records, generation)
                if not self._pending:
                    await self.update_lag()
                    if self.stats.lag == 0 and self._inflight is None:
                        # Idle with nothing to do is progress; an empty fetch while lag
                        # remains is not (that is the stall the watchdog is for).
                        self.stats.last_commit_monotonic = time.monotonic()
                    continue
                if self._inflight is not None and self._pending_count < size:
                    continue  # keep gathering until the commit in flight is done
                await self.drain()
                if self._pending:  # (a commit chained on the last one may have taken them)
                    self._start_commit()
                await self.update_lag()
        finally:
            try:
                await self.flush_pending()
            finally:
                running.clear()

    def _fetch_later(self) -> None:
        """The fetch buffer was drained (the worker keeps up): fetch no more until the
        loop comes for records again (``_fetch_now``).

        aiokafka fetches a partition again as soon as its buffered records are taken, and
        holds what comes back until the next ``getmany``: a whole screening interval
        later. Those records were a whole interval old before they were even screened
        (median 86 ms at 2,500 manifests/s a worker, 2026-11-29). Fetched when the loop
        asks, they are as old as the time since the previous fetch. Under a backlog the
        buffer is not drained, and prefetching goes on while a chunk is screened."""
        assert self.consumer is not None
        if assigned := self.consumer.assignment():
            self.consumer.pause(*assigned)

    def _fetch_now(self) -> bool:
        """Resume fetching what ``_fetch_later`` paused: the fetch goes out at once.
        True when it did (the caller waits for that fetch)."""
        assert self.consumer is not None
        if paused := self.consumer.paused():
            self.consumer.resume(*paused)
            return True
        return False

    def _start_commit(self) -> None:
        if self._inflight is not None and not self._inflight.done():
            # Two open transactions on one producer: aiokafka refuses the second, and the
            # later offsets could commit before the earlier batch's. drain() first.
            raise RuntimeError("a commit started while another was in flight")
        if self._failed_commit is not None:
            raise RuntimeError(
                "an earlier batch failed to commit, so nothing after it may: restart the "
                "worker, which screens both again from the last committed offsets"
            ) from self._failed_commit
        parts, self._pending, self._pending_count = self._pending, [], 0
        records, prepared = _merge(parts)
        task = asyncio.create_task(self._commit(records, prepared))
        task.add_done_callback(self._next_commit)
        self._inflight = task

    def _next_commit(self, task: asyncio.Task[None]) -> None:
        """A batch committed: start committing what was screened meanwhile at once, even
        while the run loop is still screening a chunk (that chunk joins the batch after).
        Waiting for the loop cost a chunk's screening time on every commit cycle.

        Also while someone drains (a rebalance's flush waits for this chain to end), but
        not after a failure (``drain`` raises it: nothing after a failed batch may
        commit) nor once stopping (``stop`` commits what is pending itself)."""
        if task.cancelled() or task.exception() is not None:
            if self._failed_commit is None:  # (_commit marks its own failures)
                self._failed_commit = task.exception() if not task.cancelled() else asyncio.CancelledError()
            return
        if task is not self._inflight:
            return
        if self._pending and not self._stopping.is_set():
            self._start_commit()

    async def _screen_into_pending(self, records: list, generation: int) -> None:
        """Screen fetched records into the next batch, unless a rebalance revoked partitions
        since they were fetched: then they are left for the next owner."""
        if generation != self._generation:
            log.info("rebalance: %d fetched records left to the partitions' next owner", len(records))
            return
        task = asyncio.ensure_future(self._screen(records))
        self._screening = (records, task)
        try:
            prepared = await task
        finally:
            # A revoke meanwhile takes the chunk over and commits it (flush_pending).
            mine = self._screening is not None and self._screening[1] is task
            if mine:
                self._screening = None
        if mine:
            self._pending.append((records, prepared))
            self._pending_count += len(records)

    async def flush_pending(self) -> None:
        """Commit the batch in flight, the chunk being screened and whatever is screened and
        waiting (before the partitions move or the worker stops); raises a commit's error."""
        await self.drain()
        if self._screening is not None:
            records, task = self._screening
            self._screening = None
            self._pending.append((records, await task))
            self._pending_count += len(records)
            await self.drain()  # the run loop may have started a commit meanwhile
        if self._failed_commit is not None and self._pending:
            # Its error went to whoever drained it (the worker stops on it); these come
            # after it, so they stay uncommitted too and are screened again.
            log.warning("%d screened records left uncommitted after a failed commit", self._pending_count)
            self._pending, self._pending_count = [], 0
        if self._pending:
            self._start_commit()
            await self.drain()

    async def drain(self) -> None:
        """Wait until no batch is in flight: the one committing now and any chained on it
        (``_next_commit``); raises a commit's error.

        Several callers may wait at once (the run loop, a rebalance's flush, stop): each
        sees the task until it is done, so none of them starts a commit beside it."""
        while (task := self._inflight) is not None:
            try:
                await task
            finally:
                if self._inflight is task:
                    self._inflight = None

    # -- one batch ---------------------------------------------------------------
    async def process(self, records: Sequence) -> BatchOutcome:
        """Screen one fetched batch and commit its effects and offsets atomically."""
        prepared = await self._screen(records)
        await self.drain()
        await self._commit(records, prepared)
        return prepared.outcome

    async def _screen(self, records: Sequence) -> _Prepared:
        assert self.producer is not None and self.consumer is not None
        await self._ledger_ready.wait()
        if self._fatal is not None:
            raise RuntimeError(f"the assigned partitions could not be taken over: {self._fatal}") from self._fatal
        if self._fault_hang_after is not None and self.stats.received >= self._fault_hang_after:
            log.warning("fault injection (%s): screening hangs now", FAULT_HANG_ENV)
            await asyncio.Event().wait()
        if self.refresh is not None:
            self.refresh(self.ctx)
        # CPU-bound: on a thread, so a long batch never starves the consumer's heartbeat
        # (a blocked loop on a busy machine got the worker expelled from the group).
        return await asyncio.to_thread(self._screen_sync, records, _now())

    def _screen_sync(self, records: Sequence, now: datetime) -> _Prepared:
        t0 = time.perf_counter()
        inbound: list[Inbound] = []
        codec = self.codec
        # Records of a fetch often share a producer timestamp (milliseconds): convert each once.
        stamps: dict[int, datetime] = {}
        for i, rec in enumerate(records):
            source = Source("kafka", rec.topic, rec.partition, rec.offset)
            ts = rec.timestamp
            received = stamps.get(ts) if ts else now
            if received is None:
                received = stamps[ts] = datetime.fromtimestamp(ts / 1000, UTC)
            item = read_kafka_value(rec.value, codec, source, received)
            inbound.append(Inbound(i, item, received, source))
        t1 = time.perf_counter()
        metrics.STAGE_SECONDS.labels("decode").observe(t1 - t0)
        outcome = screen_batch(inbound, self.ctx, now)
        outputs = self._encode_outputs(records, outcome)
        t2 = time.perf_counter()
        metrics.STAGE_SECONDS.labels("screen").observe(t2 - t1)
        sink_parts: list[list[Any]] = []
        if self.sinks:
            batch = self._sink_batch(records, outcome)
            sink_parts = [[sink.prepare(batch)] for sink in self.sinks]
            metrics.STAGE_SECONDS.labels("sinks_prepare").observe(time.perf_counter() - t2)
        offsets: dict[TopicPartition, int] = {}
        for rec in records:
            tp = TopicPartition(rec.topic, rec.partition)
            offsets[tp] = max(offsets.get(tp, -1), rec.offset + 1)
        return _Prepared(outcome, outputs, offsets, sink_parts)

    async def _commit(self, records: Sequence, prepared: _Prepared) -> None:
        """One transaction: the outputs, the input offsets; the sinks flushed meanwhile and
        always before the commit (design §4)."""
        assert self.producer is not None
        t0 = time.perf_counter()
        stage = metrics.STAGE_SECONDS.labels
        flush: asyncio.Future[None] | None = None
        if self.sinks:
            flush = asyncio.ensure_future(asyncio.to_thread(self._flush_sinks, prepared))
        try:
            async with self.producer.transaction():
                delivered = await self._send_outputs(prepared.outputs)
                t1 = time.perf_counter()
                stage("commit_send").observe(t1 - t0)
                limit = self._fault_hang_in_transaction_after
                if limit is not None and self.stats.received + len(records) >= limit:
                    await delivered
                    log.warning("fault injection (%s): hanging inside the transaction", FAULT_HANG_IN_TRANSACTION_ENV)
                    await asyncio.Event().wait()
                # The offsets join the transaction while the outputs are on their way (one
                # round trip less per commit); the commit below follows both, and an output
                # the broker refuses raises here, so the transaction aborts.
                await asyncio.gather(
                    delivered,
                    self.producer.send_offsets_to_transaction(prepared.offsets, self.settings.consumer_group),
                )
                t2 = time.perf_counter()
                stage("commit_offsets").observe(t2 - t1)
                if flush is not None:
                    await flush
                t3 = time.perf_counter()
                stage("commit_sinks_wait").observe(t3 - t2)
            stage("commit_end").observe(time.perf_counter() - t3)
        except BaseException as exc:
            # Marked here, before the task is done: whoever sees the failure first (a
            # drain, the run loop's last flush) must find it, and done callbacks run later.
            self._failed_commit = exc
            raise
        finally:
            if flush is not None and not flush.done():
                await asyncio.wait([flush])
        metrics.STAGE_SECONDS.labels("produce").observe(time.perf_counter() - t0)
        self._account(records, prepared.outcome)

    def _sink_batch(self, records: Sequence, outcome: BatchOutcome) -> SinkBatch:
        batch = SinkBatch(topic=self.topics.raw)
        for (idx, result), (_, manifest) in zip(outcome.results, outcome.screened, strict=True):
            rec = records[idx]
            batch.screened.append(ScreenedRecord(rec.partition, rec.offset, manifest, result))
        for idx, rejection in outcome.rejections:
            rec = records[idx]
            batch.rejected.append(RejectedRecord(rec.partition, rec.offset, rejection, rec.value))
        return batch

    def _flush_sinks(self, prepared: _Prepared) -> None:
        t0 = time.perf_counter()
        for sink, parts in zip(self.sinks, prepared.sink_parts, strict=True):
            for part in parts:
                sink.add_prepared(part)
            sink.flush()
        metrics.STAGE_SECONDS.labels("sinks").observe(time.perf_counter() - t0)

    def _encode_outputs(self, records: Sequence, outcome: BatchOutcome) -> list[_Output]:
        """Every output record of the batch, encoded (on the screening thread)."""
        out: list[_Output] = []
        t = self.topics
        screened_values = self.codec.encode_many("ScreeningResult", [r for _, r in outcome.results])
        # Version for the replay ledger's recovery, lane so counters need not decode: one
        # list per (version, lane), shared by the records that have it (headers are only read).
        result_headers: dict[tuple[int, str], list] = {}
        for (idx, result), value in zip(outcome.results, screened_values, strict=True):
            version_lane = (result.version, result.lane)
            header = result_headers.get(version_lane)
            if header is None:
                header = result_headers[version_lane] = [
                    (VERSION_HEADER, str(result.version).encode()),
                    (LANE_HEADER, result.lane.encode()),
                ]
            out.append((t.screened, records[idx].partition, result.manifest_id.encode(), value, header))
        alert_values = self.codec.encode_many("Alert", [a for _, a in outcome.alerts])
        for (idx, alert), value in zip(outcome.alerts, alert_values, strict=True):
            out.append((t.alerts, records[idx].partition, alert.manifest_id.encode(), value, []))
        rejection_values = self.codec.encode_many("Rejection", [r for _, r in outcome.rejections])
        failed_at = _now()
        for (idx, rejection), value in zip(outcome.rejections, rejection_values, strict=True):
            rec = records[idx]
            key = rejection.manifest_id.encode() if rejection.manifest_id else rec.key
            out.append((t.rejected, rec.partition, key, value, []))
            stage = "decode" if rejection.manifest_id is None and _is_schema_only(rejection) else "validate"
            headers = dlq_headers(stage, rejection.errors, rejection.source, failed_at)
            out.append((t.dlq, rec.partition, rec.key, rec.value, headers))
        if self.extra_outputs is not None:
            out.extend(self.extra_outputs())
        return out

    async def _send_outputs(self, outputs: Sequence[_Output]) -> asyncio.Future:
        """Append the encoded outputs to one producer batch per topic-partition and send;
        returns the future of their acknowledgements (it raises a refused batch's error)."""
        assert self.producer is not None
        counts = self._partitions
        return await send_batched(
            self.producer,
            ((topic, partition % counts[topic], key, value, headers) for topic, partition, key, value, headers in outputs),
        )

    def _account(self, records: Sequence, outcome: BatchOutcome) -> None:
        s = self.stats
        n = len(records)
        s.received += n
        s.screened += len(outcome.results)
        s.rejected += len(outcome.rejections)
        s.replays += len(outcome.replays)
        s.out_of_order += len(outcome.out_of_order)
        s.alerts += len(outcome.alerts)
        s.batches += 1
        s.last_commit_monotonic = time.monotonic()
        metrics.MANIFESTS.labels("intake", "received").inc(n)
        metrics.MANIFESTS.labels("route", "screened").inc(len(outcome.results))
        metrics.MANIFESTS.labels("route", "rejected").inc(len(outcome.rejections))
        metrics.MANIFESTS.labels("route", "replay").inc(len(outcome.replays))
        metrics.MANIFESTS.labels("route", "out_of_order").inc(len(outcome.out_of_order))
        metrics.LAST_COMMIT.set(time.time())
        now = time.time()
        kinds = Counter((result.lane, result.referral) for _, result in outcome.results)
        for (lane, referral), k in kinds.items():
            s.lanes[lane] = s.lanes.get(lane, 0) + k
            s.referrals[referral] = s.referrals.get(referral, 0) + k
            metrics.RESULTS.labels(lane, referral).inc(k)
        stamps = [records[idx].timestamp for idx, _ in outcome.results]
        metrics.observe_many(metrics.END_TO_END, [max(0.0, now - ts / 1000) for ts in stamps if ts])
        for _, alert in outcome.alerts:
            metrics.ALERTS.labels(alert.lane, alert.referral).inc()
        for _, rejection in outcome.rejections:
            stage = "decode" if _is_schema_only(rejection) else "validate"
            for code in sorted({e.code for e in rejection.errors}):
                metrics.DLQ.labels(stage, code).inc()

    async def update_lag(self) -> None:
        """Refresh ``stats.lag`` (and the lag gauges) from the consumer's positions."""
        consumer = self.consumer
        if consumer is None:
            return
        total = 0
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is None:
                continue
            try:
                position = await consumer.position(tp)
            except Exception:  # noqa: BLE001 - lag is best effort, never fatal
                continue
            lag = max(0, end - position)
            total += lag
            metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(lag)
        self.stats.lag = total

    # -- replays across restarts and rebalances ------------------------------------
    async def recover_ledger(self, assigned: list[TopicPartition]) -> None:
        """Rebuild which versions were screened for the newly assigned partitions, from
        the committed results on the same partition numbers of ``manifests.screened``."""
        if not assigned:
            return
        opts = self.settings.kafka_client_options()
        reader = AIOKafkaConsumer(**opts, enable_auto_commit=False, isolation_level="read_committed")
        await reader.start()
        try:
            n_parts = len(await topic_partitions(reader, self.topics.screened)) or 1
            tps = sorted(
                {TopicPartition(self.topics.screened, tp.partition % n_parts) for tp in assigned},
                key=lambda tp: tp.partition,
            )
            reader.assign(tps)
            await reader.seek_to_beginning(*tps)
            ends = await reader.end_offsets(tps)
            remaining = {tp for tp in tps if ends[tp] > 0}
            seen = 0
            while remaining:
                batch = await reader.getmany(*remaining, timeout_ms=1000, max_records=10000)
                for recs in batch.values():
                    for rec in recs:
                        version = dict(rec.headers or ()).get(VERSION_HEADER)
                        if rec.key and version:
                            self.ctx.ledger.mark(rec.key.decode(), int(version))
                            seen += 1
                for tp in list(remaining):
                    if await reader.position(tp) >= ends[tp]:
                        remaining.discard(tp)
            log.info("ledger recovered: %d results on %d partitions", seen, len(tps))
        finally:
            await reader.stop()


def _is_schema_only(rejection: Rejection) -> bool:
    return all(e.code == "SCHEMA" for e in rejection.errors)
