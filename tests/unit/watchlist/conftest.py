"""Fixtures of the watchlist tests: the shared real lists and labelled sets, and small
fixture files written from the published layouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from cargowatch.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def refdata() -> Path:
    path = Path(Settings.load(env={}).refdata)
    if not (path / "sanctions").is_dir():
        pytest.skip(f"shared reference data not found at {path}")
    return path


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES
