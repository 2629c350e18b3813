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
