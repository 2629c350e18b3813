"""The enriched manifest: what the scoring stage gets, everything it needs and nothing it
has to look up itself (no I/O, no clock in scoring)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from msgspec import Struct

from schemas.model import FilingFingerprint, Manifest, TraderProfile, WatchlistMatch


class TraderHistorySnapshot(Struct, frozen=True):
    """What the screening history says of one trader *before* the manifest being scored."""

    trader_id: str
    first_seen: datetime | None = None
    shipments: int = 0
    hs_chapters: dict[str, int] = {}
    routes: dict[str, int] = {}  # "LOADING>DISCHARGE" -> count
    confirmed_findings: int = 0
    no_findings: int = 0


@dataclass(frozen=True, slots=True)
class PartyContext:
    """One manifest party with what the register and the history know of it."""

    index: int  # position in manifest.parties
    role: str
    trader_id: str | None
    profile: TraderProfile | None
    history: TraderHistorySnapshot | None


@dataclass(slots=True)
class EnrichedManifest:
    manifest: Manifest
    received_at: datetime  # the input record's Kafka timestamp (or file read time)
    watchlist_matches: list[WatchlistMatch] = field(default_factory=list)
    parties: list[PartyContext] = field(default_factory=list)
    list_versions: dict[str, str] = field(default_factory=dict)
    previous_version: FilingFingerprint | None = None  # the last screened version, for amendments
