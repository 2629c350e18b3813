"""The worker keeps long-lived reference data out of the cyclic collector's sight."""

from __future__ import annotations

import gc
from types import SimpleNamespace

from schemas.model import WatchlistEntry
from streams.app import _on_watchlist_swap


def test_a_swapped_in_watchlist_index_is_frozen_like_the_first() -> None:
    entries = [
        WatchlistEntry(list_id="un", entry_id=f"E{i}", names=[f"Name {i}"], kind="organization")
        for i in range(1000)
    ]
    index = SimpleNamespace(entries=entries)
    gc.unfreeze()
    try:
        before = gc.get_freeze_count()
        _on_watchlist_swap(index)
        # Every entry of the new index (and what it holds) moved to the permanent generation.
        assert gc.get_freeze_count() >= before + len(entries)
        assert not any(gc.is_tracked(e) and e in gc.get_objects(generation=2) for e in entries[:5])
    finally:
        gc.unfreeze()
