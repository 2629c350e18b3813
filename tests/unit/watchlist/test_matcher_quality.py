"""Matcher quality on the labelled sets holds at the one fixed threshold.

These are quality thresholds, not timings. The 100,000-negatives figure is the slow test;
the quick one screens a sample of each file."""

from __future__ import annotations

from pathlib import Path

import pytest

from enrichers.watchlist import WatchlistScreener
from enrichers.watchlist.evaluation import (
    OFAC_DIR,
    UN_FILE,
    evaluate_cross_script,
    evaluate_name_cases,
    evaluate_negatives,
    evaluate_un_positives,
)
from enrichers.watchlist.loaders import WatchlistVersion, load_watchlist


@pytest.fixture(scope="module")
def un(refdata: Path) -> WatchlistVersion:
    return load_watchlist(refdata / UN_FILE)


@pytest.fixture(scope="module")
def un_screener(un: WatchlistVersion) -> WatchlistScreener:
    return WatchlistScreener.from_versions([un])


@pytest.fixture(scope="module")
def reference(un: WatchlistVersion, refdata: Path) -> WatchlistScreener:
    return WatchlistScreener.from_versions([un, load_watchlist(refdata / OFAC_DIR)])


def test_nomenklatura_cases_f1(refdata: Path, reference: WatchlistScreener) -> None:
    figures = evaluate_name_cases(refdata, reference)
    assert figures.pairs == 826
    assert figures.f1 >= 0.82
    assert figures.strong_misses == 0
    assert figures.logicv2_f1 is not None and figures.f1 > figures.logicv2_f1


def test_yente_un_positives_top5(
    refdata: Path, un_screener: WatchlistScreener, un: WatchlistVersion
) -> None:
    figures = evaluate_un_positives(refdata, un_screener, un)
    assert figures.queries >= 680
    assert figures.rate >= 0.99, figures.misses


def test_yente_negatives_sample(refdata: Path, un_screener: WatchlistScreener) -> None:
    for figures in evaluate_negatives(refdata, un_screener, sample=3000):
        assert figures.rate <= 0.01, figures.examples


@pytest.mark.slow
def test_yente_negatives_all(refdata: Path, un_screener: WatchlistScreener) -> None:
    figures = evaluate_negatives(refdata, un_screener)
    assert sum(f.queries for f in figures) == 100_000
    assert sum(f.alerts for f in figures) / 100_000 <= 0.01


def test_cross_script_share_reported(refdata: Path, reference: WatchlistScreener) -> None:
    figures = evaluate_cross_script(refdata, reference)
    assert figures.pairs == 22
    # Arabic and Cyrillic pairs match; the share is reported, not a target
    assert figures.by_script["Arabic"] == (4, 4) and figures.by_script["Cyrillic"] == (4, 4)
