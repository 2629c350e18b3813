"""The compiled core (native/, cargowatch_native) is the path screening takes, and it
scores exactly as the Python reference (scoring.py) on the labelled name cases: the
scores, and the aligned parts and features the explanations of hits are written from."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest
from cargowatch_native import NativeIndex

from enrichers.watchlist import PartyQuery, WatchlistScreener
from enrichers.watchlist.index import CandidateLimits, native_name
from enrichers.watchlist.loaders import load_watchlist
from enrichers.watchlist.scoring import NameScore, can_reach, score_names


@pytest.fixture(scope="module")
def screener(fixtures_dir: Path, refdata: Path) -> WatchlistScreener:
    return WatchlistScreener.from_versions(
        [
            load_watchlist(fixtures_dir / "national.csv"),
            load_watchlist(refdata / "sanctions" / "un" / "UN_consolidated_2026-02-27.xml"),
        ]
    )


@pytest.fixture(scope="module")
def name_cases(refdata: Path) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    with (refdata / "matching" / "nomenklatura_name_cases.csv").open(encoding="utf-8") as fh:
        pairs += [(r["name1"], r["name2"]) for r in csv.DictReader(fh)]
    with (refdata / "matching" / "watchman_cross_script_pairs.csv").open(encoding="utf-8") as fh:
        rows = [line for line in fh if line.strip() and not line.startswith("#")]
    pairs += [(r[0], r[1]) for r in csv.reader(rows[1:]) if len(r) >= 2]
    return pairs


class _Recording:
    """Stands in for the native index and records the searches it answers."""

    def __init__(self, native: NativeIndex):
        self.native = native
        self.searched: list[int] = []
        self.explained: list[int] = []

    def search(self, queries, floors, limits):  # type: ignore[no-untyped-def]
        self.searched.append(len(queries))
        return self.native.search(queries, floors, limits)

    def explain(self, query, positions):  # type: ignore[no-untyped-def]
        self.explained.append(len(positions))
        return self.native.explain(query, positions)


def test_screening_goes_through_the_native_index(screener: WatchlistScreener) -> None:
    names = screener.index.names
    assert isinstance(names.native, NativeIndex)
    assert len(names.native) == len(names.names)
    recording = _Recording(names.native)
    names.native = recording  # type: ignore[assignment]
    try:
        screener.index._cache.clear()
        [a, b] = screener.screen_parties([PartyQuery("Eric Badge"), PartyQuery("BADEGE, Eric")])
    finally:
        names.native = recording.native
    assert recording.searched == [2]  # one call for the batch
    assert a and a[0].entry_id == "CDi.001" and b and b[0].entry_id == "CDi.001"
    assert len(recording.explained) == 2  # one call per query with hits
    assert "eric~eric:1.00" in a[0].explanation and "badge~badege" in a[0].explanation


def test_native_scores_equal_the_reference_on_labelled_cases(
    screener: WatchlistScreener, name_cases: list[tuple[str, str]]
) -> None:
    names = screener.index.names
    norm, stats, params, native = (
        names.normalizer,
        names.stats,
        screener.index.config.params,
        names.native,
    )
    assert len(name_cases) > 826
    mismatches = []
    for n1, n2 in name_cases:
        a, b = norm.normalize(n1), norm.normalize(n2)
        for x, y in ((a, b), (b, a)):
            ref_score = score_names(x, y, stats, params)
            ref = ref_score.score
            got = native.score(native_name(x), native_name(y))
            if got != ref:
                mismatches.append((x.original, y.original, ref, got))
            # the explanation of a hit is built from the core's parts and features
            detail = NameScore.from_core(native.score_detail(native_name(x), native_name(y)), x, y)
            if detail != ref_score or detail.explain() != ref_score.explain():
                mismatches.append((x.original, y.original, ref_score, detail))
            # ... and written by the core: the same text, Python's float formatting
            told = native.explain_pair(native_name(x), native_name(y))
            if told != ref_score.explain():
                mismatches.append((x.original, y.original, ref_score.explain(), told))
            for floor in (0.5, 0.64, 0.67, 0.8):
                if native.can_reach(native_name(x), native_name(y), floor) != can_reach(
                    x, y, floor, params, stats
                ):
                    mismatches.append((x.original, y.original, "can_reach", floor))
        for tok in a.tokens + b.tokens:
            if native.weight(tok) != stats.weight(tok):
                mismatches.append((tok, "weight", stats.weight(tok), native.weight(tok)))
    assert mismatches == []


def test_native_search_scores_are_the_reference_scores(
    screener: WatchlistScreener, refdata: Path
) -> None:
    """Every list name the core scores for a query carries the reference score, and
    with no threshold every name it ranks is scored (nothing rejected)."""
    index = screener.index
    names = index.names
    rng = random.Random(7)
    listed = [n.name.original for n in names.names]
    queries = [rng.choice(listed) for _ in range(150)]
    queries = [q[:4] + q[5:] if len(q) > 9 else q for q in queries]  # a letter dropped
    queries += ["Hamburg Coffee Import GmbH", "Mohammed Ali Trading", "Chernoe More OOO"]
    nqs = [names.normalizer.normalize(q) for q in queries]
    limits = index._limits(index.config.threshold)
    gated = names.native.search([native_name(n) for n in nqs], [0.67] * len(nqs), limits)
    ungated = names.native.search([native_name(n) for n in nqs], [None] * len(nqs), limits)
    scored = 0
    for nq, some, every in zip(nqs, gated, ungated, strict=True):
        assert [p for p, _ in every] == index.scored_positions(nq, index.config.threshold)
        assert set(some) <= set(every)
        told = names.native.explain(native_name(nq), [p for p, _ in every])
        for (pos, score), text in zip(every, told, strict=True):
            ref = score_names(nq, names.names[pos].name, names.stats, index.config.params)
            assert score == ref.score, (nq.original, names.names[pos].name.original)
            assert text == ref.explain(), (nq.original, names.names[pos].name.original)
            scored += 1
    assert scored > 500
    assert sum(len(s) for s in gated) < scored  # the fast reject did reject


@pytest.mark.parametrize("max_blocked", [None, 40])
def test_whole_name_ranking_is_rapidfuzz_extract_on_the_blocked_names(
    screener: WatchlistScreener, name_cases: list[tuple[str, str]], max_blocked: int | None
) -> None:
    """The core ranks blocked names as ``process.extract`` with ``fuzz.ratio`` on the
    word-sorted names ranks them (best 15 at ratio >= 70, ties to the better bound, plus
    the 3 best bounds); its shortcuts (length and letter-count bounds on the ratio, the
    best ``max_blocked`` chosen without sorting them) must leave the ranking unchanged.
    A cap of 40 makes common names overflow it, as 2,000 does on a 300,000-name index."""
    from rapidfuzz import fuzz, process

    index = screener.index
    names, cfg = index.names, index.config
    limits = CandidateLimits(
        cfg.min_share,
        max_blocked or cfg.max_blocked,
        cfg.threshold - cfg.candidate_margin,
        cfg.params.coverage_blend,
        cfg.prefilter_cutoff,
        cfg.max_candidates,
        cfg.keep_by_bound,
    )
    if max_blocked is None:
        assert limits.as_tuple() == index._limits(cfg.threshold)
    keys = [" ".join(sorted(n.name.tokens)) for n in names.names]
    rng = random.Random(11)
    listed = [n.name.original for n in names.names]
    queries = [rng.choice(listed) for _ in range(150)] + [a for a, _ in name_cases[:300]]
    queries += ["Mohammed Ali", "Abdul Rahman", "Ahmed Hassan Al", "Ali Al Ali"]
    crowded = capped = 0
    for q in queries:
        nq = names.normalizer.normalize(q)
        blocked = names.native.candidates(native_name(nq), limits.as_tuple(), limits.max_blocked)
        key = " ".join(sorted(nq.tokens))
        fits = [
            p
            for p in blocked
            if 200 * min(len(keys[p]), len(key)) >= cfg.prefilter_cutoff * (len(keys[p]) + len(key))
        ]
        ranked = process.extract(
            key,
            [keys[p] for p in fits],
            scorer=fuzz.ratio,
            limit=cfg.max_candidates,
            score_cutoff=cfg.prefilter_cutoff,
        )
        want = list(dict.fromkeys([fits[i] for _, _, i in ranked] + blocked[: cfg.keep_by_bound]))
        assert names.native.scored_positions([native_name(nq)], limits.as_tuple())[0] == want, q
        crowded += len(ranked) == cfg.max_candidates
        capped += len(blocked) == limits.max_blocked
    if max_blocked:
        assert capped > 20, capped  # the cap chose which names are ranked
    else:
        assert crowded > 5  # the best 15 were full: the 15th-best shortcut was in play
