"""The worker: a Faust app hosting the manifest pipeline, the reference-data feeds, the
decisions agent, and the worker's HTTP endpoints (/healthz, /metrics).

Faust owns the process: lifecycle, signals (SIGTERM stops services in order: the pipeline
finishes its batch, commits, leaves the group), the web server and the low-volume agents.
The manifest hot path itself is a batch service (streams/pipeline.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust
import msgspec
from mode import Service
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cargowatch.kafka import TopicTail
from cargowatch.settings import Settings
from enrichers.traders import TraderHistory, register_record_handler
from enrichers.watchlist.feed import WatchlistFeed
from enrichers.watchlist.normalize import Normalizer
from enrichers.watchlist.store import WatchlistStore
from schemas.codec import Codec, registry_from_settings
from schemas.model import Decision
from sinks.archive import ArchiveSink
from streams import metrics
from streams.context import build_context
from streams.history import attach_trader_history, changelog_handler, delta_outputs
from streams.pipeline import ScreeningPipeline, settle_heap, transactional_id
from streams.scoring import RulesetWatcher
from streams.screening import ScreeningContext

log = logging.getLogger("cargowatch.worker")

WATCHDOG_EXIT_GRACE_S = 15.0
"""After the watchdog's SIGTERM, how long the clean shutdown may take before the process
is ended anyway (the SIGTERM path itself needs under 10 s when nothing is stuck)."""


def worker_pipeline(
    settings: Settings,
    ctx: ScreeningContext,
    codec: Codec,
    archive_dir: str | Path,
    refresh: Callable[[ScreeningContext], None] | None = None,
) -> ScreeningPipeline:
    """The worker's pipeline: the Parquet archive as its sink, and the trader-history
    deltas each batch teaches ``ctx.history`` sent in the batch's own transaction.
    (``cargowatch bench`` measures the same one without a broker.)"""
    deltas = settings.topics.trader_history_deltas
    return ScreeningPipeline(
        settings, ctx, codec, refresh=refresh, sinks=[ArchiveSink(archive_dir)],
        extra_outputs=delta_outputs(ctx.history, deltas, settings.topic_partitions),  # type: ignore[arg-type]
        extra_topics=[deltas],
    )


def _exit_now(code: int) -> None:
    log.error("watchdog: clean shutdown did not finish in %.0f s; exiting with %d", WATCHDOG_EXIT_GRACE_S, code)
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)


def _on_watchlist_swap(index) -> None:
    """A new list version is screening: count its entries, and move the new index's
    objects out of the cyclic collector's sight as the first one was (settle_heap), so
    full collections do not traverse them again after every list update."""
    _count_entries(index)
    gc.freeze()


def _count_entries(index) -> None:
    counts: dict[str, int] = {}
    for entry in index.entries:
        counts[entry.list_id] = counts.get(entry.list_id, 0) + 1
    for list_id, n in counts.items():
        metrics.WATCHLIST_ENTRIES.labels(list_id).set(n)


class Health:
    """The watchdog's view: healthy unless offsets stop advancing while lag > 0."""

    def __init__(self, stall_timeout_s: float):
        self.stall_timeout_s = stall_timeout_s
        self.started = time.monotonic()
        self.reason = ""

    def check(self, pipeline: ScreeningPipeline | None) -> tuple[bool, str]:
        if pipeline is None:
            return True, "starting"
        stalled_for = time.monotonic() - pipeline.stats.last_commit_monotonic
        if pipeline.stats.lag > 0 and stalled_for > self.stall_timeout_s:
            self.reason = f"no commit for {stalled_for:.0f}s while lag is {pipeline.stats.lag}"
            return False, self.reason
        return True, "ok"


def _broker_url(settings: Settings) -> str:
    hosts = settings.require_kafka().split(",")
    return ";".join(f"kafka://{h.strip()}" for h in hosts if h.strip())


def _credentials(settings: Settings):
    if settings.kafka_sasl_mechanism:
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=settings.kafka_client_options().get("ssl_context"),
        )
    if settings.kafka_security_protocol == "SSL":
        return faust.SSLCredentials(settings.kafka_client_options()["ssl_context"])
    return None


def _faust_reads_committed() -> None:
    """Make Faust's consumer read only committed records (``isolation.level``
    ``read_committed``), process-wide.

    Faust reads uncommitted records unless its own exactly-once mode is on, which we do
    not use (it runs a transaction per partition). But the trader-history deltas are
    written in the screening transactions: a batch whose transaction aborts (a worker
    killed mid-commit) is screened again by the next owner, so the fold must not see its
    first deltas, or the traders' shipments count the batch twice. aiokafka takes the
    level from the consumer's ``_isolation_level`` when it starts; Faust has no setting
    for it (faust-streaming 0.15). The other topics Faust reads (decisions, the
    changelog) are not transactional: for them both levels read the same records."""
    from faust.transport.drivers import aiokafka as driver

    create = driver.AIOKafkaConsumerThread._create_worker_consumer
    if getattr(create, "cargowatch_read_committed", False):
        return

    def create_read_committed(self: Any, transport: Any) -> Any:
        consumer = create(self, transport)
        consumer._isolation_level = "read_committed"
        return consumer

    create_read_committed.cargowatch_read_committed = True  # type: ignore[attr-defined]
    driver.AIOKafkaConsumerThread._create_worker_consumer = create_read_committed  # type: ignore[method-assign]


async def _add_gap_in_order(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
    """Faust's ``Consumer._add_gap`` without rebuilding the gap tree for a gap past every
    gap it holds.

    Faust notes each gap in a partition's offsets (here: the transaction markers on the
    trader-history deltas, one per screening batch) in an IntervalTree, and after each it
    calls ``merge_overlaps``, which builds the whole tree again: 16% of the event loop's
    busy time at 1,000 manifests/s (2026-11-29). Gaps come in offset order, so a new one
    normally starts where no held gap reaches and cannot overlap; only then is the
    rebuild skipped, and the tree is the one faust would have (its merge joins
    overlapping gaps only, not adjacent ones)."""
    committed = self._committed_offset[tp]
    gaps = self._gap[tp]
    if committed is not None:
        offset_from = max(offset_from, committed + 1)
    if offset_from > offset_to:
        return
    if not gaps or gaps.end() <= offset_from:
        gaps.addi(offset_from, offset_to + 1)
        return
    await _faust_add_gap(self, tp, offset_from, offset_to)


def _faust_gaps_in_order() -> None:
    """Install ``_add_gap_in_order`` on Faust's consumer, once per process."""
    from faust.transport.consumer import Consumer

    global _faust_add_gap
    if Consumer._add_gap is not _add_gap_in_order:
        _faust_add_gap = Consumer._add_gap
        Consumer._add_gap = _add_gap_in_order  # type: ignore[method-assign]


_faust_add_gap: Any = None


def create_app(settings: Settings, ctx: ScreeningContext | None = None) -> faust.App:
    """The worker's Faust app. ``ctx`` defaults to one built from the settings."""
    _faust_reads_committed()
    _faust_gaps_in_order()
    Path(settings.state_dir, "faust").mkdir(parents=True, exist_ok=True)
    app = faust.App(
        "cargowatch",
        broker=_broker_url(settings),
        broker_credentials=_credentials(settings),
        autodiscover=False,
        store="memory://",
        web_enabled=True,
        web_host=settings.http_host,
        web_port=settings.http_port,
        web_in_thread=False,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        datadir=f"{settings.state_dir}/faust",
        loghandlers=[],
        # No standby copies of the trader-history table: a standby applies every changelog
        # record through Faust's per-event machinery on the event loop the commits share
        # (10% of its time at 1,500 manifests/s, 2026-11-28), while each worker's replica is
        # already fed by its own tail (streams/history.py). A partition that moves is
        # recovered from its compacted changelog instead, off the manifests' path.
        table_standby_replicas=0,
    )
    codec = Codec(registry_from_settings(settings.schema_registry_url))
    state: dict[str, Any] = {"ctx": ctx, "pipeline": None}
    health = Health(settings.stall_timeout_s)
    app.cargowatch_state = state  # type: ignore[attr-defined]
    app.cargowatch_health = health  # type: ignore[attr-defined]

    decisions_topic = app.topic(
        settings.topics.decisions, key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw"
    )
    # Trader history: a Faust table fed by deltas (streams/history.py)
    history_of_decision = attach_trader_history(
        app, settings, lambda: state["ctx"].history if state["ctx"] is not None else None  # type: ignore[attr-defined]
    )

    @app.agent(decisions_topic)
    async def decisions(stream):
        """Hit rate per rule, and the decision into the trader-history table (PRIOR_FINDINGS):
        each decision handled once across the group."""
        async for value in stream:
            try:
                decision = msgspec.convert(codec.decode("Decision", value), Decision)
            except Exception as exc:  # noqa: BLE001 - a bad decision record must not stop the agent
                log.warning("unreadable decision record skipped: %s", exc)
                continue
            for rule_id in decision.rule_ids or ["(none)"]:
                metrics.DECISIONS.labels(decision.outcome, rule_id).inc()
            await history_of_decision(decision)

    class ScreeningService(Service):
        """Runs the batch pipeline inside the Faust worker's lifecycle."""

        async def on_start(self) -> None:
            from cargowatch.kafka import ensure_topics

            await ensure_topics(settings)
            if state["ctx"] is None:
                state["ctx"] = await asyncio.to_thread(build_context, settings)
            ctx: ScreeningContext = state["ctx"]  # type: ignore[assignment]
            # The history is a replica of the trader-history table, read back from its
            # changelog with the reference tables below (Kafka is its system of record).
            ctx.history = TraderHistory(origin=transactional_id(settings))
            await self._start_reference_tables(ctx)
            watcher = RulesetWatcher(settings.rules, initial=ctx.ruleset)
            state["rules"] = watcher

            def refresh(c: ScreeningContext) -> None:
                # Cheap per batch: re-reads the file only every poll interval; a refused
                # ruleset is logged and the one in force stays.
                c.ruleset = watcher.current()

            pipeline = worker_pipeline(settings, ctx, codec, settings.archive_dir, refresh)
            settle_heap()  # reference data and lists are loaded: keep them out of the GC's way
            await pipeline.start()
            state["pipeline"] = pipeline

        async def _start_reference_tables(self, ctx: ScreeningContext) -> None:
            """Tail ref.traders, ref.watchlist and the trader-history changelog into this
            worker's tables; wait (bounded) until all have caught up so the first manifests
            see the published lists and the history learned before this start."""
            store = WatchlistStore(normalizer=Normalizer.default(settings.refdata), on_swap=_on_watchlist_swap)
            if ctx.screener is None:
                ctx.screener = store.screener
            tails: list[TopicTail | WatchlistFeed] = [
                TopicTail(settings, settings.topics.traders, register_record_handler(ctx.traders, codec)),  # type: ignore[arg-type]
                WatchlistFeed(settings, store, codec),
                TopicTail(settings, settings.topics.trader_history, changelog_handler(ctx.history)),  # type: ignore[arg-type]
            ]
            state["tails"] = tails
            state["watchlist_store"] = store
            for tail in tails:
                self.add_future(tail.run())
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(t.caught_up.wait() for t in tails)), settings.reference_wait_s
                )
                await asyncio.to_thread(store.wait_idle, settings.reference_wait_s)
            except TimeoutError:
                log.warning("reference topics not caught up in %ss; screening starts anyway", settings.reference_wait_s)
            log.info(
                "reference data: %d traders, watchlists %s; trader history: %d traders",
                len(ctx.traders),  # type: ignore[arg-type]
                ctx.screener.list_versions(),
                len(ctx.history),  # type: ignore[arg-type]
            )

        async def on_stop(self) -> None:
            for tail in state.get("tails", []):  # type: ignore[union-attr]
                tail.stop()
            pipeline = state["pipeline"]
            if pipeline is not None:
                pipeline.request_stop()  # type: ignore[union-attr]
                await asyncio.sleep(0)
                await pipeline.stop()  # type: ignore[union-attr]

        @Service.task
        async def _run(self) -> None:
            pipeline: ScreeningPipeline = state["pipeline"]  # type: ignore[assignment]
            await pipeline.run()

        @Service.task
        async def _watchdog(self) -> None:
            while not self.should_stop:
                await self.sleep(min(5.0, max(0.5, settings.stall_timeout_s / 4)))
                pipeline = state["pipeline"]
                if pipeline is not None:
                    # Fresh lag even when the run loop is stuck (it refreshes lag itself
                    # only between batches).
                    with contextlib.suppress(Exception):
                        await pipeline.update_lag()  # type: ignore[union-attr]
                ok, reason = health.check(pipeline)  # type: ignore[arg-type]
                if not ok:
                    log.error("watchdog: %s; exiting so the supervisor restarts this worker", reason)
                    app.cargowatch_exit_code = 3  # type: ignore[attr-defined]
                    # app.stop() alone stops the app's services but leaves the faust
                    # Worker (and so the process) running; SIGTERM takes the same clean
                    # shutdown path as a supervisor's stop, and the CLI exits with 3.
                    os.kill(os.getpid(), signal.SIGTERM)
                    # The clean path can itself hang on what stalled (a batch that never
                    # finishes screening is waited for before the partitions are given
                    # up): a timer thread, independent of the event loop, ends it.
                    timer = threading.Timer(WATCHDOG_EXIT_GRACE_S, _exit_now, args=(3,))
                    timer.daemon = True
                    timer.start()
                    return

    app.service(ScreeningService)

    @app.page("/healthz")
    async def healthz(web, request):
        ok, reason = health.check(state["pipeline"])  # type: ignore[arg-type]
        pipeline = state["pipeline"]
        body = {
            "status": "ok" if ok else "unhealthy",
            "reason": reason,
            "lag": getattr(getattr(pipeline, "stats", None), "lag", None),
            "time": datetime.now(UTC).isoformat(),
        }
        return web.json(body, status=200 if ok else 503)

    @app.page("/metrics")
    async def metrics_page(web, request):
        return web.bytes(generate_latest(metrics.REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    return app


class _QuietWorker(faust.Worker):
    """faust's Worker without its terminal spinner. Faust turns the spinner on for a log
    level of WARNING or above and then sets the root logger to DEBUG, so that every debug
    call of aiokafka and faust builds a LogRecord for the spinner: about 7% of the
    worker's GIL time in the benchmark (py-spy, 2026-11-28). A service has no terminal to
    spin in."""

    def _disable_spinner_if_level_below_WARN(self, level: int) -> None:
        self.spinner = None


def run_worker(app: faust.App, loglevel: str) -> None:
    """Run a Faust app as a worker until it stops, exiting with the app's own exit code
    when it set one (the watchdog's 3) and faust's otherwise."""
    worker = _QuietWorker(app, loglevel=loglevel, quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = getattr(app, "cargowatch_exit_code", None)
        raise SystemExit(code if code else exc.code) from None
