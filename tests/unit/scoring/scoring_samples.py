"""Builders for the scoring tests: a clean manifest to vary and its enrichment."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from enrichers.enriched import EnrichedManifest, PartyContext, TraderHistorySnapshot
from schemas.model import (
    FilingFingerprint,
    Manifest,
    TraderProfile,
    WatchlistMatch,
    manifest_from_dict,
)

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)

CLEAN: dict[str, Any] = {
    "manifest_id": "M-CLEAN-1",
    "version": 1,
    "mode": "SEA",
    "filed_at": "2026-11-20T00:00:00Z",
    "filer": {"id": "MAEU", "name": "A.P. Moller - Maersk A/S"},
    "document": {"type": "HOUSE_BL", "number": "MAEU123456"},
    "conveyance": {"vessel_imo": "9321483", "vessel_name": "EMMA MAERSK"},
    "route": {
        "loading_port": "CNSHA",
        "discharge_port": "DEHAM",
        "transshipment_ports": ["SGSIN"],
        "routing_countries": [],
        "departure_at": "2026-11-22T00:00:00Z",
        "arrival_at": "2026-12-20T00:00:00Z",
    },
    "parties": [
        {"role": "CONSIGNEE", "name": "Acme Import GmbH", "address": {"city": "Hamburg", "country": "DE"}, "identifier": "DE1"},
        {"role": "CONSIGNOR", "name": "Shanghai Bright Co., Ltd.", "address": {"city": "Shanghai", "country": "CN"}, "identifier": "CN1"},
    ],
    "goods": [
        {"line": 1, "hs_code": "851712", "description": "smartphones - Telephones for cellular networks",
         "packages": 100, "gross_weight_kg": 1000.0, "value_amount": 50000.0, "value_currency": "USD",
         "origin_country": "CN"},
    ],
    "containers": [{"number": "CSQU3054383", "seal_numbers": ["S1"]}],
    "total_gross_weight_kg": 1000.0,
    "total_packages": 100,
}

# A trader the history knows well: 20 shipments on the clean route, no findings.
KNOWN = TraderHistorySnapshot(
    trader_id="X", first_seen=NOW - timedelta(days=200), shipments=20,
    hs_chapters={"85": 20}, routes={"CNSHA>DEHAM": 20},
)


def manifest(**changes: Any) -> Manifest:
    """The clean manifest with top-level fields replaced; nested dicts are merged
    (``route={"loading_port": "IRBND"}`` changes only that port)."""
    data = copy.deepcopy(CLEAN)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    return manifest_from_dict(data)


def goods(**changes: Any) -> list[dict[str, Any]]:
    line = copy.deepcopy(CLEAN["goods"][0])
    line.update(changes)
    return [line]


def enrich(
    m: Manifest,
    *,
    matches: list[WatchlistMatch] | None = None,
    profiles: dict[str, TraderProfile] | None = None,
    history: dict[str, TraderHistorySnapshot] | None = None,
    previous: Manifest | None = None,
    known: bool = True,
) -> EnrichedManifest:
    """An enriched manifest; by default every identified party is a well-known trader."""
    profiles = profiles or {}
    history = history or {}
    parties = []
    for i, p in enumerate(m.parties):
        tid = p.identifier
        snap = history.get(tid or "")
        if snap is None and known and tid:
            snap = TraderHistorySnapshot(
                trader_id=tid, first_seen=KNOWN.first_seen, shipments=KNOWN.shipments,
                hs_chapters=KNOWN.hs_chapters, routes=KNOWN.routes,
            )
        parties.append(PartyContext(index=i, role=p.role, trader_id=tid,
                                    profile=profiles.get(tid or ""), history=snap))
    return EnrichedManifest(
        manifest=m, received_at=NOW - timedelta(milliseconds=250), watchlist_matches=matches or [],
        parties=parties, list_versions={"OFAC-SDN": "2026-11-27"}, previous_version=FilingFingerprint.of(previous) if previous else None,
    )


