"""Which results become alerts, and what an alert carries (contract §5: YELLOW/RED/referral)."""

from __future__ import annotations

from datetime import datetime

from schemas.model import Alert, AlertSummary, Manifest, ScreeningResult


def alert_id(manifest_id: str, version: int) -> str:
    """The idempotency key of an alert: one alert per manifest version, ever."""
    return f"{manifest_id}:{version}"


def is_alert(result: ScreeningResult) -> bool:
    """YELLOW and RED lanes and every pre-loading referral are alerts; GREEN and BLUE are not."""
    return result.lane in ("YELLOW", "RED") or result.referral != "NONE"


def make_alert(result: ScreeningResult, manifest: Manifest, now: datetime) -> Alert:
    """An alert for officers from a result and the manifest it screened."""
    consignee = manifest.party("CONSIGNEE")
    consignor = manifest.party("CONSIGNOR")
    return Alert(
        alert_id=alert_id(result.manifest_id, result.version),
        manifest_id=result.manifest_id,
        version=result.version,
        lane=result.lane,
        referral=result.referral,
        score=result.score,
        hits=result.hits,
        watchlist_matches=result.watchlist_matches,
        ruleset_version=result.ruleset_version,
        raised_at=now,
        summary=AlertSummary(
            mode=manifest.mode,
            filer_id=manifest.filer.id,
            loading_port=manifest.route.loading_port,
            discharge_port=manifest.route.discharge_port,
            consignee_id=consignee.identifier if consignee else None,
            consignee_name=consignee.name if consignee else "",
            consignor_name=consignor.name if consignor else "",
            hs_codes=sorted({g.hs_code for g in manifest.goods}),
            departure_at=manifest.route.departure_at,
        ),
    )
