"""Value benchmarks: robust statistics of log USD/kg per HS subheading and origin, with the
subheading and chapter fallbacks; and UNDERVALUATION using them."""

from __future__ import annotations

import math

import polars as pl
import pytest
from scoring_samples import NOW, enrich, goods, manifest

from streams.scoring import score_batch
from streams.scoring.benchmarks import compute_benchmarks, goods_frame


def lines(hs: str, origin: str, usd_per_kg: list[float], currency: str = "USD") -> pl.DataFrame:
    return pl.DataFrame({
        "hs_code": [hs] * len(usd_per_kg),
        "origin_country": [origin] * len(usd_per_kg),
        "gross_weight_kg": [10.0] * len(usd_per_kg),
        "value_amount": [v * 10.0 for v in usd_per_kg],
        "value_currency": [currency] * len(usd_per_kg),
    })


def test_median_and_mad_of_log_value_per_kg():
    values = [10.0, 10.0, 10.0, 20.0, 5.0, 1000.0]  # one wild outlier
    table = compute_benchmarks(lines("85171200", "CN", values), {"USD": 1.0}, min_samples=5)
    row = table.filter(pl.col("level") == "hs6_origin").row(0, named=True)
    assert (row["hs"], row["origin"], row["n"]) == ("851712", "CN", 6)
    assert row["median_log_vpk"] == pytest.approx(math.log(10.0))
    # MAD of the logs: |log v - log 10| = 0,0,0,log2,log2,log100 -> median (0 + log 2) / 2
    assert row["mad_log_vpk"] == pytest.approx(math.log(2.0) / 2)


def test_levels_and_fallbacks():
    frame = pl.concat([
        lines("851712", "CN", [10.0] * 6),
        lines("851712", "VN", [12.0] * 3),  # too few for an origin benchmark
        lines("851762", "CN", [30.0] * 6),
    ])
    table = compute_benchmarks(frame, {"USD": 1.0}, min_samples=5)
    levels = {(r["level"], r["hs"], r["origin"]): r["n"] for r in table.iter_rows(named=True)}
    assert levels[("hs6_origin", "851712", "CN")] == 6
    assert ("hs6_origin", "851712", "VN") not in levels
    assert levels[("hs6", "851712", "")] == 9
    assert levels[("chapter", "85", "")] == 15


def test_currencies_are_converted_and_unknown_ones_left_out():
    frame = pl.concat([lines("851712", "CN", [10.0] * 5, "EUR"), lines("851712", "CN", [10.0] * 5, "XXX")])
    table = compute_benchmarks(frame, {"EUR": 2.0}, min_samples=5)
    row = table.filter(pl.col("level") == "hs6").row(0, named=True)
    assert row["n"] == 5
    assert row["median_log_vpk"] == pytest.approx(math.log(20.0))


def test_goods_frame_from_manifests():
    frame = goods_frame([manifest(), manifest(goods=goods(hs_code="610910"))])
    assert frame.height == 2
    assert frame["hs_code"].to_list() == ["851712", "610910"]


def test_undervaluation_uses_the_benchmark(quiet_ruleset, reference):
    # benchmark in conftest: 50 USD/kg, MAD 0.2 -> 20 USD/kg is z = log(0.4)/0.3 = -3.1, ratio 0.4
    at_40pct = score_batch([enrich(manifest(goods=goods(value_amount=20000.0)))], quiet_ruleset, reference, NOW)[0]
    at_10pct = score_batch([enrich(manifest(goods=goods(value_amount=5000.0)))], quiet_ruleset, reference, NOW)[0]
    assert "UNDERVALUATION" not in {h.rule_id for h in at_40pct.hits}  # above max_ratio 0.35
    hit = next(h for h in at_10pct.hits if h.rule_id == "UNDERVALUATION")
    assert hit.evidence["benchmark_level"] == "hs6_origin"
    assert float(hit.evidence["benchmark_usd_per_kg"]) == pytest.approx(50.0)


def test_shipped_benchmarks_load(ref):
    from streams.scoring import ScoringReference

    table = ScoringReference.load(None, ref).benchmarks
    assert table.height > 1000
    assert set(table["level"].unique()) == {"hs6_origin", "hs6", "chapter"}


def test_route_profiles_keep_hubs_above_the_share():
    from streams.scoring.benchmarks import route_profiles

    ms = [manifest(manifest_id=f"A{i}", route={"transshipment_ports": ["SGSIN"]}) for i in range(50)]
    ms += [manifest(manifest_id=f"B{i}", route={"transshipment_ports": []}) for i in range(49)]
    ms += [manifest(manifest_id="C", route={"transshipment_ports": ["PAONX"]})]
    assert route_profiles(ms, min_share=0.02) == {"CN": ["SGSIN"]}
