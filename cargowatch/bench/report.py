"""Presenting a run: the headline figures, the rich table, the JSON, the PNG plot and the
results section of ``BENCHMARKS.md``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from rich.table import Table

TARGET_VS_BASELINE = 10.0
TARGET_VS_CEILING = 0.40
TARGET_P99_MS = 250.0
TARGET_RSS_MB = 1024.0
TARGET_CORE_PER_CPU_S = 50_000  # validation (issue 3) and scoring (issue 5), one core
TARGET_MATCHER = {"queries_per_s": 20_000, "p99_ms": 2.0, "recall": 0.995, "mb_per_1m_names": 1500}
"""Issue 4: party names/s on one core with an empty cache, p99 per name, recall against
brute force, index memory per 1M names."""
RESULTS_START = "<!-- bench:results:start -->"
RESULTS_END = "<!-- bench:results:end -->"


def headline(results: dict[str, Any]) -> dict[str, Any]:
    """The flat keys ``--json`` promises (plus the rest of the run under their names)."""
    ceiling = results["ceiling"]["per_s"]
    baseline = results["baseline"]["per_s"]
    pipeline = results["pipeline"]["per_s"]
    rss = max(results["pipeline"]["rss_mb_peak"], results["latency"]["rss_mb_peak"])
    flat = {
        "ceiling_per_s": ceiling,
        "baseline_per_s": baseline,
        "pipeline_per_s": pipeline,
        "pipeline_vs_baseline": round(pipeline / baseline, 1) if baseline else None,
        "pipeline_vs_ceiling": round(pipeline / ceiling, 3) if ceiling else None,
        "latency_offered_per_s": results["latency"]["offered_per_s"],
        "latency_p50_ms": results["latency"]["p50_ms"],
        "latency_p95_ms": results["latency"]["p95_ms"],
        "latency_p99_ms": results["latency"]["p99_ms"],
        "rss_mb": rss,
        "cpu_percent_mean": results["pipeline"]["cpu_percent_mean"],
        "validation_per_cpu_s": results["cores"]["validation"]["per_cpu_s"],
        "decode_per_cpu_s": results["cores"]["decode"]["per_cpu_s"],
        "watchlist_names": results["cores"]["watchlist"]["names"],
        "watchlist_queries_per_cpu_s": results["cores"]["watchlist"]["queries_per_cpu_s"],
        "watchlist_query_p99_ms": results["cores"]["watchlist"]["query_p99_ms"],
        "watchlist_index_mb": results["cores"]["watchlist"]["index_mb"],
        "scoring_per_s": results["cores"]["scoring"]["batch"]["manifests_per_s"],
        "scoring_per_cpu_s": results["cores"]["scoring"]["batch"]["manifests_per_cpu_s"],
    }
    screening = results["cores"].get("screening_thread")
    if screening:
        flat["screening_thread_us_per_manifest"] = screening["batches"]
        flat["screening_thread_fixed_ms_per_batch"] = screening.get("fixed_ms_per_batch")
        flat["archive_flush_us_per_manifest"] = screening["archive_flush"]
    matcher = results["cores"].get("matcher")
    if matcher:
        flat.update(
            matcher_names=matcher["names"],
            matcher_queries_per_cpu_s=matcher["queries_per_s"],
            matcher_p99_ms=matcher["p99_ms"],
            matcher_recall_vs_bruteforce=matcher["recall_vs_bruteforce"],
            matcher_mb_per_1m_names=matcher["index_mb_per_1m_names"],
            bruteforce_queries_per_cpu_s=matcher["bruteforce_queries_per_s"],
        )
    flat["targets"] = {
        "pipeline_ge_10x_baseline": bool(
            flat["pipeline_vs_baseline"] and flat["pipeline_vs_baseline"] >= TARGET_VS_BASELINE
        ),
        "pipeline_ge_40pct_ceiling": bool(
            flat["pipeline_vs_ceiling"] and flat["pipeline_vs_ceiling"] >= TARGET_VS_CEILING
        ),
        "p99_le_250ms": flat["latency_p99_ms"] <= TARGET_P99_MS
        and results["latency"]["missing"] == 0,
        "rss_le_1gb": rss <= TARGET_RSS_MB,
        "validation_ge_50k": flat["validation_per_cpu_s"] >= TARGET_CORE_PER_CPU_S,
        "scoring_ge_50k": flat["scoring_per_cpu_s"] >= TARGET_CORE_PER_CPU_S,
    }
    if matcher:
        flat["targets"].update(_matcher_targets(matcher))
    return {**flat, **results}


def _matcher_targets(m: dict[str, Any]) -> dict[str, bool]:
    t = TARGET_MATCHER
    return {
        "matcher_ge_20k_names_per_s": m["queries_per_s"] >= t["queries_per_s"],
        "matcher_p99_le_2ms": m["p99_ms"] <= t["p99_ms"],
        "matcher_recall_ge_99_5pct": (m["recall_vs_bruteforce"] or 0) >= t["recall"],
        "matcher_le_1500mb_per_1m_names": m["index_mb_per_1m_names"] <= t["mb_per_1m_names"],
    }


def table(flat: dict[str, Any]) -> Table:
    """The results as a rich table."""
    t = Table(title="cargowatch bench", show_lines=False)
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_column("target / note")
    ok = flat["targets"]

    def mark(good: bool) -> str:
        return "[green]met[/green]" if good else "[red]not met[/red]"

    t.add_row("ceiling (raw aiokafka consume+produce)", f"{flat['ceiling_per_s']:,.0f}/s", "")
    t.add_row(
        "baseline (faust, per-event await send)",
        f"{flat['baseline_per_s']:,.0f}/s",
        f"sample of {flat['baseline']['records']:,}",
    )
    t.add_row(
        "pipeline (cargowatch worker)",
        f"{flat['pipeline_per_s']:,.0f}/s",
        f"{flat['pipeline']['records']:,} records",
    )
    t.add_row(
        "  × baseline",
        f"{flat['pipeline_vs_baseline']}×",
        f"≥ 10×: {mark(ok['pipeline_ge_10x_baseline'])}",
    )
    t.add_row(
        "  share of ceiling",
        f"{flat['pipeline_vs_ceiling']:.0%}",
        f"≥ 40%: {mark(ok['pipeline_ge_40pct_ceiling'])}",
    )
    lat = flat["latency"]
    t.add_row(
        f"latency at {lat['offered_per_s']:,.0f}/s p50 / p95",
        f"{lat['p50_ms']:.0f} / {lat['p95_ms']:.0f} ms",
        f"{lat['results']:,} results, {lat['missing']} missing{_harness_lag(lat)}",
    )
    t.add_row("latency p99", f"{lat['p99_ms']:.0f} ms", f"≤ 250 ms: {mark(ok['p99_le_250ms'])}")
    t.add_row(
        "worker CPU (mean while catching up)", f"{flat['cpu_percent_mean']:.0f}%", "100% = one core"
    )
    t.add_row(
        "worker CPU per manifest: catching up / fixed load",
        f"{_cpu_per_manifest(flat['pipeline'])} / {_cpu_per_manifest(lat)}",
        "(event loops' share)",
    )
    t.add_row("worker peak RSS", f"{flat['rss_mb']:,.0f} MiB", f"≤ 1 GiB: {mark(ok['rss_le_1gb'])}")
    c = flat["cores"]
    t.add_row("core: Avro decode + convert", f"{c['decode']['per_cpu_s']:,}/cpu-s", "")
    t.add_row(
        "core: validation", f"{c['validation']['per_cpu_s']:,}/cpu-s", f"≥ 50,000: {mark(ok['validation_ge_50k'])}"
    )
    w = c["watchlist"]
    t.add_row(
        f"core: watchlist ({w['names']:,} names)",
        f"{w['queries_per_cpu_s']:,} names/cpu-s",
        f"p50 {w['query_p50_ms']} / p99 {w['query_p99_ms']} ms, index {w['index_mb']:,.0f} MiB",
    )
    t.add_row(
        "core: scoring (batched)",
        f"{c['scoring']['batch']['manifests_per_cpu_s']:,}/cpu-s",
        f"≥ 50,000: {mark(ok['scoring_ge_50k'])}",
    )
    s = c.get("screening_thread")
    if s:
        t.add_row(
            "screening thread alone: CPU per manifest",
            _screening_sizes(s),
            f"fixed {s.get('fixed_ms_per_batch', '?')} ms a batch",
        )
        t.add_row(
            "  its archive flush: CPU per manifest",
            _screening_sizes(s, "archive_flush"),
            f"fixed {s.get('archive_fixed_ms_per_flush', '?')} ms a flush",
        )
    m = c.get("matcher")
    if m:
        t.add_row(
            f"matcher, empty cache ({m['names']:,} names)",
            f"{m['queries_per_s']:,.0f} names/cpu-s",
            f"≥ 20,000: {mark(ok['matcher_ge_20k_names_per_s'])}; brute force {m['bruteforce_queries_per_s']:,} /s",
        )
        t.add_row("  p99 per name", f"{m['p99_ms']} ms", f"≤ 2 ms: {mark(ok['matcher_p99_le_2ms'])}")
        t.add_row(
            "  recall vs brute force",
            f"{m['recall_vs_bruteforce']:.2%}",
            f"≥ 99.5%: {mark(ok['matcher_recall_ge_99_5pct'])} ({m['bruteforce_matches']} matches)",
        )
        t.add_row(
            "  index memory per 1M names",
            f"{m['index_mb_per_1m_names']:,.0f} MB",
            f"≤ 1,500 MB: {mark(ok['matcher_le_1500mb_per_1m_names'])}",
        )
    return t


def write_json(flat: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(flat, indent=2, default=str) + "\n")


def plot(flat: dict[str, Any], path: Path) -> None:
    """Throughput bars (ceiling, baseline, pipeline) and the latency percentiles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    names = ["ceiling\n(raw aiokafka)", "baseline\n(faust per-event)", "pipeline\n(cargowatch)"]
    values = [flat["ceiling_per_s"], flat["baseline_per_s"], flat["pipeline_per_s"]]
    bars = left.bar(names, values, color=["#999999", "#d62728", "#2ca02c"])
    left.bar_label(bars, labels=[f"{v:,.0f}/s" for v in values])
    left.axhline(
        flat["ceiling_per_s"] * TARGET_VS_CEILING,
        ls="--",
        color="#555",
        lw=1,
        label="40% of ceiling",
    )
    left.axhline(
        flat["baseline_per_s"] * TARGET_VS_BASELINE,
        ls=":",
        color="#d62728",
        lw=1,
        label="10× baseline",
    )
    left.set_ylabel("manifests / s")
    left.set_title("throughput")
    left.legend(loc="upper right", fontsize=8)
    lat = flat["latency"]
    pct = ["p50", "p95", "p99"]
    lv = [lat["p50_ms"], lat["p95_ms"], lat["p99_ms"]]
    bars = right.bar(pct, lv, color="#1f77b4")
    right.bar_label(bars, labels=[f"{v:.0f} ms" for v in lv])
    right.axhline(TARGET_P99_MS, ls="--", color="#d62728", lw=1, label="p99 target 250 ms")
    right.set_ylabel("ms, input timestamp → committed result received")
    right.set_title(f"end-to-end latency at {lat['offered_per_s']:,.0f}/s")
    right.legend(loc="upper left", fontsize=8)
    m = flat["machine"]
    fig.suptitle(
        f"cargowatch bench · {m['cpu']} · {m['cores']} cores · {flat['started'][:16]}Z", fontsize=9
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def results_markdown(flat: dict[str, Any], plot_name: str | None) -> str:
    """The generated part of BENCHMARKS.md: machine, date, figures, targets."""
    m = flat["machine"]
    lat = flat["latency"]
    c = flat["cores"]
    w = c["watchlist"]
    ok = flat["targets"]

    def mark(good: bool) -> str:
        return "**met**" if good else "**not met**"

    lines = [
        f"Run of {flat['started'][:19].replace('T', ' ')} UTC, `cargowatch bench` ({flat['records']:,} manifests, "
        f"mean {flat['record_bytes_mean']:,} bytes Avro-framed; broker {flat['broker']}).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}, Python {m['python']}, "
        f"{m['kafka']}. Load average at start {m['load_avg_at_start']} (the machine is shared).",
        "",
        "| measure | value | target |",
        "| --- | ---: | --- |",
        f"| ceiling: raw aiokafka consume + produce | {flat['ceiling_per_s']:,.0f}/s | |",
        f"| baseline: faust agent, per-event `await send` (sample of {flat['baseline']['records']:,}) | {flat['baseline_per_s']:,.0f}/s | |",
        f"| pipeline: `cargowatch worker` × {flat.get('workers', 1)} in one group ({flat['pipeline']['records']:,} records) | {flat['pipeline_per_s']:,.0f}/s | |",
        f"| pipeline ÷ baseline | {flat['pipeline_vs_baseline']}× | ≥ 10× {mark(ok['pipeline_ge_10x_baseline'])} |",
        f"| pipeline ÷ ceiling | {flat['pipeline_vs_ceiling']:.0%} | ≥ 40% {mark(ok['pipeline_ge_40pct_ceiling'])} |",
        f"| latency p50 / p95 / p99 at {lat['offered_per_s']:,.0f}/s for {flat['config']['latency_s']:.0f} s | "
        f"{lat['p50_ms']:.0f} / {lat['p95_ms']:.0f} / {lat['p99_ms']:.0f} ms ({lat['results']:,} results, {lat['missing']} missing{_harness_lag(lat)}) | "
        f"p99 ≤ 250 ms {mark(ok['p99_le_250ms'])} |",
        f"| workers' CPU while catching up (mean / max, summed over workers, 100% = one core) | {flat['pipeline']['cpu_percent_mean']:.0f}% / {flat['pipeline']['cpu_percent_max']:.0f}% | |",
        f"| workers' CPU per manifest, catching up / at the fixed load (event loops' share) | {_cpu_per_manifest(flat['pipeline'])} / {_cpu_per_manifest(lat)} | |",
        f"| peak RSS per worker ({w['names']:,}-name watchlist loaded) | {_per_worker_rss(flat)} | ≤ 1 GiB {mark(ok['rss_le_1gb'])} |",
        f"| per batch, while catching up / at the fixed load | {_stages(flat['pipeline'])} / {_stages(lat)} | |",
        f"| worker SIGTERM → exit | {flat['pipeline'].get('sigterm_seconds', '?')} s (exit {flat['pipeline'].get('sigterm_exit_code')}) | ≤ 10 s |",
        f"| core: Avro decode + conversion to Manifest | {c['decode']['per_cpu_s']:,}/cpu-s | |",
        f"| core: validation (`validate_batch`, batches of 2000) | {c['validation']['per_cpu_s']:,}/cpu-s | ≥ 50,000 on one core {mark(ok['validation_ge_50k'])} |",
        f"| core: watchlist, one name per query ({w['names']:,} names, {w['entries']:,} entries) | "
        f"{w['queries_per_cpu_s']:,} names/cpu-s, p50 {w['query_p50_ms']} ms, p99 {w['query_p99_ms']} ms | |",
        f"| core: watchlist index build / memory | {w['index_build_s']} s / {w['index_mb']:,.0f} MiB | |",
        f"| core: watchlist, whole manifests batched (cache warm) | {w['manifests_batched']['per_cpu_s']:,} manifests/cpu-s | |",
        f"| core: scoring (`score_batch`, batches of {c['scoring']['batch_size']}) | {c['scoring']['batch']['manifests_per_cpu_s']:,}/cpu-s | ≥ 50,000 on one core {mark(ok['scoring_ge_50k'])} |",
    ]
    s = c.get("screening_thread")
    if s:
        lines.append(
            f"| screening thread's work alone (`_screen_sync`: decode → archive tables, {s['manifests']:,} manifests, "
            f"no broker or loop beside it): CPU per manifest by batch size | {_screening_sizes(s)}; "
            f"fixed {s.get('fixed_ms_per_batch', '?')} ms a batch + {s.get('us_per_manifest_marginal', '?')} µs a manifest | |"
        )
        lines.append(
            f"| the archive's flush of those batches (Parquet files, fsyncs, markers; on the sink's threads): CPU per manifest | "
            f"{_screening_sizes(s, 'archive_flush')}; fixed {s.get('archive_fixed_ms_per_flush', '?')} ms a flush | |"
        )
    m = c.get("matcher")
    if m:
        lines += [
            f"| matcher: party names, every cache empty ({m['names']:,} names, {m['queries']:,} distinct queries) | "
            f"{m['queries_per_s']:,.0f} names/cpu-s (brute-force rapidfuzz `process.extract`: {m['bruteforce_queries_per_s']:,}/s) | "
            f"≥ 20,000 {mark(ok['matcher_ge_20k_names_per_s'])} |",
            f"| matcher: p50 / p99 per name | {m['p50_ms']} / {m['p99_ms']} ms | p99 ≤ 2 ms {mark(ok['matcher_p99_le_2ms'])} |",
            f"| matcher: recall vs brute force ({m['bruteforce_matches']} matches on {m['bruteforce_sample']} queries) | "
            f"{m['recall_vs_bruteforce']:.2%} | ≥ 99.5% {mark(ok['matcher_recall_ge_99_5pct'])} |",
            f"| matcher: index memory | {m['index_mb_per_1m_names']:,.0f} MB per 1M names | ≤ 1,500 MB {mark(ok['matcher_le_1500mb_per_1m_names'])} |",
        ]
    if plot_name:
        lines += ["", f"![throughput and latency]({plot_name})"]
    return "\n".join(lines)


def _screening_sizes(s: dict[str, Any], key: str = "batches") -> str:
    """'126 µs at 2000, 131 at 800, 140 at 300'."""
    parts = [f"{us} µs at {size}" if i == 0 else f"{us} at {size}" for i, (size, us) in enumerate(s[key].items())]
    return ", ".join(parts)


def _per_worker_rss(flat: dict[str, Any]) -> str:
    per = [
        max(a, b)
        for a, b in zip(
            flat["pipeline"].get("rss_mb_peak_per_worker", [flat["rss_mb"]]),
            flat["latency"].get("rss_mb_peak_per_worker", [flat["rss_mb"]]),
            strict=False,
        )
    ]
    return " / ".join(f"{x:,.0f}" for x in per) + " MiB"


def _harness_lag(lat: dict[str, Any]) -> str:
    """The benchmark's own loop lag during the latency phase (results read late count as
    latency), when the run measured it."""
    if "harness_lag_max_ms" not in lat:
        return ""
    return f"; the benchmark's own loop late by {lat['harness_lag_p99_ms']:.0f} ms at p99, {lat['harness_lag_max_ms']:.0f} ms at most"


def _cpu_per_manifest(phase: dict[str, Any]) -> str:
    """
    >>> _cpu_per_manifest({"cpu_us_per_record": 151.2, "event_loop_share": 0.213})
    '151 µs (21%)'
    >>> _cpu_per_manifest({})
    'n/a'
    """
    if "cpu_us_per_record" not in phase:
        return "n/a"
    return f"{phase['cpu_us_per_record']:,.0f} µs ({phase['event_loop_share']:.0%})"


def _stages(phase: dict[str, Any]) -> str:
    """One phase's per-batch breakdown (cargowatch_stage_seconds), in a table cell.

    >>> _stages({"stages": {"batches": 4, "records_per_batch": 500.0, "screen_ms": 80.0, "produce_ms": 120.0}})
    '4 batches of 500 records; screen 80 ms, commit 120 ms'
    """
    s = phase.get("stages") or {}
    if not s.get("batches"):
        return "n/a"
    parts = [f"{s['batches']:,} batches of {s['records_per_batch']:,.0f} records"]
    names = [
        ("decode_ms", "decode"), ("screen_ms", "screen"), ("sinks_prepare_ms", "archive rows"),
        ("produce_ms", "commit"), ("commit_send_ms", "send"), ("commit_offsets_ms", "offsets"), ("commit_sinks_wait_ms", "archive wait"), ("commit_end_ms", "end"),
        ("sinks_ms", "archive"), ("end_to_end_ms", "mean input-to-commit"),
    ]
    timed = [f"{label} {s[key]:,.0f} ms" for key, label in names if key in s]
    return parts[0] + ("; " + ", ".join(timed) if timed else "")


def update_benchmarks_md(path: Path, section: str) -> None:
    """Replace the generated section of BENCHMARKS.md (between the markers), keeping the
    hand-written design notes around it; create the file when missing."""
    block = f"{RESULTS_START}\n{section}\n{RESULTS_END}"
    if path.is_file():
        text = path.read_text()
        if RESULTS_START in text and RESULTS_END in text:
            text = re.sub(
                re.escape(RESULTS_START) + r".*?" + re.escape(RESULTS_END),
                lambda _: block,
                text,
                flags=re.S,
            )
        else:
            text = text.rstrip() + "\n\n## Results\n\n" + block + "\n"
    else:
        text = f"# Benchmarks\n\n## Results\n\n{block}\n"
    path.write_text(text)
