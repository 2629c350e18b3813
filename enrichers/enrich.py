"""Enrichment: attach watchlist matches, trader profiles and trader history to a batch of
valid manifests. Pure over its inputs: the watchlist screener, the register and the
history are handed in; nothing here reads Kafka or the clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from enrichers.enriched import EnrichedManifest, PartyContext, TraderHistorySnapshot
from schemas.model import FilingFingerprint, Manifest, TraderProfile, WatchlistMatch


class PartyScreener(Protocol):
    """What enrichment needs of the watchlist stage (enrichers.watchlist)."""

    def screen_manifests(self, manifests: Sequence[Manifest]) -> list[list[WatchlistMatch]]: ...

    def list_versions(self) -> dict[str, str]: ...


class TraderLookup(Protocol):
    def get(self, trader_id: str) -> TraderProfile | None: ...


class HistoryLookup(Protocol):
    def snapshot(self, trader_id: str) -> TraderHistorySnapshot | None: ...


def enrich_batch(
    manifests: Sequence[Manifest],
    received_at: Sequence[datetime],
    screener: PartyScreener | None,
    traders: TraderLookup,
    history: HistoryLookup,
    previous: Sequence[FilingFingerprint | None] | None = None,
) -> list[EnrichedManifest]:
    """One EnrichedManifest per manifest, in order. Watchlist screening runs once for the
    whole batch (the screener batches and caches names)."""
    matches = screener.screen_manifests(manifests) if screener else [[] for _ in manifests]
    versions = screener.list_versions() if screener else {}
    # A trader files many manifests of a batch: look each one up once (the register and
    # the history do not change while the batch is enriched).
    known: dict[str, tuple[TraderProfile | None, TraderHistorySnapshot | None]] = {}
    out: list[EnrichedManifest] = []
    for i, manifest in enumerate(manifests):
        parties = []
        for j, party in enumerate(manifest.parties):
            tid = party.identifier or None
            profile = history_snapshot = None
            if tid:
                found = known.get(tid)
                if found is None:
                    found = known[tid] = (traders.get(tid), history.snapshot(tid))
                profile, history_snapshot = found
            parties.append(PartyContext(j, party.role, tid, profile, history_snapshot))
        out.append(
            EnrichedManifest(
                manifest=manifest,
                received_at=received_at[i],
                watchlist_matches=matches[i],
                parties=parties,
                list_versions=versions,
                previous_version=previous[i] if previous else None,
            )
        )
    return out
