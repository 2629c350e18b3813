"""The scoring benchmark's bookkeeping (no timing is asserted: speed lives in the benchmark)."""

from __future__ import annotations

from streams.scoring.bench import run_scoring_bench, synthetic_batch


def test_bench_reports_the_fastest_of_its_passes_and_every_pass():
    report = run_scoring_bench(4000, batch_size=2000, single=5, other_sizes=(4000,), passes=2)
    batch = report["batch"]
    assert batch["manifests"] == 4000 and report["per_manifest"]["manifests"] == 5
    rates = batch["cpu_rates_of_passes"]
    assert len(rates) == 2
    assert batch["manifests_per_cpu_s"] == max(rates)  # the least disturbed pass
    assert report["by_batch_size"]["2000"] is batch
    assert len(report["by_batch_size"]["4000"]["cpu_rates_of_passes"]) == 2


def test_synthetic_traffic_carries_the_risks_it_is_made_to_cost():
    batch = synthetic_batch(3000)
    assert len({em.manifest.manifest_id for em in batch}) == 3000
    assert any(em.watchlist_matches for em in batch)
    assert any(pc.history is None for em in batch for pc in em.parties)  # new traders
    assert any(g.origin_country == "IR" for em in batch for g in em.manifest.goods)
