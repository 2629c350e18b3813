"""`cargowatch traders load` publishes the register to ref.traders on a real broker, and
the register reader reads the whole compacted topic back (latest profile per trader)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cargowatch.settings import Settings
from enrichers.traders import read_register_topic

pytestmark = pytest.mark.integration

REGISTER = """trader_id,name,country,aeo_certificate,aeo_valid_until,risk_notes
DE123,Acme Import GmbH,DE,DEAEOF00001,2027-06-30,
NL9,Rotterdam Trading BV,NL,,,
CN7,Shenzhen Bright Ltd,CN,CNAEO77,2024-01-31,late filings in 2023
"""


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(
        CARGOWATCH_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        CARGOWATCH_TOPIC_PREFIX=settings.topic_prefix,
        CARGOWATCH_TOPIC_PARTITIONS="3",
        COLUMNS="250",
    )
    return subprocess.run(
        [sys.executable, "-c", "from cargowatch.cli import main; main()", *args],
        env=env, capture_output=True, text=True, timeout=180,
    )


async def test_traders_load_publishes_and_register_reads_back(settings: Settings, tmp_path) -> None:
    path = tmp_path / "traders.csv"
    path.write_text(REGISTER)
    done = _cli(settings, "traders", "load", str(path))
    assert done.returncode == 0, done.stderr
    said = " ".join((done.stderr + done.stdout).split())
    assert "published 3 traders" in said
    assert "1 with a valid AEO certificate, 1 with an expired one" in said

    register = await read_register_topic(settings)
    assert len(register) == 3
    assert register.get("DE123").aeo_valid_until == "2027-06-30"
    assert register.get("CN7").risk_notes == "late filings in 2023"

    # A new version of the register: the latest profile per trader wins.
    update = tmp_path / "update.jsonl"
    update.write_text('{"trader_id": "NL9", "name": "Rotterdam Trading BV", "country": "NL", '
                      '"aeo_certificate": "NLAEOF9", "aeo_valid_until": "2030-01-01"}\n')
    done = _cli(settings, "traders", "load", str(update))
    assert done.returncode == 0, done.stderr
    register = await read_register_topic(settings)
    assert len(register) == 3
    assert register.get("NL9").aeo_certificate == "NLAEOF9"


async def test_refused_register_publishes_nothing(settings: Settings, tmp_path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("trader_id,name,country\nX1,,DE\n")
    done = _cli(settings, "traders", "load", str(path))
    assert done.returncode == 2
    assert "name is empty" in done.stderr
    assert len(await read_register_topic(settings)) == 0
