"""Fixtures for the trader tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from cargowatch.settings import Settings


@pytest.fixture(scope="session")
def refdata_dir() -> Path:
    """The reference-data directory the settings resolve (CARGOWATCH_REFDATA or ../shared/data)."""
    path = Path(Settings.load().refdata)
    assert (path / "hs").is_dir(), f"reference data not found at {path}: set CARGOWATCH_REFDATA"
    return path
