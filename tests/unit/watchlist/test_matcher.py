"""The screener: matches explain themselves, identifiers short-circuit, country qualifies,
the cache is per index version, and the index keeps what brute force finds."""

from __future__ import annotations

from pathlib import Path

import pytest
from rapidfuzz import fuzz, process

from enrichers.watchlist import PartyQuery, WatchlistScreener
from enrichers.watchlist.loaders import load_watchlist
from enrichers.watchlist.normalize import Normalizer
from enrichers.watchlist.scoring import score_names


@pytest.fixture(scope="module")
def screener(fixtures_dir: Path, refdata: Path) -> WatchlistScreener:
    return WatchlistScreener.from_versions(
        [
            load_watchlist(fixtures_dir / "national.csv"),
            load_watchlist(refdata / "sanctions" / "un" / "UN_consolidated_2026-02-27.xml"),
        ]
    )


def test_match_explains_itself(screener: WatchlistScreener) -> None:
    [hits] = screener.screen_parties([PartyQuery("Oceanic Shadow Trading BV", "CONSIGNEE", "NL")])
    assert hits[0].entry_id == "NL-001" and hits[0].party_role == "CONSIGNEE"
    assert hits[0].score >= 0.9
    assert "Oceanic Shadow Trading" in hits[0].explanation
    assert "country=NL agrees" in hits[0].explanation
    assert "parts[" in hits[0].explanation


def test_typo_transliteration_and_order(screener: WatchlistScreener) -> None:
    [a, b, c] = screener.screen_parties(
        [PartyQuery("Eric Badge"), PartyQuery("BADEGE, Eric"), PartyQuery("Chernoe More OOO")]
    )
    assert a and a[0].entry_id == "CDi.001"
    assert b and b[0].entry_id == "CDi.001"
    assert c and c[0].entry_id == "NL-004"  # listed in Cyrillic: Черное Море ООО


def test_non_match_stays_quiet(screener: WatchlistScreener) -> None:
    assert screener.screen_parties(
        [PartyQuery("Hamburg Coffee Import GmbH", "CONSIGNEE", "DE")]
    ) == [[]]


def test_vessel_imo_short_circuit(screener: WatchlistScreener) -> None:
    [hits] = screener.screen_parties([PartyQuery("SOME OTHER NAME", "VESSEL", None, "9187629")])
    assert [h.entry_id for h in hits] == ["NL-003"]
    assert hits[0].score == 1.0 and "IMO 9187629" in hits[0].explanation


def test_country_is_a_qualifier_not_a_decider(screener: WatchlistScreener) -> None:
    [same, other] = screener.screen_parties(
        [
            PartyQuery("Pieter van der Berg", country="NL"),
            PartyQuery("Pieter van der Berg", country="BR"),
        ]
    )
    assert same and other
    assert same[0].score > other[0].score


def test_numbers_must_agree() -> None:
    n = Normalizer.default()
    s = score_names(n.normalize("Management Company 23"), n.normalize("Management Company"))
    assert s.score < 0.67 and s.features["number_mismatch"]


def test_cache_is_per_index(fixtures_dir: Path) -> None:
    v = load_watchlist(fixtures_dir / "national.csv")
    screener = WatchlistScreener.from_versions([v])
    q = PartyQuery("Oceanic Shadow Trading BV")
    first = screener.screen_parties([q])
    assert screener.screen_parties([q]) == first
    assert len(screener.index._cache) == 1
    smaller = type(v)(v.list_id, "v2", [e for e in v.entries if e.entry_id != "NL-001"])
    screener.swap(WatchlistScreener.from_versions([smaller]).index)
    assert screener.screen_parties([q]) == [[]]
    assert screener.list_versions() == {"nl_national": "v2"}


def test_index_keeps_what_brute_force_finds(screener: WatchlistScreener, refdata: Path) -> None:
    """Recall of the candidate index against a brute-force rapidfuzz scan of all names."""
    index = screener.index
    norm = index.names.normalizer
    keys = [n.name.key for n in index.names.names]
    un = load_watchlist(refdata / "sanctions" / "un" / "UN_consolidated_2026-02-27.xml")
    queries = [e.names[0].name for e in un.entries[::10]]
    queries = [q[:3] + q[4:] if len(q) > 8 else q for q in queries]  # one letter dropped
    found = kept = 0
    for q in queries:
        nq = norm.normalize(q)
        brute = {
            p
            for _, _, p in process.extract(
                nq.key, keys, scorer=fuzz.token_sort_ratio, score_cutoff=90, limit=None
            )
        }
        cands = set(index.names.candidates(nq, index.config.min_share, 10_000))
        found += len(brute)
        kept += len(brute & cands)
    assert found > 50
    assert kept / found >= 0.995


def test_fast_reject_never_drops_a_pair_at_the_floor(
    screener: WatchlistScreener, refdata: Path
) -> None:
    """can_reach only rejects pairs score_names keeps below the floor (labelled cases)."""
    import csv

    from enrichers.watchlist.scoring import can_reach

    index = screener.index
    norm, stats, params = index.names.normalizer, index.names.stats, index.config.params
    with (refdata / "matching" / "nomenklatura_name_cases.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    rejected = 0
    for row in rows:
        a, b = norm.normalize(row["name1"]), norm.normalize(row["name2"])
        score = score_names(a, b, stats, params).score
        for floor in (0.5, 0.64, 0.67, 0.8):
            reach = can_reach(a, b, floor, params, stats)
            assert reach or score < floor, (row["name1"], row["name2"], score, floor)
            rejected += not reach
    assert rejected > len(rows)  # it does reject: most pairs at the higher floors


def test_batch_answers_as_one_at_a_time(screener: WatchlistScreener) -> None:
    names = ["Eric Badge", "BADEGE, Eric", "Hamburg Coffee Import GmbH", "Eric Badge", ""]
    queries = [PartyQuery(n, "CONSIGNEE") for n in names]
    batch = screener.index.search_many(queries)
    screener.index._cache.clear()
    assert batch == [screener.index.search(q) for q in queries]
    assert batch[0] == batch[3] and batch[0] and batch[4] == ()
