"""Record handlers that keep a worker's reference tables current from the compacted
topics: ``ref.traders`` into the TraderRegister, ``ref.watchlist`` into the WatchlistStore
(which rebuilds the index in the background and swaps it atomically)."""

from __future__ import annotations

import logging

import msgspec

from enrichers.traders import TraderHistory, TraderRegister
from enrichers.watchlist.store import ENTRY_COUNT, VERSION_MARKER_ID, WatchlistStore
from schemas.codec import Codec
from schemas.model import Decision, TraderProfile, WatchlistEntry
from streams.tables import RecordHandler

log = logging.getLogger("cargowatch.reference")


def trader_handler(register: TraderRegister, codec: Codec) -> RecordHandler:
    """Upsert a profile per record; a tombstone removes the trader."""

    def apply(key: bytes | None, value: bytes | None) -> None:
        if value is None:
            if key:
                register.remove(key.decode())
            return
        register.upsert(msgspec.convert(codec.decode("TraderProfile", value), TraderProfile))

    return apply


def decision_handler(history: TraderHistory, codec: Codec) -> RecordHandler:
    """Officer decisions into the trader history (PRIOR_FINDINGS); counted once per alert."""

    def apply(key: bytes | None, value: bytes | None) -> None:
        if value is not None:
            history.record_decision(msgspec.convert(codec.decode("Decision", value), Decision))

    return apply


def watchlist_handler(store: WatchlistStore, codec: Codec) -> RecordHandler:
    """Entries, tombstones (key ``list_id/entry_id``) and version markers into the store."""

    def apply(key: bytes | None, value: bytes | None) -> None:
        if value is None:
            if key and b"/" in key:
                list_id, entry_id = key.decode().split("/", 1)
                store.apply_tombstone(list_id, entry_id)
            return
        entry = msgspec.convert(codec.decode("WatchlistEntry", value), WatchlistEntry)
        if entry.entry_id == VERSION_MARKER_ID:
            count = next((int(i.value) for i in entry.identifiers if i.type == ENTRY_COUNT), 0)
            store.apply_marker(entry.list_id, entry.list_version, count)
        else:
            store.apply(entry)

    return apply
