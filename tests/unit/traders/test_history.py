"""Trader history learned from the stream: snapshots, decisions, checkpoints."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scoring"))

from scoring_samples import NOW, manifest  # noqa: E402

from enrichers.enrich import enrich_batch  # noqa: E402
from enrichers.traders import TraderHistory, TraderRegister  # noqa: E402
from schemas.model import Decision  # noqa: E402
from streams.scoring import DEFAULT_RULESET, Ruleset, ScoringReference, score_batch  # noqa: E402


def decision(alert_id: str, manifest_id: str, outcome: str, trader_ids=()) -> Decision:
    return Decision(alert_id=alert_id, manifest_id=manifest_id, version=1, outcome=outcome,
                    reason="r", officer="o", decided_at=NOW, trader_ids=list(trader_ids))


def test_unknown_trader_has_no_snapshot():
    assert TraderHistory().snapshot("DE1") is None


def test_observe_counts_shipments_chapters_routes():
    h = TraderHistory()
    h.observe([manifest(manifest_id="A"), manifest(manifest_id="B")], NOW)
    h.observe([manifest(manifest_id="B", version=2)], NOW + timedelta(hours=1))  # amendment: same shipment
    snap = h.snapshot("DE1")
    assert snap.shipments == 2
    assert snap.first_seen == NOW
    assert snap.hs_chapters == {"85": 2}
    assert snap.routes == {"CNSHA>DEHAM": 2}
    assert h.snapshot("CN1").shipments == 2


def test_decisions_feed_prior_findings_once_per_alert():
    h = TraderHistory()
    h.observe([manifest(manifest_id="A")], NOW)
    assert h.record_decision(decision("AL1", "A", "CONFIRMED"))  # traders from the observed manifest
    assert not h.record_decision(decision("AL1", "A", "CONFIRMED"))  # replayed decision
    assert h.record_decision(decision("AL2", "Z", "FALSE_POSITIVE", ["DE1"]))
    assert not h.record_decision(decision("AL3", "unknown-manifest", "CONFIRMED"))
    snap = h.snapshot("DE1")
    assert snap.confirmed_findings == 1
    assert snap.no_findings == 1
    assert h.snapshot("CN1").confirmed_findings == 1


def test_history_round_trips_through_json():
    h = TraderHistory()
    h.observe([manifest(manifest_id="A")], NOW)
    h.record_decision(decision("AL1", "A", "CONFIRMED"))
    data = h.dumps()
    assert data.startswith(b"{")
    again = TraderHistory.loads(data)
    assert again.snapshot("DE1") == h.snapshot("DE1")
    assert not again.record_decision(decision("AL1", "A", "CONFIRMED"))


def test_counters_stay_bounded_and_learn_new_keys():
    h = TraderHistory(max_keys=3)
    for i in range(10):
        m = manifest(manifest_id=f"M{i}", route={"loading_port": f"CN{i:03d}"[:5]})
        h.observe([m], NOW)
    routes = h.snapshot("DE1").routes
    assert len(routes) <= 3
    assert "CN009>DEHAM" in routes


def test_snapshot_excludes_the_manifest_being_scored(refdata_dir):
    """The core scores a batch, then observes it: the first shipment of a trader is NEW_TRADER,
    the second is not."""
    from enrichers.refdata import ReferenceData

    history = TraderHistory()
    register = TraderRegister()
    ruleset = Ruleset.load(DEFAULT_RULESET)
    reference = ScoringReference.load(None, ReferenceData.load(refdata_dir))
    now = datetime(2026, 11, 28, tzinfo=UTC)
    seen = []
    for mid in ("FIRST", "SECOND"):
        m = manifest(manifest_id=mid)
        enriched = enrich_batch([m], [now], None, register, history)
        result = score_batch(enriched, ruleset, reference, now)[0]
        seen.append("NEW_TRADER" in {h.rule_id for h in result.hits})
        history.observe([m], now)
    assert seen == [True, False]
