"""Fixtures for the scoring tests: the shipped configuration and a benchmark table with
a known median."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pytest
import yaml

from cargowatch.settings import Settings
from enrichers.refdata import ReferenceData
from streams.scoring import DEFAULT_RULESET, Ruleset, ScoringReference
from streams.scoring.reference import BENCHMARK_SCHEMA, ScoringPaths


@pytest.fixture(scope="session")
def refdata_dir() -> Path:
    """The reference-data directory the settings resolve (CARGOWATCH_REFDATA or ../shared/data)."""
    path = Path(Settings.load().refdata)
    assert (path / "hs").is_dir(), f"reference data not found at {path}: set CARGOWATCH_REFDATA"
    return path


@pytest.fixture(scope="session")
def ref(refdata_dir) -> ReferenceData:
    return ReferenceData.load(refdata_dir)


@pytest.fixture(scope="session")
def benchmarks() -> pl.DataFrame:
    # smartphones from CN: median 50 USD/kg, MAD 0.2 in log space
    return pl.DataFrame(
        {
            "level": ["hs6_origin", "hs6", "chapter"],
            "hs": ["851712", "851712", "85"],
            "origin": ["CN", "", ""],
            "n": [500, 800, 5000],
            "median_log_vpk": [math.log(50.0)] * 3,
            "mad_log_vpk": [0.2, 0.3, 0.8],
        },
        schema=BENCHMARK_SCHEMA,
    )


@pytest.fixture(scope="session")
def reference(ref, benchmarks) -> ScoringReference:
    base = ScoringReference.load(ScoringPaths(), ref)
    base.benchmarks = benchmarks
    return base


@pytest.fixture(scope="session")
def ruleset() -> Ruleset:
    return Ruleset.load(DEFAULT_RULESET)


@pytest.fixture(scope="session")
def quiet_ruleset() -> Ruleset:
    """The default ruleset without the random floor and the BLUE audit sample, so a
    clean manifest is reliably GREEN."""
    data = yaml.safe_load(DEFAULT_RULESET.read_text())
    data["rules"]["RANDOM_SELECTION"]["rate"] = 0.0
    data["lanes"]["blue"]["sample_rate"] = 0.0
    return Ruleset.from_dict(data)
