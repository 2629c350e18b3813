"""A batch scores as its manifests do one at a time: the rules run as a few queries over
the whole batch and their hits are gathered back per manifest (streams/scoring/engine.py),
so a hit landing on the wrong manifest, a flag lost in a filter or a cache that changes a
verdict shows up here, on generator traffic with every kind of planted risk."""

from __future__ import annotations

from datetime import datetime

import pytest

from schemas.model import Decision, WatchlistMatch
from streams.scoring import score_batch
from streams.scoring.reference import ScoringReference


@pytest.fixture(scope="module")
def generated(ref, monkeypatch_module):
    """Enriched generator manifests (full planted-risk rates, trader history from the
    first chunk, officer findings on a few traders), as the screening path builds them."""
    import msgspec

    import streams.screening as screening
    from cargowatch.generator.engine import ManifestGenerator
    from cargowatch.settings import Settings
    from enrichers.traders import TraderRegister
    from schemas.model import TraderProfile
    from streams.context import build_context
    from streams.scoring.quality import _inbound

    captured: list[tuple] = []

    def capture(enriched, ruleset, reference, now):
        captured.append((enriched, ruleset, reference, now))
        return score_batch(enriched, ruleset, reference, now)

    monkeypatch_module.setattr(screening, "score_batch", capture)
    generator = ManifestGenerator(ref, seed=11)
    ctx = build_context(Settings.load())
    ctx.traders = TraderRegister(msgspec.convert(r, TraderProfile) for r in generator.register())
    records = list(generator.records(700))
    for start in (0, 350):
        chunk = records[start : start + 350]
        inbound = list(_inbound(chunk, start))
        now = max(i.received_at for i in inbound if hasattr(i.item, "filed_at"))
        screening.screen_batch(inbound, ctx, now)
        if start == 0:
            # confirmed findings against a few consignees seen in the first chunk
            for em in captured[0][0][:40:4]:
                for pc in em.parties:
                    if pc.role == "CONSIGNEE" and pc.trader_id:
                        ctx.history.record_decision(
                            Decision(f"A-{pc.trader_id}", em.manifest.manifest_id, 1, "CONFIRMED", "found", "o1", now,
                                     trader_ids=[pc.trader_id])
                        )
    enriched, ruleset, reference, now = captured[-1]
    # a few strong and weak watchlist matches (the screener is not part of this test)
    for k, em in enumerate(enriched[5:60:11]):
        em.watchlist_matches = [WatchlistMatch("CONSIGNEE", "x", "UN-SC", str(k), "x", 0.97 if k % 2 else 0.85)]
    return enriched, ruleset, reference, now


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_batch_equals_one_at_a_time(generated):
    enriched, ruleset, reference, now = generated
    batch = score_batch(enriched, ruleset, reference, now)
    fresh = ScoringReference(
        reference.ref, reference.dual_use, reference.country_risk, reference.keywords, reference.benchmarks,
        reference.versions, reference.dual_use_pattern, reference.profiled_chapters, reference.hubs,
    )
    single = [score_batch([em], ruleset, fresh, now)[0] for em in enriched]
    assert len(batch) == len(enriched) > 250
    for a, b in zip(batch, single, strict=True):
        assert a == b, (a.manifest_id, a.hits, b.hits)
    # the comparison covers every kind of rule, each firing on some but not all manifests
    fired = {h.rule_id for r in batch for h in r.hits}
    expected = {
        "WATCHLIST_PARTY", "EMBARGO_ROUTE", "DUAL_USE_GOODS", "UNDERVALUATION", "DESCRIPTION_MISMATCH",
        "NEW_TRADER", "LATE_FILING", "LATE_AMENDMENT", "ROUTE_ANOMALY", "WEIGHT_ANOMALY", "PRIOR_FINDINGS",
        "TRUSTED_TRADER",
    }
    assert expected <= fired, expected - fired
    assert any(r.referral != "NONE" for r in batch)
    assert isinstance(batch[0].screened_at, datetime)


def test_batch_equals_one_at_a_time_with_manifest_criteria(generated):
    # criteria on manifest fields (scalars and route lists) read each line's own manifest
    import yaml

    from streams.scoring import DEFAULT_RULESET, Ruleset

    enriched, _, reference, now = generated
    data = yaml.safe_load(DEFAULT_RULESET.read_text())
    data["criteria"] = [
        {"id": "LANE_CN", "when": 'loading_country == "CN" and hs_chapter in ["84", "85"]', "weight": 5},
        {"id": "VIA_HUB", "when": "transshipment_countries contains SG or transshipment_countries contains AE", "weight": 5},
        {"id": "HEAVY_FEW_LINES", "when": "total_gross_weight_kg > 10000 and goods_count <= 2", "weight": 5},
    ]
    ruleset = Ruleset.from_dict(data)
    batch = score_batch(enriched, ruleset, reference, now)
    single = [score_batch([em], ruleset, reference, now)[0] for em in enriched]
    assert batch == single
    fired = [sum(h.rule_id == c["id"] for r in batch for h in r.hits) for c in data["criteria"]]
    assert all(0 < f < len(batch) for f in fired), fired


def test_scoring_twice_gives_the_same_results(generated):
    # the caches filled by the first pass (benchmark rows, description verdicts, the
    # compiled plan) do not change any verdict
    enriched, ruleset, reference, now = generated
    assert score_batch(enriched, ruleset, reference, now) == score_batch(enriched, ruleset, reference, now)
