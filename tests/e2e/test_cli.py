"""The command line end to end, as a user runs it (subprocesses of the installed script)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

COMMANDS = [
    "demo", "worker", "screen", "generate", "produce", "watchlist", "traders", "bench",
    "refdata", "backtest", "quality", "archive", "dashboard", "deliver",
]


def cargowatch(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cargowatch", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_complete_help(command: str) -> None:
    proc = cargowatch(command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "Usage:" in proc.stdout
    assert "not yet implemented" not in proc.stdout.lower()
    # A description, not only the usage line.
    assert len(proc.stdout.strip().splitlines()) > 4


def test_generate_then_screen_accounts_for_every_record(tmp_path: Path, refdata_path: Path) -> None:
    manifests, labels, out = tmp_path / "m.jsonl", tmp_path / "labels.jsonl", tmp_path / "out"
    proc = cargowatch("generate", "--count", "3000", "--seed", "5", "--out", str(manifests), "--labels", str(labels))
    assert proc.returncode == 0, proc.stderr
    proc = cargowatch(
        "screen", str(manifests), "--out", str(out),
        "--watchlist", str(refdata_path / "sanctions" / "un" / "UN_consolidated_2026-02-27.xml"),
    )
    assert proc.returncode == 0, proc.stderr
    lines = manifests.read_bytes().splitlines()
    results = (out / "results.jsonl").read_text().splitlines()
    rejected = (out / "rejected.jsonl").read_text().splitlines()
    skipped = (out / "skipped.jsonl").read_text().splitlines()
    # Round trip: every input line is a result, a rejection, or a replay that was skipped.
    assert len(results) + len(rejected) + len(skipped) == len(lines)
    label_rows = [json.loads(x) for x in labels.read_text().splitlines()]
    planted_invalid = sum(1 for row in label_rows if row["invalid_code"])
    planted_replays = sum(1 for row in label_rows if row.get("replay"))
    assert len(rejected) == planted_invalid
    assert len(skipped) >= planted_replays
    lanes = {json.loads(r)["lane"] for r in results}
    assert {"GREEN", "YELLOW", "RED"} <= lanes
    # The planted rejection code is the code reported, for every invalid record.
    by_line = {json.loads(r)["source"]["line"]: json.loads(r) for r in rejected}
    for i, row in enumerate(label_rows, start=1):
        if row["invalid_code"]:
            codes = {e["code"] for e in by_line[i]["errors"]}
            assert row["invalid_code"] in codes, (row, by_line[i])


def test_screen_refuses_a_bad_ruleset_with_a_clear_message(tmp_path: Path) -> None:
    manifests = tmp_path / "m.jsonl"
    assert cargowatch("generate", "--count", "10", "--seed", "1", "--out", str(manifests)).returncode == 0
    bad = tmp_path / "rules.yaml"
    bad.write_text("version: x\nrules:\n  NO_SUCH_RULE: {weight: 5}\n")
    proc = cargowatch("screen", str(manifests), "--out", str(tmp_path / "o"), "--rules", str(bad))
    assert proc.returncode != 0
    assert "NO_SUCH_RULE" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


def test_worker_without_kafka_says_what_to_set() -> None:
    proc = cargowatch("worker", env={"CARGOWATCH_KAFKA_BOOTSTRAP": ""})
    assert proc.returncode == 2
    assert "CARGOWATCH_KAFKA_BOOTSTRAP" in proc.stderr


def test_quick_bench_writes_every_figure(tmp_path: Path, kafka_bootstrap: str) -> None:
    """`cargowatch bench --quick --json` end to end on a real broker: the JSON has the
    issue's keys with figures from this run, the plot is drawn, every latency probe came
    back, and the full run's BENCHMARKS.md section renders from the same results."""
    from cargowatch.bench.report import results_markdown

    out = tmp_path / "bench.json"
    proc = cargowatch(
        "bench", "--quick", "--workers", "1", "--json", str(out),
        env={"CARGOWATCH_KAFKA_BOOTSTRAP": kafka_bootstrap}, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    flat = json.loads(out.read_text())
    for key in ("ceiling_per_s", "baseline_per_s", "pipeline_per_s", "latency_p99_ms", "rss_mb"):
        assert flat[key] > 0, key
    assert flat["latency"]["missing"] == 0 and flat["latency"]["results"] == flat["latency"]["sent"]
    assert flat["pipeline"]["records"] > 0 and flat["pipeline"]["sigterm_exit_code"] == 0
    assert set(flat["screening_thread_us_per_manifest"]) == {"200", "50"}
    assert (tmp_path / "bench.png").stat().st_size > 10_000
    markdown = results_markdown(flat, "bench.png")
    assert f"{flat['pipeline_per_s']:,.0f}/s" in markdown and "screening thread's work alone" in markdown
    lag = flat["latency"]
    assert lag["harness_lag_max_ms"] >= lag["harness_lag_p99_ms"] >= 0
    assert f"own loop late by {lag['harness_lag_p99_ms']:.0f} ms at p99" in markdown
