"""Shared generated streams for the generator tests (built once per session: the trader
pool takes a few seconds)."""

from __future__ import annotations

import pytest

from cargowatch.generator import GeneratorConfig, ManifestGenerator, RiskRates
from cargowatch.settings import Settings
from enrichers.refdata import ReferenceData

RISKY_RATES = RiskRates(
    watchlist=0.05,
    embargo_route=0.05,
    route_anomaly=0.05,
    dual_use=0.05,
    undervaluation=0.05,
    description_mismatch=0.05,
    new_trader=0.05,
    late_filing=0.05,
    weight_anomaly=0.05,
    late_amendment=0.02,
    trusted_trader=0.15,
    invalid=0.10,
    amendment=0.04,
    replay=0.02,
)


@pytest.fixture(scope="session")
def ref() -> ReferenceData:
    directory = Settings.load().refdata
    try:
        return ReferenceData.load(directory)
    except FileNotFoundError as exc:  # RefDataError
        pytest.skip(f"reference data not available: {exc}")


@pytest.fixture(scope="session")
def clean_generator(ref: ReferenceData) -> ManifestGenerator:
    return ManifestGenerator(ref, GeneratorConfig(rates=RiskRates.none()), seed=11)


@pytest.fixture(scope="session")
def clean_run(clean_generator: ManifestGenerator) -> list:
    return list(clean_generator.records(2000))


@pytest.fixture(scope="session")
def risky_generator(ref: ReferenceData) -> ManifestGenerator:
    return ManifestGenerator(ref, GeneratorConfig(rates=RISKY_RATES), seed=23)


@pytest.fixture(scope="session")
def risky_run(risky_generator: ManifestGenerator) -> list:
    return list(risky_generator.records(5000))
