"""Replays and amendments (contract §1): which manifest versions have been screened.

The same (manifest_id, version) again is a replay: screened at most once, never rejected.
A lower version than one already screened is an out-of-order amendment: recorded, not
re-scored. The ledger is in memory, and rebuilt from ``manifests.screened`` when the worker
is given a partition (results are written to the same partition number as their input).

>>> ledger = VersionLedger()
>>> ledger.classify("M1", 1)
'new'
>>> ledger.mark("M1", 2); ledger.classify("M1", 2), ledger.classify("M1", 1)
('replay', 'out_of_order')
"""

from __future__ import annotations

from typing import Literal

Arrival = Literal["new", "replay", "out_of_order"]


class VersionLedger:
    """Highest screened version per manifest_id."""

    __slots__ = ("_latest",)

    def __init__(self) -> None:
        self._latest: dict[str, int] = {}

    def classify(self, manifest_id: str, version: int) -> Arrival:
        """How a manifest version arriving now relates to what was screened."""
        latest = self._latest.get(manifest_id)
        if latest is None or version > latest:
            return "new"
        if version == latest:
            return "replay"
        # A lower version may still be an already-screened one (a replay of v1 after v2);
        # either way it is not scored again.
        return "out_of_order"

    def mark(self, manifest_id: str, version: int) -> None:
        """Record that this version was screened."""
        if version > self._latest.get(manifest_id, 0):
            self._latest[manifest_id] = version

    def latest(self, manifest_id: str) -> int | None:
        return self._latest.get(manifest_id)

    def __len__(self) -> int:
        return len(self._latest)
