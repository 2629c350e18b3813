"""The benchmark's own logic, without a broker: cloning framed manifests, percentiles,
the BENCHMARKS.md section update. No timing asserts: performance lives in the benchmark."""

from __future__ import annotations

from pathlib import Path

from unit.sinks.sink_samples import make_manifest

from cargowatch.bench.data import BenchRecord, clone_to, relabel, with_manifest_id
from cargowatch.bench.measure import _loop_lag, frozen_heap, percentile, settle
from cargowatch.bench.report import RESULTS_END, RESULTS_START, update_benchmarks_md
from schemas.codec import Codec


def _framed(manifest_id: str) -> BenchRecord:
    value = Codec().encode("Manifest", make_manifest(manifest_id))
    return BenchRecord(manifest_id.encode(), value, True)


def test_with_manifest_id_rewrites_only_the_id() -> None:
    codec = Codec()
    original = _framed("24NL0000000000001")
    renamed = with_manifest_id(original.value, "24NL0000000000001~copy-with-a-longer-id")
    before, after = codec.decode("Manifest", original.value), codec.decode("Manifest", renamed)
    assert after["manifest_id"] == "24NL0000000000001~copy-with-a-longer-id"
    assert {k: v for k, v in after.items() if k != "manifest_id"} == {
        k: v for k, v in before.items() if k != "manifest_id"
    }


def test_clone_to_makes_distinct_filings_and_keeps_unframed_records() -> None:
    pool = [_framed("A1"), _framed("A2"), BenchRecord(None, b"not avro", False)]
    out = clone_to(pool, 8)
    assert len(out) == 8
    framed_keys = [r.key for r in out if r.framed]
    assert len(framed_keys) == len(set(framed_keys))  # every clone is a new filing
    assert sum(not r.framed for r in out) == 2  # garbage stays garbage, cloned as is
    codec = Codec()
    assert all(
        codec.decode("Manifest", r.value)["manifest_id"].encode() == r.key for r in out if r.framed
    )
    assert {r.key for r in relabel(out, "~lat")}.isdisjoint(framed_keys)


def test_the_latency_phase_runs_with_what_came_before_frozen() -> None:
    """The records built before the latency phase are out of the collector's sight
    during it (a full collection over them paused the reader for up to 0.3 s, counted as
    latency), and back in it afterwards."""
    import gc

    records = [[i] for i in range(10_000)]  # tracked containers, like the bench's records
    before = gc.get_freeze_count()
    with frozen_heap():
        assert gc.get_freeze_count() >= before + len(records)
    assert gc.get_freeze_count() == before
    assert gc.is_tracked(records[0])


def test_the_latency_phase_waits_for_busy_workers_to_go_idle() -> None:
    """A worker still busy with what the backlog left waits the latency phase out (at
    most ``max_s``); an idle one does not hold it up."""
    import asyncio
    import subprocess
    import sys

    spin = "import time\nend = time.monotonic() + 3\nwhile time.monotonic() < end: pass\ntime.sleep(60)"
    busy = subprocess.Popen([sys.executable, "-c", spin])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        waited = asyncio.run(settle([busy.pid, idle.pid], max_s=30))
        assert 2 <= waited < 30, waited
        assert asyncio.run(settle([idle.pid], max_s=30)) < 3
        assert asyncio.run(settle([busy.pid], max_s=30)) < 3  # idle now
    finally:
        busy.kill()
        idle.kill()


def test_the_harness_loop_lag_sees_a_blocked_loop() -> None:
    """The latency phase reports how late its own loop ran: a loop blocked for 0.2 s (as a
    full collection blocked it) shows up as ~0.2 s late."""
    import asyncio
    import time

    async def run() -> list[float]:
        lags: list[float] = []
        monitor = asyncio.create_task(_loop_lag(lags))
        await asyncio.sleep(0.05)
        time.sleep(0.2)  # the loop blocked
        await asyncio.sleep(0.05)
        monitor.cancel()
        return lags

    lags = asyncio.run(run())
    assert max(lags) >= 150, lags
    assert sorted(lags)[len(lags) // 2] < 50  # unblocked, it wakes about on time


def test_percentile_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([], 99) == 0.0


def test_benchmarks_md_keeps_the_hand_written_text(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(
        f"# Benchmarks\n\nintro\n\n{RESULTS_START}\nold\n{RESULTS_END}\n\n## Design\nkept\n"
    )
    update_benchmarks_md(path, "new figures")
    text = path.read_text()
    assert "new figures" in text and "old" not in text
    assert text.startswith("# Benchmarks\n\nintro") and text.endswith("## Design\nkept\n")


def test_group_sample_reports_each_worker_and_adds_cpu() -> None:
    import os
    import time

    from cargowatch.bench.measure import GroupSample

    group = GroupSample([os.getpid(), os.getpid()], interval_s=0.05).start()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass  # busy: CPU to sample
    out = group.stop()
    assert len(out["rss_mb_peak_per_worker"]) == 2
    assert out["rss_mb_peak"] == max(out["rss_mb_peak_per_worker"]) > 0
    per = [s.summary()["cpu_percent_mean"] for s in group.samples]
    assert out["cpu_percent_mean"] == round(sum(per), 1)


def test_cores_are_measured_in_a_process_of_their_own(tmp_path: Path, refdata_path: Path) -> None:
    """The cores' figures come from a freshly spawned process (not the benchmark's heap),
    with every core's rate in them."""
    import dataclasses
    import os

    from cargowatch.bench.runner import BenchConfig, run_cores
    from cargowatch.settings import Settings

    watchlist = tmp_path / "list.csv"
    watchlist.write_text(
        "list_id,entry_id,name,aliases,country,kind\n"
        "t,T-1,Oceanic Shadow Trading B.V.,,NL,organization\n"
    )
    pool = [_framed(f"24NL00000000000{i:02d}") for i in range(20)]
    steps: list[str] = []
    cfg = dataclasses.replace(BenchConfig.for_run(quick=True, count=None, workers=1), screening_batches=(20, 5))
    settings = Settings.load(refdata=str(refdata_path))
    out = run_cores(cfg, pool, [str(watchlist)], settings, lambda s, _f: steps.append(s))
    assert out["pid"] != os.getpid()
    assert out["decode"]["per_cpu_s"] > 0 and out["validation"]["per_cpu_s"] > 0
    assert out["watchlist"]["names"] >= 1
    assert out["scoring"]["batch"]["manifests_per_cpu_s"] > 0
    matcher = out["matcher"]  # issue 4's figures: empty cache, against brute force
    assert matcher["queries"] == cfg.matcher_queries and matcher["queries_per_s"] > 0
    assert matcher["bruteforce_sample"] == cfg.matcher_recall_sample
    assert matcher["recall_vs_bruteforce"] is not None
    screening = out["screening_thread"]  # the worker's batch work alone, every batch size
    assert screening["manifests"] == len(pool)
    assert set(screening["batches"]) == {"20", "5"}
    assert all(us > 0 for us in screening["batches"].values())
    assert screening["fixed_ms_per_batch"] is not None
    assert set(screening["archive_flush"]) == {"20", "5"} and all(us > 0 for us in screening["archive_flush"].values())
    assert steps and "own process" in steps[0]
