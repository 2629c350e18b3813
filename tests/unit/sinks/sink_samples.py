"""Records for sink tests: a manifest, its screening result and the alert officers see.

Imported by the unit tests here and, as ``unit.sinks.sink_samples``, by the integration
and browser tests (``tests/`` is on the path through tests/conftest.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.model import (
    Address,
    Alert,
    AlertSummary,
    Conveyance,
    Document,
    Filer,
    GoodsItem,
    Hit,
    Manifest,
    Party,
    Rejection,
    Route,
    ScreeningResult,
    Source,
    ValidationError,
    WatchlistMatch,
)
from streams.alerts import make_alert

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def make_manifest(
    manifest_id: str = "24NL0000000000001", version: int = 1, mode: str = "SEA"
) -> Manifest:
    """A small valid sea manifest from Shanghai to Rotterdam."""
    return Manifest(
        manifest_id=manifest_id,
        version=version,
        mode=mode,  # type: ignore[arg-type]
        filed_at=NOW - timedelta(days=2),
        filer=Filer(id="NL123456789", name="Ocean Carrier B.V."),
        document=Document(type="HOUSE_BL", number="HBL-2026-000123", master_number="MAEU123456789"),
        conveyance=Conveyance(carrier_code="MAEU", vessel_imo="9321483", vessel_name="EMMA MAERSK"),
        route=Route(
            loading_port="CNSHA",
            discharge_port="NLRTM",
            departure_at=NOW + timedelta(days=1),
            arrival_at=NOW + timedelta(days=30),
            transshipment_ports=["SGSIN"],
            routing_countries=["CN", "SG", "NL"],
        ),
        parties=[
            Party(
                role="CONSIGNOR",
                name="Shenzhen Bright Star Electronics",
                address=Address(city="Shenzhen", country="CN"),
                identifier="CN9988776655",
            ),
            Party(
                role="CONSIGNEE",
                name="Müller Elektronik GmbH",
                address=Address(city="Hamburg", country="DE"),
                identifier="DE123456789",
            ),
        ],
        goods=[
            GoodsItem(
                line=1,
                hs_code="851713",
                description="Smartphones",
                packages=40,
                gross_weight_kg=400.0,
                value_amount=120000.0,
                value_currency="USD",
                origin_country="CN",
            ),
        ],
        total_gross_weight_kg=400.0,
        total_packages=40,
    )


def make_result(
    manifest: Manifest, lane: str = "RED", referral: str = "NONE", screened_at: datetime = NOW
) -> ScreeningResult:
    """A result with two hits and a watchlist match."""
    return ScreeningResult(
        manifest_id=manifest.manifest_id,
        version=manifest.version,
        score=72.5 if lane == "RED" else 12.0,
        lane=lane,  # type: ignore[arg-type]
        referral=referral,  # type: ignore[arg-type]
        hits=[
            Hit(
                rule_id="DUAL_USE_GOODS",
                weight=30.0,
                reason="HS 851713 is on the strategic goods list",
                evidence={"hs_code": "851713", "list": "EU 2021/821"},
            ),
            Hit(
                rule_id="WATCHLIST_PARTY",
                weight=40.0,
                reason="consignor resembles a listed entity",
                evidence={"party_role": "CONSIGNOR", "score": "0.91"},
            ),
        ],
        watchlist_matches=[
            WatchlistMatch(
                party_role="CONSIGNOR",
                party_name="Shenzhen Bright Star Electronics",
                list_id="OFAC-SDN",
                entry_id="12345",
                matched_name="BRIGHT STAR ELECTRONICS CO",
                score=0.91,
                explanation="3 of 4 name parts agree; legal form ignored",
            ),
        ],
        ruleset_version="2026.11-test",
        screened_at=screened_at,
        latency_ms=12.5,
    )


def make_alert_record(
    manifest_id: str = "24NL0000000000001",
    version: int = 1,
    lane: str = "RED",
    referral: str = "NONE",
    mode: str = "SEA",
) -> Alert:
    """An alert as the pipeline raises it (streams.alerts.make_alert)."""
    manifest = make_manifest(manifest_id, version, mode)
    return make_alert(make_result(manifest, lane, referral), manifest, datetime.now(UTC))


def make_rejection(manifest_id: str | None = "24NL0000000000009", offset: int = 0) -> Rejection:
    """A rejection with two errors."""
    return Rejection(
        manifest_id=manifest_id,
        version=1 if manifest_id else None,
        errors=[
            ValidationError(
                code="HS_CODE", path="goods[0].hs_code", message="not an HS subheading"
            ),
            ValidationError(
                code="COUNTRY", path="parties[1].address.country", message="XX is not ISO 3166"
            ),
        ],
        received_at=NOW,
        source=Source(kind="kafka", topic="manifests.raw", partition=0, offset=offset),
    )


__all__ = [
    "AlertSummary",
    "NOW",
    "make_alert_record",
    "make_manifest",
    "make_rejection",
    "make_result",
]
