"""`cargowatch demo` as a newcomer runs it: its own Kafka, reference data, a worker,
traffic; manifests reach every lane and rejections; it stops everything and exits 0."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_demo_starts_its_own_kafka_and_fills_every_lane(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    env = {k: v for k, v in os.environ.items() if k != "CARGOWATCH_KAFKA_BOOTSTRAP"}
    env["CARGOWATCH_HTTP_PORT"] = "18788"
    proc = subprocess.run(
        [
            sys.executable, "-m", "cargowatch", "demo",
            "--duration", "45", "--rate", "60", "--no-dashboard",
            "--workdir", str(tmp_path / "demo"), "--summary-json", str(summary),
        ],
        capture_output=True,
        text=True,
        timeout=420,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    counts = json.loads(summary.read_text())
    assert counts["screened"] > 0.8 * counts["produced"]
    assert counts["rejected"] > 0
    assert {"GREEN", "YELLOW", "RED", "BLUE"} <= set(counts["lanes"])
    assert "local Kafka at" in proc.stdout
    # Everything it started is stopped: its broker no longer accepts connections.
    match = re.search(r"local Kafka at (\S+):(\d+)", proc.stdout)
    assert match, proc.stdout[-2000:]
    with pytest.raises(OSError), socket.create_connection((match.group(1), int(match.group(2))), timeout=2):
        pass
