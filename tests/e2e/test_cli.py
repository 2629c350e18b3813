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
