"""One benchmark run: broker, inputs, the three contenders, latency, the cores.

Everything runs on the same broker in the same run. The phases are sequential so they
never share the two cores; the worker processes are started early only to load their
context (reference data, the 300,000-name watchlist) while the inputs are generated,
and sit idle until their phase.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cargowatch.bench import cores
from cargowatch.bench.baseline_app import APP_ID_ENV, PREFIX_ENV, SOURCE_ENV
from cargowatch.bench.ceiling import run_ceiling
from cargowatch.bench.data import BenchRecord, bench_records, relabel, write_synthetic_watchlist
from cargowatch.bench.measure import (
    GroupSample,
    ProcessSample,
    Subprocess,
    cpu_per_record,
    create_topics,
    measure_group,
    measure_latency,
    produce,
    rss_mb,
    settle,
    stage_breakdown,
    stage_totals,
    thread_cpu,
)
from cargowatch.bench.worker import WATCHLISTS_ENV
from cargowatch.kafka import ensure_topics
from cargowatch.localkafka import LocalKafka
from cargowatch.settings import Settings
from enrichers.refdata import ReferenceData
from streams.pipeline import settle_heap

Step = Callable[[str, float | None], None]
"""Progress callback: (description, fraction done or None)."""


@dataclass(frozen=True)
class BenchConfig:
    """Sizes of one run. ``quick`` is the under-a-minute smoke run, not a claim."""

    count: int = 200_000
    quick: bool = False
    pool_size: int = 10_000
    baseline_max_records: int = 20_000
    baseline_max_s: float = 60.0
    latency_s: float = 30.0
    watchlist_names: int = 300_000
    partitions: int = 6
    batch_size: int = 2000
    core_manifests: int = 20_000
    matcher_queries: int = 10_000  # distinct party names, empty cache (issue 4's figure)
    matcher_recall_sample: int = 300  # queries also run by brute force (rapidfuzz)
    screening_batches: tuple[int, ...] = (2000, 800, 300)  # batch sizes of the screening thread alone
    seed: int = 2026
    workers: int = 1  # worker processes in the group under test

    @classmethod
    def for_run(cls, quick: bool, count: int | None, workers: int | None = None) -> BenchConfig:
        """Sizes of a full or ``--quick`` run; ``workers`` defaults to the machine's cores."""
        n = workers or os.cpu_count() or 1
        if quick:
            return cls(
                workers=n,
                count=count or 6_000,
                quick=True,
                pool_size=400,
                baseline_max_records=2_000,
                baseline_max_s=4.0,
                latency_s=4.0,
                watchlist_names=20_000,
                core_manifests=400,
                matcher_queries=1_000,
                matcher_recall_sample=20,
                screening_batches=(200, 50),
            )
        return cls(count=count or 200_000, workers=n)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(settings: Settings) -> dict[str, str]:
    keys = (
        "kafka_bootstrap",
        "topic_prefix",
        "consumer_group",
        "topic_partitions",
        "refdata",
        "state_dir",
        "archive_dir",
        "http_port",
        "batch_size",
        "stall_timeout_s",
    )
    env = {f"CARGOWATCH_{k.upper()}": str(getattr(settings, k)) for k in keys}
    env["CARGOWATCH_LOG_LEVEL"] = "WARNING"
    return env


def _healthz(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
            return resp.read().decode()
    except OSError:
        return ""


async def _wait_ready(proc: Subprocess, ready: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited during start:\n{proc.tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name} not ready after {timeout_s:.0f}s:\n{proc.tail()}")
        await asyncio.sleep(0.5)


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, OS, Python and the pinned Kafka version."""
    import platform
    import re

    import psutil

    from cargowatch.localkafka import SCRIPT

    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    kafka = re.search(r'KAFKA_VERSION="([^"]+)"', SCRIPT.read_text())
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "kafka": f"Apache Kafka {kafka.group(1) if kafka else '?'} (KRaft, 1 broker, local)",
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def prepare(cfg: BenchConfig, work: Path) -> tuple[ReferenceData, list[str]]:
    """Reference data and the watchlist files (the real lists plus the synthetic one)."""
    settings = Settings.load()
    ref = ReferenceData.load(settings.refdata)
    synthetic = work / "watchlist-synthetic.csv"
    write_synthetic_watchlist(synthetic, cfg.watchlist_names)
    return ref, [*cores.refdata_files(settings.refdata), str(synthetic)]


async def run_kafka_phases(
    cfg: BenchConfig,
    bootstrap: str,
    work: Path,
    step: Step,
    ref: ReferenceData,
    watchlists: list[str],
) -> dict[str, Any]:
    """Ceiling, baseline, pipeline and latency on ``bootstrap``."""
    stamp = datetime.now(UTC).strftime("%H%M%S")
    prefix = f"bench{stamp}.{os.getpid()}."
    settings = Settings.load().replace(
        kafka_bootstrap=bootstrap,
        topic_prefix=prefix,
        consumer_group=f"{prefix}pipeline",
        topic_partitions=cfg.partitions,
        state_dir=str(work / "state"),
        archive_dir=str(work / "archive"),
        http_port=_free_port(),
        batch_size=cfg.batch_size,
        stall_timeout_s=3600.0,
    )
    out: dict[str, Any] = {"topic_prefix": prefix}
    out["watchlist_files"] = [Path(p).name for p in watchlists]

    await ensure_topics(settings)
    ceiling_in, ceiling_out = f"{prefix}ceiling.in", f"{prefix}ceiling.out"
    baseline_in, baseline_prefix = f"{prefix}baseline.in", f"{prefix}baseline."
    await create_topics(
        settings,
        [
            ceiling_in,
            ceiling_out,
            baseline_in,
            *(f"{baseline_prefix}{t}" for t in ("screened", "alerts", "rejected")),
        ],
        cfg.partitions,
    )
    env = {**_env(settings), WATCHLISTS_ENV: os.pathsep.join(watchlists)}
    baseline_id = f"{prefix}baseline"
    baseline = Subprocess(
        "baseline",
        "cargowatch.bench.baseline_app",
        {
            **env,
            APP_ID_ENV: baseline_id,
            SOURCE_ENV: baseline_in,
            PREFIX_ENV: baseline_prefix,
            "CARGOWATCH_STATE_DIR": str(work / "baseline-state"),
        },
        work / "baseline.log",
    ).start()
    # The group under test: each worker with its own /healthz port and state directory
    # (trader-history checkpoint), all sharing the archive (as workers of one group must).
    ports = [settings.http_port] + [_free_port() for _ in range(cfg.workers - 1)]
    workers = [
        Subprocess(
            f"worker-{i}",
            "cargowatch.bench.worker",
            {**env, "CARGOWATCH_HTTP_PORT": str(port), "CARGOWATCH_STATE_DIR": str(work / f"state-{i}")},
            work / f"worker-{i}.log",
        ).start()
        for i, port in enumerate(ports)
    ]
    out["workers"] = cfg.workers

    def all_alive() -> bool:
        return all(w.alive() for w in workers)

    def stages_now() -> dict[str, tuple[int, float]]:
        total: dict[str, tuple[int, float]] = {}
        for port in ports:
            for stage, (n, seconds) in stage_totals(port).items():
                n0, s0 = total.get(stage, (0, 0.0))
                total[stage] = (n0 + n, s0 + seconds)
        return total

    try:
        step("generating manifests", 0.0)
        records = await asyncio.to_thread(
            bench_records,
            cfg.count,
            ref,
            pool_size=cfg.pool_size,
            seed=cfg.seed,
            on_progress=lambda n: step("generating manifests", n / min(cfg.count, cfg.pool_size)),
        )
        out["records"] = len(records)
        out["record_bytes_mean"] = round(sum(len(r.value) for r in records) / len(records))
        out["framed_share"] = round(sum(r.framed for r in records) / len(records), 4)

        quick_cores: threading.Thread | None = None
        if cfg.quick:
            # Smoke run only: the cores are measured while the workers load, to finish
            # in about a minute (indicative figures; the full run measures them alone).
            pool = records[: min(len(records), cfg.core_manifests)]

            def measure_cores() -> None:
                out["_cores"] = run_cores(cfg, pool, watchlists, Settings.load(), lambda *_: None)

            quick_cores = threading.Thread(target=measure_cores, name="bench-cores")
            quick_cores.start()
        step("waiting for the worker processes to load", None)
        for worker, port in zip(workers, ports, strict=True):
            await _wait_ready(
                worker,
                lambda port=port: '"starting"' not in _healthz(port) and bool(_healthz(port)),  # type: ignore[misc]
                600,
            )
        await _wait_ready(baseline, lambda: "baseline ready" in baseline.tail(200), 600)

        # (1) ceiling
        step("ceiling: producing", 0.0)
        await produce(
            settings,
            ceiling_in,
            records,
            on_progress=lambda n: step("ceiling: producing", n / len(records)),
        )
        step("ceiling: raw consume + produce", None)
        out["ceiling"] = await run_ceiling(
            settings, ceiling_in, ceiling_out, f"{prefix}ceiling", len(records), cfg.batch_size
        )

        # (2) baseline: a bounded sample, it is slow
        sample = min(len(records), cfg.baseline_max_records + 2_000)
        step("baseline: producing", 0.0)
        await produce(settings, baseline_in, records[:sample])
        step("baseline: faust per-event agent", None)
        sampler = ProcessSample(baseline.pid).start()
        progress = await measure_group(
            settings,
            baseline_id,
            baseline_in,
            sample,
            max_records=cfg.baseline_max_records,
            max_seconds=cfg.baseline_max_s,
            on_progress=lambda n: step("baseline: faust per-event agent", n / sample),
            alive=baseline.alive,
        )
        out["baseline"] = {
            "records": progress.records,
            "seconds": round(progress.seconds, 2),
            "per_s": round(progress.per_s, 1),
            **sampler.stop(),
        }
        baseline.kill()  # not measured any more; no need to wait for its clean stop

        # (3) the pipeline, as fast as it goes
        step("pipeline: producing", 0.0)
        await produce(
            settings,
            settings.topics.raw,
            records,
            on_progress=lambda n: step("pipeline: producing", n / len(records)),
        )
        rss_idle = max(rss_mb(w.pid) for w in workers)
        stages0 = stages_now()
        pids = [w.pid for w in workers]
        cpu0 = thread_cpu(pids)
        group = GroupSample(pids).start()
        progress = await measure_group(
            settings,
            settings.consumer_group,
            settings.topics.raw,
            len(records),
            max_seconds=900,
            on_progress=lambda n: step("pipeline: cargowatch worker", n / len(records)),
            alive=all_alive,
        )
        out["pipeline"] = {
            "records": progress.records,
            "seconds": round(progress.seconds, 2),
            "per_s": round(progress.per_s, 1),
            "completed": progress.completed,
            "rss_mb_loaded_idle": round(rss_idle, 1),
            **group.stop(),
            **cpu_per_record(cpu0, thread_cpu(pids), progress.records),
        }
        stages1 = stages_now()
        out["pipeline"]["stages"] = stage_breakdown(stages0, stages1, progress.records)

        # latency at half of the pipeline's maximum
        rate = max(50.0, progress.per_s / 2)
        n_lat = int(rate * cfg.latency_s)
        lat_records: list[BenchRecord] = relabel(
            (records * (1 + n_lat // len(records)))[:n_lat], "~lat"
        )
        step("latency: waiting for the workers to go idle after the backlog", None)
        settled_s = await settle(pids)
        step(f"latency at {rate:.0f}/s for {cfg.latency_s:.0f}s", None)
        cpu1 = thread_cpu(pids)
        group = GroupSample(pids).start()
        t = settings.topics
        out["latency"] = await measure_latency(
            settings, t.raw, [t.screened, t.rejected], lat_records, rate
        )
        out["latency"]["settled_s"] = settled_s
        out["latency"].update(group.stop())
        out["latency"].update(cpu_per_record(cpu1, thread_cpu(pids), out["latency"]["sent"]))
        out["latency"]["stages"] = stage_breakdown(stages1, stages_now(), out["latency"]["sent"])
        step("stopping the workers (SIGTERM)", None)
        stops = [w.terminate(30) for w in workers]
        out["pipeline"]["sigterm_exit_code"] = next((c for c, _ in stops if c != 0), 0)  # any failure shows
        out["pipeline"]["sigterm_seconds"] = round(max(s for _, s in stops), 2)
        if quick_cores is not None:
            await asyncio.to_thread(quick_cores.join)
        out["_pool"] = records[: min(len(records), cfg.core_manifests)]
        out["_watchlists"] = watchlists
    finally:
        baseline.terminate(10)
        for worker in workers:
            worker.terminate(10)
    return out


def run_cores(
    cfg: BenchConfig, pool: list[BenchRecord], watchlists: list[str], settings: Settings, step: Step
) -> dict[str, Any]:
    """Single-core rates, measured in a process of their own (started fresh with
    ``spawn``, one thread of work, the broker idle by now), under the worker's
    garbage-collector regime (settle_heap).

    Not in the benchmark's own process: after the Kafka phases it holds the 200,000
    inputs, an event loop and its threads, and the cores measured there came out 20-25%
    below the same code in a fresh process (scoring 41,472-44,042/cpu-s here against
    ~58,000 alone, 2026-11-28) - a figure of the benchmark's heap, not of the core."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    step("cores (own process): decode, validation, watchlist, scoring, matcher vs brute force, screening thread", None)
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool_exec:
        return pool_exec.submit(_measure_cores, cfg, pool, watchlists, settings).result()


def _measure_cores(
    cfg: BenchConfig, pool: list[BenchRecord], watchlists: list[str], settings: Settings
) -> dict[str, Any]:
    """The cores one after another, in the calling process (run_cores' child)."""
    ref = ReferenceData.load(settings.refdata)
    settle_heap()
    manifests, decode = cores.decode_manifests(pool)
    validation = cores.validation_rate(manifests, ref, settings.stopwords)
    watchlist = cores.watchlist_rate(manifests, watchlists)
    scoring = cores.scoring_rate(max(2000, cfg.core_manifests), single=50 if cfg.quick else 300)
    matcher = cores.matcher_rate(
        cfg.watchlist_names, cfg.matcher_queries, cfg.matcher_recall_sample, settings.refdata
    )
    screening = cores.screening_thread_rate(pool, watchlists, settings, sizes=cfg.screening_batches)
    return {
        "screening_thread": screening,
        "decode": decode,
        "validation": validation,
        "watchlist": watchlist,
        "scoring": scoring,
        "matcher": matcher,
        "pid": os.getpid(),  # shows the figures came from a process of their own
    }


def run_bench(cfg: BenchConfig, step: Step, keep_dir: Path | None = None) -> dict[str, Any]:
    """The whole run; returns the results mapping (see report.py for the JSON keys)."""
    started = datetime.now(UTC)
    work = Path(tempfile.mkdtemp(prefix="cargowatch-bench-"))
    kafka: LocalKafka | None = None
    try:
        bootstrap = os.environ.get("CARGOWATCH_KAFKA_BOOTSTRAP", "")
        starting: threading.Thread | None = None
        if not bootstrap:
            # The broker starts while the reference data and watchlist are prepared.
            step("starting the local broker; loading reference data", None)
            kafka = LocalKafka(work / "kafka")
            failure: list[BaseException] = []

            def start_broker() -> None:
                try:
                    kafka.start()  # type: ignore[union-attr]
                except BaseException as exc:  # noqa: BLE001 - re-raised below
                    failure.append(exc)

            starting = threading.Thread(target=start_broker, name="broker-start")
            starting.start()
        else:
            step("loading reference data", None)
        ref, watchlists = prepare(cfg, work)
        if starting is not None and kafka is not None:
            starting.join()
            if failure:
                raise failure[0]
            bootstrap = kafka.bootstrap
        results: dict[str, Any] = {
            "started": started.isoformat(),
            "config": cfg.__dict__.copy(),
            "machine": machine(),
        }
        results["broker"] = (
            "local (started by the benchmark)"
            if kafka
            else "configured (CARGOWATCH_KAFKA_BOOTSTRAP)"
        )
        phases = asyncio.run(run_kafka_phases(cfg, bootstrap, work, step, ref, watchlists))
        pool, watchlists = phases.pop("_pool"), phases.pop("_watchlists")
        results.update(phases)
        stopping: threading.Thread | None = None
        if kafka is not None:
            # The full run measures the cores on an idle machine; --quick saves the time.
            step("stopping the local broker", None)
            stopping = threading.Thread(target=kafka.stop, name="broker-stop")
            stopping.start()
            if not cfg.quick:
                stopping.join()
            kafka = None
        quick = phases.pop("_cores", None)
        results["cores"] = quick or run_cores(cfg, pool, watchlists, Settings.load(), step)
        if stopping is not None:
            stopping.join()
        results["finished"] = datetime.now(UTC).isoformat()
        return results
    finally:
        if kafka is not None:
            kafka.stop()
        if keep_dir is not None:
            keep_dir.mkdir(parents=True, exist_ok=True)
            for log in work.glob("*.log"):
                shutil.copy2(log, keep_dir / log.name)
        shutil.rmtree(work, ignore_errors=True)
