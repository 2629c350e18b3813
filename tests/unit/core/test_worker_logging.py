"""The worker's log level is what the settings say: faust's own Worker, at WARNING, turns
on a terminal spinner and sets the root logger to DEBUG, so every debug call of aiokafka
and faust built a LogRecord (7% of the worker's GIL time in the benchmark)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = r"""
import logging, sys
import faust
from streams.app import _QuietWorker
app = faust.App("probe", broker="kafka://127.0.0.1:1")
worker = _QuietWorker(app, loglevel=sys.argv[1], quiet=True)
worker._setup_logging()
# faust redirects sys.stdout into logging: write past it.
sys.__stdout__.write(f"{logging.getLogger('aiokafka').getEffectiveLevel()} {worker.spinner is None}\n")
"""


@pytest.mark.parametrize(("level", "number"), [("WARNING", 30), ("ERROR", 40), ("INFO", 20)])
def test_the_worker_logs_at_the_configured_level(level: str, number: int) -> None:
    # A process of its own: logging set-up is global.
    out = subprocess.run(
        [sys.executable, "-c", PROBE, level], capture_output=True, text=True, timeout=120, check=True
    ).stdout.split()
    assert out == [str(number), "True"]
