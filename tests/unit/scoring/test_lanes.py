"""Lane quotas and the reproducible random floor."""

from __future__ import annotations

from scoring_samples import NOW, enrich, manifest

from streams.scoring import (
    Ruleset,
    calibrate_thresholds,
    draw,
    lane_rates,
    quota_report,
    score_batch,
)
from streams.scoring.lanes import lane_for_score


def test_draw_is_reproducible_and_uniform():
    assert draw("M1", 1, "s") == draw("M1", 1, "s")
    assert draw("M1", 1, "s") != draw("M1", 2, "s")
    assert draw("M1", 1, "s") != draw("M1", 1, "t")
    values = [draw(f"M{i}", 1, "s") for i in range(20000)]
    assert all(0 <= v < 1 for v in values)
    share = sum(v < 0.05 for v in values) / len(values)
    assert 0.04 < share < 0.06


def test_random_selection_is_reproducible_on_replay(ruleset, reference):
    batch = [enrich(manifest(manifest_id=f"MR{i}")) for i in range(3000)]
    first = score_batch(batch, ruleset, reference, NOW)
    again = score_batch(list(reversed(batch)), ruleset, reference, NOW)
    picked = {r.manifest_id for r in first if any(h.rule_id == "RANDOM_SELECTION" for h in r.hits)}
    picked_again = {r.manifest_id for r in again if any(h.rule_id == "RANDOM_SELECTION" for h in r.hits)}
    assert picked == picked_again
    rate = ruleset.rules.random_selection.rate
    assert 0 < len(picked) < 3 * rate * len(batch)
    lanes = {r.manifest_id: r.lane for r in first}
    assert all(lanes[m] == "YELLOW" for m in picked)
    assert lanes == {r.manifest_id: r.lane for r in again}


def test_random_floor_rate_is_configurable(ruleset, reference):
    data = ruleset.spec
    import msgspec

    rules = msgspec.structs.replace(data.rules, random_selection=msgspec.structs.replace(data.rules.random_selection, rate=0.2))
    rs = Ruleset(msgspec.structs.replace(data, rules=rules))
    results = score_batch([enrich(manifest(manifest_id=f"Q{i}")) for i in range(2000)], rs, reference, NOW)
    share = sum(any(h.rule_id == "RANDOM_SELECTION" for h in r.hits) for r in results) / len(results)
    assert 0.17 < share < 0.23


def test_lane_for_score():
    assert [lane_for_score(s, 35, 65) for s in (0, 34.9, 35, 64.9, 65, 100)] == [
        "GREEN", "GREEN", "YELLOW", "YELLOW", "RED", "RED"]


def test_calibrate_thresholds_meets_expected_rates():
    scores = [float(i % 100) for i in range(10000)]
    yellow, red = calibrate_thresholds(scores, {"RED": 0.02, "YELLOW": 0.03})
    assert yellow < red
    red_rate = sum(s >= red for s in scores) / len(scores)
    sel_rate = sum(s >= yellow for s in scores) / len(scores)
    assert abs(red_rate - 0.02) < 0.011 and abs(sel_rate - 0.05) < 0.011


def test_quota_report(quiet_ruleset, reference):
    results = score_batch([enrich(manifest(manifest_id=f"L{i}")) for i in range(10)], quiet_ruleset, reference, NOW)
    observed = lane_rates(results)
    assert observed["GREEN"] == 1.0
    report = quota_report(observed, {"RED": 0.02})
    assert report["RED"] == {"expected": 0.02, "observed": 0.0, "delta": -0.02}
