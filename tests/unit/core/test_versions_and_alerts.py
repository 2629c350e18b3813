"""Replays, out-of-order amendments and which results become alerts."""

from datetime import UTC, datetime

from schemas.model import ScreeningResult
from streams.alerts import alert_id, is_alert
from streams.versions import VersionLedger


def test_ledger_classifies_new_replay_and_out_of_order() -> None:
    ledger = VersionLedger()
    assert ledger.classify("M", 1) == "new"
    ledger.mark("M", 1)
    assert ledger.classify("M", 1) == "replay"
    assert ledger.classify("M", 2) == "new"
    ledger.mark("M", 3)
    assert ledger.classify("M", 2) == "out_of_order"
    ledger.mark("M", 2)  # a lower mark never lowers the high-water version
    assert ledger.latest("M") == 3


def _result(lane: str, referral: str = "NONE") -> ScreeningResult:
    return ScreeningResult(
        manifest_id="M",
        version=1,
        score=0,
        lane=lane,  # type: ignore[arg-type]
        referral=referral,  # type: ignore[arg-type]
        hits=[],
        watchlist_matches=[],
        ruleset_version="t",
        screened_at=datetime.now(UTC),
        latency_ms=0,
    )


def test_alerts_are_yellow_red_and_referrals() -> None:
    assert not is_alert(_result("GREEN"))
    assert not is_alert(_result("BLUE"))
    assert is_alert(_result("YELLOW"))
    assert is_alert(_result("RED"))
    assert is_alert(_result("GREEN", "RFI"))
    assert alert_id("M1", 2) == "M1:2"
