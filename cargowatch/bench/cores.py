"""Single-core rates of the screening cores, in this process, no Kafka: decoding,
validation, watchlist matching on a ≥ 300,000-name list (with per-query p99 and the
index's memory), and scoring (streams/scoring/bench.py)."""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from cargowatch.bench.data import BenchRecord
from cargowatch.bench.measure import percentile
from enrichers.refdata import ReferenceData
from schemas.codec import Codec
from schemas.intake import read_kafka_value
from schemas.model import Manifest, Source
from schemas.validation import ValidationConfig, validate_batch


def _rate(count: int, wall: float, cpu: float) -> dict[str, float]:
    return {
        "items": count,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "per_s": round(count / wall) if wall else 0,
        "per_cpu_s": round(count / cpu) if cpu else 0,
    }


def decode_manifests(
    records: Sequence[BenchRecord], codec: Codec | None = None
) -> tuple[list[Manifest], dict[str, float]]:
    """Avro-decode and convert the framed records to Manifests (the intake step).
    ``codec=Codec(compiled=False)`` measures the fastavro path alone (for an A/B)."""
    codec = codec or Codec()
    now = datetime.now(UTC)
    src = Source(kind="kafka", topic="bench", partition=0, offset=0)
    w0, c0 = time.perf_counter(), time.process_time()
    out = []
    for rec in records:
        item = read_kafka_value(rec.value, codec, src, now)
        if isinstance(item, Manifest):
            out.append(item)
    return out, _rate(len(records), time.perf_counter() - w0, time.process_time() - c0)


def validation_rate(
    manifests: Sequence[Manifest], ref: ReferenceData, stopwords: str, batch: int = 2000
) -> dict[str, float]:
    """Manifests per second through ``validate_batch`` in batches of ``batch``."""
    config = ValidationConfig.load(stopwords)
    now = datetime.now(UTC)
    validate_batch(list(manifests[:batch]), ref, config, now)  # warm up
    w0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, len(manifests), batch):
        validate_batch(list(manifests[i : i + batch]), ref, config, now)
    return _rate(len(manifests), time.perf_counter() - w0, time.process_time() - c0)


def watchlist_rate(
    manifests: Sequence[Manifest], files: Sequence[str], max_queries: int = 20_000
) -> dict[str, Any]:
    """Build the index over ``files`` (names counted, build time, memory it takes), then
    screen the manifests' party names one query at a time (latency p50/p99) and as
    whole-manifest batches (rate)."""
    from enrichers.watchlist import PartyQuery, build_screener_from_files

    proc = psutil.Process()
    gc.collect()
    rss0 = proc.memory_info().rss
    w0 = time.perf_counter()
    screener = build_screener_from_files([(f, None) for f in files], None)
    build_s = time.perf_counter() - w0
    gc.collect()
    index_mb = (proc.memory_info().rss - rss0) / 2**20
    names = sum(len(e.names) for e in screener.index.entries)
    queries = [
        PartyQuery(p.name, p.role, p.address.country if p.address else None)
        for m in manifests
        for p in m.parties
    ][:max_queries]
    latencies = []
    c0 = time.process_time()
    for q in queries:
        t = time.perf_counter()
        screener.screen_parties([q])
        latencies.append((time.perf_counter() - t) * 1000)
    single_cpu = time.process_time() - c0
    batch_manifests = list(manifests)
    w1, c1 = time.perf_counter(), time.process_time()
    screener.screen_manifests(batch_manifests)  # second pass: the cache as traffic sees it
    wall_b, cpu_b = time.perf_counter() - w1, time.process_time() - c1
    return {
        "names": names,
        "entries": len(screener.index.entries),
        "index_build_s": round(build_s, 1),
        "index_mb": round(index_mb, 1),
        "queries": len(queries),
        "queries_per_cpu_s": round(len(queries) / single_cpu) if single_cpu else 0,
        "query_p50_ms": round(percentile(latencies, 50), 3),
        "query_p99_ms": round(percentile(latencies, 99), 3),
        "manifests_batched": _rate(len(batch_manifests), wall_b, cpu_b),
    }


def scoring_rate(count: int, single: int = 300) -> dict[str, Any]:
    """The scoring core's own benchmark (streams/scoring/bench.py)."""
    from streams.scoring.bench import run_scoring_bench

    return run_scoring_bench(count, single=single)


def matcher_rate(names: int, queries: int, recall_sample: int, refdata: str) -> dict[str, Any]:
    """The watchlist matcher's own benchmark (enrichers/watchlist/bench.py): an index of
    ``names`` names (the real lists plus generated ones), distinct party names with every
    cache empty, p99 per name, recall against brute-force rapidfuzz ``process.extract`` on
    a sample of the same queries, memory per 1M names."""
    from enrichers.watchlist.bench import run_matcher_bench

    return run_matcher_bench(
        n_names=names, n_queries=queries, recall_sample=recall_sample, refdata=refdata
    )


def refdata_files(refdata: str) -> list[str]:
    """The real lists the generator plants names from, for the benchmark's watchlist."""
    un = sorted(Path(refdata, "sanctions", "un").glob("*.xml"))
    return [str(un[-1])] if un else []


def screening_thread_rate(
    records: Sequence[BenchRecord],
    watchlists: Sequence[str],
    settings: Any,
    sizes: Sequence[int] = (2000, 800, 300),
) -> dict[str, Any]:
    """The worker's screening-thread work with no broker and no event loop beside it:
    ``ScreeningPipeline._screen_sync`` (decode, validate, enrich, screen the lists, score,
    learn the trader history, encode every output, the archive's Arrow tables) over the
    records in batches of each size, in this thread, under the worker's collector regime.

    CPU per manifest at each size (the screening thread's own CPU time), the archive's
    flush of the same batches (the process's CPU time while it writes on the sink's
    threads: Parquet files, fsyncs, markers), and for each the fit ``a + b / size``
    through the largest and the smallest size: ``b`` is the fixed cost of one call,
    which a worker pays more often at a steady load (smaller batches) than catching up.
    Comparing these with the workers' own CPU per manifest shows what running beside the
    event loop costs."""
    import tempfile
    from collections import namedtuple
    from datetime import timedelta

    from enrichers.traders import TraderHistory
    from streams.app import worker_pipeline
    from streams.context import build_context
    from streams.pipeline import settle_heap
    from streams.versions import VersionLedger

    fetched = namedtuple("fetched", "topic partition offset timestamp key value")
    now = datetime.now(UTC)
    stamp = int(now.timestamp() * 1000)
    partitions = settings.topic_partitions
    inputs = [
        fetched(settings.topics.raw, i % partitions, i // partitions, stamp, rec.key, rec.value)
        for i, rec in enumerate(records)
    ]
    ctx = build_context(settings, watchlists=[(f, None) for f in watchlists])
    settle_heap()

    def run(size: int, archive: Path) -> tuple[float, float]:
        """(screening thread CPU, the archive flushes' CPU) for one pass."""
        # A fresh memory each pass: the same filings again would be replays.
        ctx.ledger, ctx.last_screened, ctx.history = VersionLedger(), {}, TraderHistory(origin="bench")
        pipeline = worker_pipeline(settings, ctx, Codec(), archive)
        screen = flush = 0.0
        for n, start in enumerate(range(0, len(inputs), size)):
            c0 = time.thread_time()
            prepared = pipeline._screen_sync(inputs[start : start + size], now + timedelta(milliseconds=n))
            c1 = time.process_time()  # the flush writes on the sink's threads
            screen += time.thread_time() - c0
            pipeline._flush_sinks(prepared)
            flush += time.process_time() - c1
        for sink in pipeline.sinks:
            sink.close()
        return screen, flush

    sizes = sorted({max(1, min(size, len(inputs))) for size in sizes}, reverse=True)
    out: dict[str, Any] = {"manifests": len(inputs), "batches": {}, "archive_flush": {}}
    with tempfile.TemporaryDirectory(prefix="cargowatch-bench-screening-") as tmp:
        run(sizes[0], Path(tmp, "warm-up"))  # caches, query plans, lazy imports
        # Two rounds, the second in reverse order: a pass costs a little more the later it
        # runs (the heap grows), which would otherwise read as a cost of its batch size.
        totals = {size: [0.0, 0.0] for size in sizes}
        for n, size in enumerate([*sizes, *reversed(sizes)]):
            screen, flush = run(size, Path(tmp, f"{n}-{size}"))
            totals[size][0] += screen / 2
            totals[size][1] += flush / 2
        for size, (screen, flush) in totals.items():
            out["batches"][str(size)] = round(1e6 * screen / len(inputs), 1)
            out["archive_flush"][str(size)] = round(1e6 * flush / len(inputs), 1)
    big, small = sizes[0], sizes[-1]
    if big != small:
        fixed, marginal = _per_call_fit(out["batches"], big, small)
        out["fixed_ms_per_batch"], out["us_per_manifest_marginal"] = fixed, marginal
        out["archive_fixed_ms_per_flush"], _ = _per_call_fit(out["archive_flush"], big, small)
    return out


def _per_call_fit(per_manifest_us: dict[str, float], big: int, small: int) -> tuple[float, float]:
    """(ms per call, µs per manifest) of ``cost(size) = fixed / size + marginal``, through
    the costs per manifest at the largest and the smallest size.

    >>> _per_call_fit({"2000": 105.0, "300": 120.0}, 2000, 300)
    (5.29, 102.4)
    """
    at_big, at_small = per_manifest_us[str(big)], per_manifest_us[str(small)]
    fixed_us = (at_small - at_big) / (1 / small - 1 / big)
    return round(fixed_us / 1000, 2), round(at_big - fixed_us / big, 1)
