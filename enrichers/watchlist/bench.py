"""The watchlist matcher benchmark: index size, party-name throughput, tail latency,
recall against brute force, and index memory. Called by ``cargowatch bench``.

The index holds the real lists (OFAC SDN 2021 and the UN list from the reference-data
directory) plus generated entries until it has ``n_names`` names: variants of real list
names and words of real list names recombined. Queries are
party names as traffic brings them: mostly names on no list, some list names with a
defect (a letter dropped, doubled or swapped, words reordered).

Throughput is measured on one core with an empty cache (every query name distinct, the
cache cleared first). The brute-force baseline is rapidfuzz ``process.extract``
(``token_sort_ratio`` >= 90 on the normalised names) over every indexed name, on a sample
of the same queries; the index's recall is the share of those brute-force matches that
are among its candidates.

>>> figures = run_matcher_bench(n_names=50_000, n_queries=2_000)  # doctest: +SKIP
>>> figures["queries_per_s"], figures["recall_vs_bruteforce"]  # doctest: +SKIP
"""

from __future__ import annotations

import gc
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from enrichers.watchlist.loaders import WatchlistVersion, load_watchlist
from enrichers.watchlist.matcher import PartyQuery, ScreeningIndex, WatchlistScreener
from enrichers.watchlist.normalize import Normalizer
from enrichers.watchlist.scoring import score_names
from schemas.model import EntryName, WatchlistEntry

_LOCALES = (
    "en_US",
    "de_DE",
    "fr_FR",
    "es_ES",
    "it_IT",
    "ru_RU",
    "tr_TR",
    "ar_AA",
    "zh_CN",
    "pl_PL",
)


def _rss() -> int:
    import psutil

    return int(psutil.Process(os.getpid()).memory_info().rss)


def _defect(name: str, rng: random.Random) -> str:
    """A name as a filer might misspell it."""
    words = name.split()
    kind = rng.random()
    if kind < 0.25 and len(words) > 1:
        rng.shuffle(words)
        return " ".join(words)
    chars = list(name)
    if len(chars) < 5:
        return name
    i = rng.randrange(1, len(chars) - 1)
    if kind < 0.5:
        del chars[i]
    elif kind < 0.75:
        chars.insert(i, chars[i])
    else:
        chars[i], chars[i + 1] = chars[i + 1], chars[i]
    return "".join(chars)


def _faker_names(n: int, rng: random.Random) -> list[str]:
    from faker import Faker

    fake = Faker(list(_LOCALES))
    fake.seed_instance(rng.randrange(1 << 30))
    out: list[str] = []
    for i in range(n):
        out.append(fake.company() if i % 2 else fake.name())
    return out


def build_bench_lists(
    refdata: str | Path, n_names: int, seed: int = 1, progress: Callable[[str], None] | None = None
) -> list[WatchlistVersion]:
    """The real lists plus a generated list, together ``n_names`` names or more."""
    say = progress or (lambda _m: None)
    rng = random.Random(seed)
    root = Path(refdata)
    real = [
        load_watchlist(root / "sanctions" / "ofac_full_2021"),
        load_watchlist(root / "sanctions" / "un" / "UN_consolidated_2026-02-27.xml"),
    ]
    have = sum(len(e.names) for v in real for e in v.entries)
    need = max(0, n_names - have)
    say(f"generating {need} names beside {have} real ones")
    real_names = [n.name for v in real for e in v.entries for n in e.names]
    # List-like names: real list names with defects, and words of real list names
    # recombined (the token distribution of sanctions lists, not of trade registers).
    words = [w for name in real_names for w in name.split() if len(w) > 2]
    n_variants = need // 3
    generated = [_defect(rng.choice(real_names), rng) for _ in range(n_variants)]
    generated += [
        " ".join(rng.choice(words) for _ in range(rng.choice((2, 3, 3, 4))))
        for _ in range(need - n_variants)
    ]
    entries = []
    for i in range(0, len(generated), 2):
        names = [EntryName(generated[i])] + (
            [EntryName(generated[i + 1], "STRONG")] if i + 1 < len(generated) else []
        )
        entries.append(
            WatchlistEntry(
                "bench_synthetic", f"S{i // 2}", "organization", names, list_version="bench"
            )
        )
    return [*real, WatchlistVersion("bench_synthetic", "bench", entries, "generated")]


def bench_queries(
    versions: list[WatchlistVersion], n: int, seed: int = 2, positive_share: float = 0.1
) -> list[str]:
    """Distinct party names: Faker people and companies in several locales and scripts
    (traders on no list), and defective list names."""
    rng = random.Random(seed)
    listed = [n.name for v in versions for e in v.entries for n in e.names]
    n_pos = int(n * positive_share)
    names = [_defect(rng.choice(listed), rng) for _ in range(n_pos)]
    names += _faker_names(int((n - n_pos) * 1.2) + 10, rng)
    out = list(dict.fromkeys(names))
    rng.shuffle(out)
    return out[:n]


def run_matcher_bench(
    n_names: int = 300_000,
    n_queries: int = 20_000,
    recall_sample: int = 200,
    refdata: str | Path | None = None,
    seed: int = 1,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Build an index of ``n_names`` names and measure it; returns the figures.

    Keys: ``names``, ``entries``, ``build_s``, ``index_rss_mb``, ``index_mb_per_1m_names``,
    ``queries``, ``queries_per_s`` (batched, empty cache, CPU time of one core; also
    ``queries_per_s_wall``), ``p50_ms``/``p99_ms`` (per name, thread CPU time),
    ``alerts_share``, ``cached_queries_per_s``, ``bruteforce_queries_per_s``,
    ``recall_vs_bruteforce`` (blocked candidates, uncapped), ``recall_vs_bruteforce_capped``
    (the names actually scored), ``recall_vs_bruteforce_confirmed`` (of the brute-force
    matches our scorer also scores at the threshold, the share the screener returns),
    ``bruteforce_matches``, ``targets``.
    """
    from rapidfuzz import fuzz, process

    say = progress or (lambda _m: None)
    if refdata is None:
        from cargowatch.settings import Settings

        refdata = Settings.load().refdata
    normalizer = Normalizer.default(refdata)
    versions = build_bench_lists(refdata, n_names, seed, say)
    queries = bench_queries(versions, n_queries, seed + 1)
    say(f"building the index of {sum(len(e.names) for v in versions for e in v.entries)} names")
    gc.collect()
    rss0 = _rss()
    t0 = time.perf_counter()
    index = ScreeningIndex(versions, normalizer)
    build_s = time.perf_counter() - t0
    gc.collect()
    rss1 = _rss()
    # As the worker does once its lists are loaded (streams.pipeline.settle_heap): the
    # index's millions of long-lived objects out of the cyclic collector's sight, or
    # its full collections (~1.5 s each over 300,000 names) land in the timed loop.
    # A caller that froze its own heap keeps it frozen.
    caller_froze = gc.get_freeze_count() > 0
    gc.freeze()
    screener = WatchlistScreener(index)
    names = len(index)

    # Timings are CPU time of this process (one core): on a shared machine wall time
    # measures the neighbours. Wall time is reported beside it.
    say(f"screening {len(queries)} party names, batched, empty cache")
    batches = [
        [PartyQuery(q, "CONSIGNEE") for q in queries[i : i + 1000]]
        for i in range(0, len(queries), 1000)
    ]
    index._cache.clear()
    index.names.clear_caches()  # token postings too: every cache starts empty
    wall0, cpu0 = time.perf_counter(), time.process_time()
    results: list = []
    for batch in batches:
        results.extend(screener.screen_parties(batch))
    batch_s = time.process_time() - cpu0
    batch_wall = time.perf_counter() - wall0
    alerts = sum(1 for r in results if r)

    cpu0 = time.process_time()
    for batch in batches:
        screener.screen_parties(batch)
    cached_s = time.process_time() - cpu0

    # Per-name latency: one query at a time, result cache empty; token caches are as
    # the batches above left them (as the normaliser's always was here).
    say("per-name latency")
    index._cache.clear()
    lat: list[float] = []
    for batch in batches[:5]:
        for pq in batch:
            t = time.thread_time()
            index.search(pq)
            lat.append((time.thread_time() - t) * 1000)
    lat.sort()

    say(f"brute force on {recall_sample} queries")
    rng = random.Random(seed + 2)
    keys = [n.name.key for n in index.names.names]
    # Recall is measured where brute force has something to find: list names with a
    # defect, as filers write them (half of the sample), and traffic names (the rest).
    listed = [n.name.original for n in index.names.names]
    sample = [_defect(rng.choice(listed), rng) for _ in range(recall_sample // 2)]
    sample += rng.sample(queries, min(recall_sample - len(sample), len(queries)))
    found = kept = kept_capped = 0
    cpu0 = time.process_time()
    brute_sets = []
    for q in sample:
        nq = normalizer.normalize(q)
        hits = process.extract(
            nq.key, keys, scorer=fuzz.token_sort_ratio, score_cutoff=90, limit=None
        )
        brute_sets.append((nq, {p for _, _, p in hits}))
    brute_s = time.process_time() - cpu0
    cfg = index.config
    # End to end: brute-force matches our scorer also calls a match (>= threshold), and
    # whether the screener (index, bound, cap) returns their entry.
    confirmed = returned = 0
    names_tab = index.names.names
    for nq, brute in brute_sets:
        if not brute:
            continue
        entries_found = {h.entry for h in index.search(PartyQuery(nq.original), top=1000)}
        for pos in brute:
            item = names_tab[pos]
            if score_names(nq, item.name, index.names.stats, cfg.params).score >= cfg.threshold:
                confirmed += 1
                returned += item.entry in entries_found
    for nq, brute in brute_sets:
        if not brute:
            continue
        found += len(brute)
        kept += len(brute & set(index.names.candidates(nq, cfg.min_share, 1_000_000)))
        capped = index.scored_positions(nq, cfg.threshold)
        kept_capped += len(brute & set(capped))
    if not caller_froze:
        gc.unfreeze()
    index_mb = (rss1 - rss0) / 1e6
    figures: dict[str, Any] = {
        "names": names,
        "entries": len(index.entries),
        "build_s": round(build_s, 1),
        "index_rss_mb": round(index_mb, 1),
        "index_mb_per_1m_names": round(index_mb * 1_000_000 / max(names, 1), 1),
        "index_tables": index.names.memory_keys(),
        "queries": len(queries),
        "queries_per_s": round(len(queries) / batch_s, 1),
        "queries_per_s_wall": round(len(queries) / batch_wall, 1),
        "cached_queries_per_s": round(len(queries) / cached_s, 1),
        "p50_ms": round(statistics.median(lat), 3),
        "p99_ms": round(lat[int(len(lat) * 0.99) - 1], 3),
        "alerts_share": round(alerts / len(queries), 4),
        "bruteforce_queries_per_s": round(len(sample) / brute_s, 2),
        "bruteforce_sample": len(sample),
        "bruteforce_matches": found,
        "recall_vs_bruteforce": round(kept / found, 4) if found else None,
        "recall_vs_bruteforce_capped": round(kept_capped / found, 4) if found else None,
        "bruteforce_matches_confirmed": confirmed,
        "recall_vs_bruteforce_confirmed": round(returned / confirmed, 4) if confirmed else None,
        "targets": {
            "queries_per_s": 20_000,
            "p99_ms": 2.0,
            "recall": 0.995,
            "mb_per_1m_names": 1500,
        },
    }
    return figures
