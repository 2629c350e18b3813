"""The store: versions complete by marker and count, whole-list replacement, swaps."""

from __future__ import annotations

import threading

import msgspec

from enrichers.watchlist import PartyQuery, WatchlistScreener, WatchlistStore
from schemas.model import EntryName, WatchlistEntry


def entry(entry_id: str, name: str, version: str, list_id: str = "nl") -> WatchlistEntry:
    return WatchlistEntry(
        list_id, entry_id, "organization", [EntryName(name)], list_version=version
    )


def test_version_commits_on_marker_and_count() -> None:
    screener = WatchlistScreener()
    store = WatchlistStore(screener)
    store.apply_marker("nl", "v1", 2)  # the marker may arrive before its entries
    store.apply(entry("1", "Oceanic Shadow Trading", "v1"))
    assert store.pending_versions() == {"nl": ("v1", 1, 2)}
    assert screener.list_versions() == {}
    store.apply(entry("2", "Baltic Amber Logistics", "v1"))
    assert store.wait_idle(10)
    assert screener.list_versions() == {"nl": "v1"}
    assert screener.screen_parties([PartyQuery("Oceanic Shadow Trading")])[0]


def test_whole_list_replacement_drops_removed_entries_before_their_tombstones() -> None:
    screener = WatchlistScreener()
    store = WatchlistStore(screener)
    for e in (
        entry("1", "Oceanic Shadow Trading", "v1"),
        entry("2", "Baltic Amber Logistics", "v1"),
    ):
        store.apply(e)
    store.apply_marker("nl", "v1", 2)
    store.apply(entry("2", "Baltic Amber Logistics", "v2"))
    store.apply_marker("nl", "v2", 1)
    assert store.wait_idle(10)
    assert screener.list_versions() == {"nl": "v2"}
    assert screener.screen_parties([PartyQuery("Oceanic Shadow Trading")]) == [[]]
    assert screener.screen_parties([PartyQuery("Baltic Amber Logistics")])[0]
    store.apply_tombstone("nl", "1")  # arrives later: harmless


def test_lists_are_independent_and_swaps_are_atomic() -> None:
    swapped = threading.Event()
    screener = WatchlistScreener()
    store = WatchlistStore(screener, on_swap=lambda _index: swapped.set())
    store.apply(entry("1", "Oceanic Shadow Trading", "a1", "a"))
    store.apply_marker("a", "a1", 1)
    store.apply(entry("9", "Nordic Star Shipping", "b1", "b"))
    store.apply_marker("b", "b1", 1)
    assert store.wait_idle(10) and swapped.is_set()
    assert screener.list_versions() == {"a": "a1", "b": "b1"}
    old = screener.index
    store.apply(msgspec.structs.replace(entry("1", "Oceanic Shadow Trading", "a2", "a")))
    store.apply_marker("a", "a2", 1)
    assert store.wait_idle(10)
    assert screener.index is not old and old.versions == {"a": "a1", "b": "b1"}
    assert screener.list_versions() == {"a": "a2", "b": "b1"}
