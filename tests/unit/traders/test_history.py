"""Trader history learned from the stream: snapshots, decisions, the table's deltas and replica."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scoring"))

from scoring_samples import NOW, manifest  # noqa: E402

from enrichers.enrich import enrich_batch  # noqa: E402
from enrichers.traders import (  # noqa: E402
    DecisionNote,
    TraderDelta,
    TraderHistory,
    TraderRegister,
    TraderState,
    decode_deltas,
    decode_state,
    encode_deltas,
    encode_state,
)
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


def test_history_round_trips_through_table_records():
    # what a worker learns goes out as deltas; folded into table states and read back by
    # another worker (its changelog tail), they give the same snapshots
    h = TraderHistory(origin="w1")
    h.observe([manifest(manifest_id="A"), manifest(manifest_id="B")], NOW)
    h.record_decision(decision("AL1", "A", "CONFIRMED"))
    table: dict[str, TraderState] = {}
    for d in h.take_deltas():
        table.setdefault(d.trader_id, TraderState()).fold(decode_deltas(encode_deltas([d]))[0])
    assert h.take_deltas() == []
    other = TraderHistory(origin="w2")
    for tid, st in table.items():
        other.replace(tid, decode_state(encode_state(st)))
    for tid in ("DE1", "CN1"):
        assert other.snapshot(tid) == h.snapshot(tid)
    assert other.state("DE1").recent_decisions[0].alert_id == "AL1"


def test_a_delta_delivered_twice_is_folded_once():
    h = TraderHistory(origin="w1")
    h.observe([manifest(manifest_id="A")], NOW)
    (d, *_) = [d for d in h.take_deltas() if d.trader_id == "DE1"]
    st = TraderState()
    assert st.fold(d)
    assert not st.fold(d)
    assert st.shipments == 1
    # a decision seen again (redelivered to the fold agent) counts once
    note = TraderDelta("DE1", decisions=[DecisionNote("AL9", "CONFIRMED", NOW)])
    st.fold(note)
    st.fold(note)
    assert st.confirmed == 1


def test_own_deltas_count_until_the_table_holds_them():
    h = TraderHistory(origin="w1")
    h.observe([manifest(manifest_id="A")], NOW)
    first = h.take_deltas()
    h.observe([manifest(manifest_id="B")], NOW + timedelta(minutes=1))
    second = h.take_deltas()
    assert h.snapshot("DE1").shipments == 2 and h.unconfirmed == 4
    # the table has folded the first batch only: the second still counts on top of it
    st = TraderState()
    st.fold(next(d for d in first if d.trader_id == "DE1"))
    h.replace("DE1", st.copy())
    assert h.snapshot("DE1").shipments == 2
    # ... and once it holds both, the table's state is the snapshot
    st.fold(next(d for d in second if d.trader_id == "DE1"))
    st.shipments += 5  # learned by other workers meanwhile
    h.replace("DE1", st.copy())
    assert h.snapshot("DE1").shipments == 7
    assert h.unconfirmed == 2  # CN1's deltas are still pending


def test_changelog_records_are_read_when_their_trader_is_looked_up():
    # the tail stores each record as it came; the latest one counts, read at the lookup
    h = TraderHistory(origin="w1")
    h.observe([manifest(manifest_id="A")], NOW)
    st = TraderState()
    st.fold(next(d for d in h.take_deltas() if d.trader_id == "DE1"))
    st.shipments += 2  # other workers' shipments
    h.replace_raw("DE1", encode_state(st))
    st.shipments += 3
    h.replace_raw("DE1", encode_state(st))
    assert "DE1" in h._stale
    assert h.snapshot("DE1").shipments == 6 and "DE1" not in h._stale
    # a batch of its own right after a record arrived: its delta counts once
    h.replace_raw("DE1", encode_state(st))
    h.observe([manifest(manifest_id="B")], NOW)
    assert h.snapshot("DE1").shipments == 7
    assert h.unconfirmed == 3  # DE1's second delta, CN1's two
    # an unreadable record is left out (the previous state stays); a deletion
    h.replace_raw("CN1", b"{not json")
    assert h.snapshot("CN1").shipments == 2
    h.replace_raw("XX9", encode_state(st))
    assert len(h) == 3
    h.replace_raw("XX9", None)
    assert h.snapshot("XX9") is None and len(h) == 2


def test_pending_deltas_stay_bounded():
    h = TraderHistory(origin="w1", max_pending=20)
    for k in range(30):
        party = {"role": "CONSIGNEE", "name": "Acme", "address": {"city": "Hamburg", "country": "DE"}, "identifier": f"T{k}"}
        h.observe([manifest(manifest_id=f"M{k}", parties=[party])], NOW)
    assert 0 < h.unconfirmed <= 20
    assert h.unconfirmed == sum(len(v) for v in h._pending.values())
    assert h.snapshot("T29").shipments == 1  # what the worker learned still counts


def test_standalone_history_queues_nothing():
    h = TraderHistory()
    h.observe([manifest(manifest_id="A")], NOW)
    assert h.take_deltas() == [] and h.unconfirmed == 0
    assert h.snapshot("DE1").shipments == 1


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


def test_write_behind_writes_each_changed_trader_once_with_its_last_state():
    from streams.history import WriteBehind

    h = TraderHistory(origin="w1")
    h.observe([manifest(manifest_id="A")], NOW)
    first = h.take_deltas()
    h.observe([manifest(manifest_id="B")], NOW)
    second = h.take_deltas()
    store: dict[bytes, bytes] = {}
    fold = WriteBehind(store, max_keys=32)
    assert fold.add(3, first) == 2
    assert fold.add(3, second) == 2
    assert store == {}  # nothing written before the window closes
    written = fold.take()
    assert list(written) == [3]
    assert sorted(k for k, _ in written[3]) == [b"CN1", b"DE1"]  # each trader once
    assert dict(written[3]) == store  # the records to write are the store's new values
    assert decode_state(store[b"DE1"]).shipments == 2
    assert fold.take() == {}  # taken: the next window starts empty
    # a redelivered record changes nothing and writes nothing
    again = WriteBehind(store, max_keys=32)
    assert again.add(3, second) == 0
    assert again.take() == {}
    assert decode_state(store[b"DE1"]).shipments == 2
