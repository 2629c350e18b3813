"""The quality evaluation on a small generated set, and the selection at a fixed rate."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.model import ScreeningResult
from streams.scoring.quality import HIGH_RISK, evaluate, select_at_rate


def result(mid: str, lane: str, score: float) -> ScreeningResult:
    return ScreeningResult(mid, 1, score, lane, "NONE", [], [], "v", datetime(2026, 1, 1, tzinfo=UTC), 0.0)


def test_select_at_rate_takes_red_then_yellow_then_score():
    results = [result("g1", "GREEN", 30), result("r", "RED", 40), result("y", "YELLOW", 90),
               result("g2", "GREEN", 10)] + [result(f"x{i}", "GREEN", 0) for i in range(16)]
    assert select_at_rate(results, 0.10) == {("r", 1), ("y", 1)}
    assert select_at_rate(results, 0.15) == {("r", 1), ("y", 1), ("g1", 1)}


def test_evaluate_small_generated_set():
    # full planted rates (about 6% high-risk here), so a wider selection than 5%
    report = evaluate(count=400, seed=9, risk_scale=1.0, batch_size=200, selection_rate=0.12)
    assert report.screened > 300
    assert report.high_risk == sorted(HIGH_RISK)
    assert report.high_risk_manifests > 0
    assert report.selected_share >= 0.9
    for rule_id in ("EMBARGO_ROUTE", "DUAL_USE_GOODS", "LATE_FILING", "WEIGHT_ANOMALY"):
        q = report.rules[rule_id]
        assert q.planted > 0 and q.recall is not None and q.recall >= 0.8, (rule_id, q)
    assert report.to_dict()["rules"]["EMBARGO_ROUTE"]["planted"] == report.rules["EMBARGO_ROUTE"].planted
