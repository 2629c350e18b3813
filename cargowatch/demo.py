"""`cargowatch demo`: everything in one command, for a first look.

Starts a local Kafka unless one is configured, publishes reference data (a watchlist and a
trader register), runs a worker and the dashboard as child processes, generates realistic
traffic at the requested rate, and shows a live summary (lanes, rejections, throughput,
lag). Stops everything it started on Ctrl-C or after ``duration`` seconds.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from cargowatch.localkafka import LocalKafka
from cargowatch.settings import Settings
from schemas.codec import Codec

LANE_STYLE = {"GREEN": "green", "BLUE": "blue", "YELLOW": "yellow", "RED": "red"}


@dataclass
class DemoCounts:
    produced: int = 0
    screened: int = 0
    rejected: int = 0
    lanes: dict[str, int] = field(default_factory=dict)
    referrals: dict[str, int] = field(default_factory=dict)
    codes: dict[str, int] = field(default_factory=dict)
    lag: int = 0
    started: float = field(default_factory=time.monotonic)

    def skipped_estimate(self) -> int:
        """Replays and out-of-order amendments are not re-screened; the generator plants a
        few. What is neither screened nor rejected once the lag is 0 is those."""
        return 0 if self.lag else max(0, self.produced - self.screened - self.rejected)


def _child_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["CARGOWATCH_KAFKA_BOOTSTRAP"] = settings.kafka_bootstrap
    env["CARGOWATCH_TOPIC_PREFIX"] = settings.topic_prefix
    env["CARGOWATCH_REFDATA"] = settings.refdata
    env["CARGOWATCH_STATE_DIR"] = settings.state_dir
    env["CARGOWATCH_ARCHIVE_DIR"] = settings.archive_dir
    return env


def _spawn(args: list[str], settings: Settings, log_path: Path) -> subprocess.Popen:
    log = log_path.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "cargowatch", *args],
        env=_child_env(settings),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches the demo only; the demo stops children in order
    )


def _stop_child(proc: subprocess.Popen | None, timeout: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def traffic_lines(generator, count: int | None, chunk: int = 5_000) -> Iterator[bytes]:
    """Generated manifests as JSON lines from one generator (so the traders stay the ones
    in the published register), endless when ``count`` is None."""
    enc = msgspec.json.Encoder()
    produced = 0
    while count is None or produced < count:
        n = chunk if count is None else min(chunk, count - produced)
        for record, _label in generator.records(n):
            yield enc.encode(record)
        produced += n


async def _watch_outputs(settings: Settings, counts: DemoCounts, stop: asyncio.Event) -> None:
    """Count results and rejections as the worker commits them (read_committed)."""
    codec = Codec()
    t = settings.topics
    consumer = AIOKafkaConsumer(
        t.screened,
        t.rejected,
        **settings.kafka_client_options(),
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, records in batch.items():
                for rec in records:
                    if tp.topic == t.screened:
                        result = codec.decode("ScreeningResult", rec.value)
                        counts.screened += 1
                        counts.lanes[result["lane"]] = counts.lanes.get(result["lane"], 0) + 1
                        counts.referrals[result["referral"]] = counts.referrals.get(result["referral"], 0) + 1
                    else:
                        rejection = codec.decode("Rejection", rec.value)
                        counts.rejected += 1
                        for code in {e["code"] for e in rejection["errors"]}:
                            counts.codes[code] = counts.codes.get(code, 0) + 1
    finally:
        await consumer.stop()


async def _watch_lag(settings: Settings, counts: DemoCounts, stop: asyncio.Event) -> None:
    admin = AIOKafkaAdminClient(**settings.kafka_client_options())
    probe = AIOKafkaConsumer(**settings.kafka_client_options(), enable_auto_commit=False)
    await admin.start()
    await probe.start()
    try:
        while not stop.is_set():
            with suppress(Exception):  # lag is informative only
                committed = await admin.list_consumer_group_offsets(settings.consumer_group)
                raw = {tp: meta.offset for tp, meta in committed.items() if tp.topic == settings.topics.raw}
                if raw:
                    ends = await probe.end_offsets(list(raw))
                    counts.lag = sum(max(0, ends[tp] - off) for tp, off in raw.items())
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 2.0)
    finally:
        await probe.stop()
        await admin.close()


def _summary(counts: DemoCounts, dashboard_url: str | None, duration: float | None) -> Panel:
    elapsed = time.monotonic() - counts.started
    lanes = Table(title="lanes", show_edge=False)
    for lane in ("GREEN", "BLUE", "YELLOW", "RED"):
        lanes.add_column(lane, style=LANE_STYLE[lane], justify="right")
    lanes.add_row(*(str(counts.lanes.get(lane, 0)) for lane in ("GREEN", "BLUE", "YELLOW", "RED")))
    figures = Table(show_header=False, show_edge=False)
    rate = counts.screened / elapsed if elapsed > 0 else 0.0
    figures.add_row("produced", str(counts.produced))
    figures.add_row("screened", str(counts.screened))
    figures.add_row("rejected", str(counts.rejected))
    figures.add_row("replays (not re-screened)", str(counts.skipped_estimate()))
    figures.add_row("throughput", f"{rate:,.0f} manifests/s")
    figures.add_row("consumer lag", str(counts.lag))
    figures.add_row(
        "referrals", ", ".join(f"{k} {v}" for k, v in sorted(counts.referrals.items()) if k != "NONE") or "-"
    )
    figures.add_row("rejection codes", ", ".join(f"{k} {v}" for k, v in sorted(counts.codes.items())) or "-")
    head = f"dashboard: {dashboard_url}" if dashboard_url else "dashboard: off"
    tail = f"{elapsed:,.0f}s" + (f" of {duration:,.0f}s" if duration else " (Ctrl-C to stop)")
    return Panel(Group(head, figures, lanes), title="cargowatch demo", subtitle=tail)


async def run_demo(
    settings: Settings,
    *,
    duration: float | None,
    rate: float,
    dashboard_port: int | None,
    seed: int = 7,
    workdir: Path | None = None,
    console: Console | None = None,
) -> DemoCounts:
    """Run the demo; returns the final counts. Everything started here is stopped here."""
    console = console or Console()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="cargowatch-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    settings = settings.replace(
        state_dir=str(workdir / "state"),
        archive_dir=settings.archive_dir if settings.archive_dir != "var/archive" else str(workdir / "archive"),
    )
    kafka: LocalKafka | None = None
    worker = dashboard = None
    stop = asyncio.Event()
    counts = DemoCounts()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if not settings.kafka_bootstrap:
            with console.status("starting a local Kafka (first run downloads it from Maven Central)…"):
                kafka = LocalKafka(workdir / "kafka")
                bootstrap = await asyncio.to_thread(kafka.start)
            settings = settings.replace(kafka_bootstrap=bootstrap)
            console.print(f"local Kafka at [bold]{bootstrap}[/bold] (log: {workdir / 'kafka'})")
        from cargowatch.kafka import ensure_topics

        await ensure_topics(settings)
        from cargowatch.generator import GeneratorConfig, ManifestGenerator
        from enrichers.refdata import ReferenceData

        generator = ManifestGenerator(ReferenceData.load(settings.refdata), GeneratorConfig(), seed)
        with console.status("publishing reference data (watchlist, trader register)…"):
            await _publish_reference_data(settings, workdir, generator, console)
        worker = _spawn(["worker"], settings, workdir / "worker.log")
        console.print(f"worker started (pid {worker.pid}, log {workdir / 'worker.log'})")
        dashboard_url = None
        if dashboard_port is not None:
            dashboard = _spawn(["dashboard", "--port", str(dashboard_port), "--demo-user"], settings, workdir / "dashboard.log")
            dashboard_url = f"http://{settings.http_host}:{dashboard_port}/  (login: officer / officer-demo)"
            console.print(f"dashboard: [bold]{dashboard_url}[/bold]")

        from cargowatch.ingest import produce_lines

        count = int(rate * duration) if duration else None
        counts.started = time.monotonic()
        produce_stop = asyncio.Event()
        producer_task = asyncio.create_task(
            produce_lines(
                settings,
                traffic_lines(generator, count),
                rate=rate,
                stop=produce_stop,
                on_progress=lambda n: setattr(counts, "produced", n),
            )
        )
        watchers = [
            asyncio.create_task(_watch_outputs(settings, counts, stop)),
            asyncio.create_task(_watch_lag(settings, counts, stop)),
        ]
        deadline = time.monotonic() + duration if duration else None
        with Live(_summary(counts, dashboard_url, duration), console=console, refresh_per_second=2) as live:
            while not stop.is_set():
                if deadline and time.monotonic() >= deadline:
                    break
                if worker.poll() is not None:
                    console.print(f"[red]worker exited with {worker.returncode}; see {workdir / 'worker.log'}[/red]")
                    break
                with suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)
                live.update(_summary(counts, dashboard_url, duration))
            produce_stop.set()
            with suppress(Exception):
                summary = await producer_task
                counts.produced = summary.sent
            # Give the worker a moment to drain what was produced, unless Ctrl-C was pressed.
            drain_until = time.monotonic() + 15
            while not stop.is_set() and time.monotonic() < drain_until and worker.poll() is None:
                if counts.screened + counts.rejected + counts.skipped_estimate() >= counts.produced and counts.lag == 0:
                    break
                with suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)
                live.update(_summary(counts, dashboard_url, duration))
            stop.set()
            await asyncio.gather(*watchers, return_exceptions=True)
            live.update(_summary(counts, dashboard_url, duration))
    finally:
        stop.set()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await asyncio.to_thread(_stop_child, dashboard)
        await asyncio.to_thread(_stop_child, worker)
        if kafka is not None:
            with console.status("stopping the local Kafka…"):
                await asyncio.to_thread(kafka.stop)
    console.print(
        f"demo finished: {counts.produced} produced, {counts.screened} screened, {counts.rejected} rejected; "
        f"files in {workdir}"
    )
    return counts


async def _publish_reference_data(settings: Settings, workdir: Path, generator, console: Console) -> None:
    """The UN consolidated list (from the reference-data directory) and the generator's
    trader register, published to the compacted reference topics the workers read."""
    import csv

    from enrichers.traders import publish_register, read_register_file
    from enrichers.watchlist.loaders import load_watchlist
    from enrichers.watchlist.publish import publish_version

    un = Path(settings.refdata) / "sanctions" / "un"
    lists = sorted(un.glob("*.xml")) if un.is_dir() else []
    if lists:
        version = await asyncio.to_thread(load_watchlist, lists[-1], "un")
        await publish_version(settings, version)
        console.print(f"watchlist {version.list_id} {version.version} published: {len(version.entries)} entries")
    else:
        console.print(f"[yellow]no UN list under {un}: screening runs without a watchlist[/yellow]")
    register = workdir / "traders.csv"
    fields = ["trader_id", "name", "country", "aeo_certificate", "aeo_valid_until", "risk_notes"]
    with register.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in generator.register():
            writer.writerow(row)
    n = await publish_register(settings, read_register_file(register))
    console.print(f"trader register published: {n} traders")
