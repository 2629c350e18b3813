"""Fault tests: the real worker (subprocesses of ``cargowatch worker``) on the real broker,
killed, stopped, starved and partitioned; each test is bounded in time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cargowatch.settings import Settings


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "faults" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def fault_settings(settings: Settings) -> Iterator[Settings]:
    """The test's settings for worker subprocesses: small batches (a batch is the unit a
    crash redoes), a reference wait that does not hold up the start, and a short
    transaction timeout so the broker aborts a killed worker's open transaction soon."""
    yield settings.replace(batch_size=500, reference_wait_s=5.0, transaction_timeout_s=10.0)
