"""A real Prometheus (Debian's binary, on a free loopback port with a temporary config and
storage) scrapes a real worker and answers through its HTTP API: the worker's metrics
arrive, our alert rules load, and every Grafana panel's query evaluates."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import yaml
from unit.sinks.sink_samples import make_manifest

from cargowatch.ingest import produce_lines
from cargowatch.kafka import ensure_topics
from cargowatch.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMETHEUS = shutil.which("prometheus") or ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read()


def _wait(
    check, what: str, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None
):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.5)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise AssertionError(f"{what} not reached in {timeout:.0f}s\n{tail}")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """``cargowatch worker`` on a free port; yields its host:port."""
    asyncio.run(ensure_topics(settings))
    port = _free_port()
    env = {
        **os.environ,
        "CARGOWATCH_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CARGOWATCH_TOPIC_PREFIX": settings.topic_prefix,
        "CARGOWATCH_CONSUMER_GROUP": settings.consumer_group,
        "CARGOWATCH_STATE_DIR": settings.state_dir,
        "CARGOWATCH_ARCHIVE_DIR": settings.archive_dir,
        "CARGOWATCH_TOPIC_PARTITIONS": str(settings.topic_partitions),
    }
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "cargowatch"), "worker", "--http-port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        _wait(
            lambda: b"cargowatch_consumer_lag{" in _get(url),
            "worker assigned and exporting lag",
            120,
            proc,
            log,
        )
        yield f"127.0.0.1:{port}"
    finally:
        _stop(proc)


@pytest.fixture
def prometheus(worker: str, tmp_path: Path) -> Iterator[str]:
    """Prometheus with deploy/prometheus/prometheus.yml, pointed at the test worker and
    scraping every second; yields its base URL."""
    assert PROMETHEUS, "prometheus not found: apt-get install -y prometheus"
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(DEPLOY / "prometheus" / "alerts.yml")]
    config["scrape_configs"] = [
        {k: v for k, v in c.items() if k != "dns_sd_configs"} | {"static_configs": [{"targets": [worker]}]}
        for c in config["scrape_configs"]
        if c["job_name"] == "cargowatch-worker"
    ]
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(yaml.safe_dump(config))
    port = _free_port()
    log = tmp_path / "prometheus.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={cfg}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(
            lambda: _get(base + "/-/ready").startswith(b"Prometheus"),
            "prometheus ready",
            60,
            proc,
            log,
        )
        yield base
    finally:
        _stop(proc)


def _query(base: str, expr: str) -> dict:
    doc = json.loads(_get(base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})))
    assert doc["status"] == "success", doc
    return doc["data"]


def _value(base: str, expr: str) -> float | None:
    result = _query(base, expr)["result"]
    return float(result[0]["value"][1]) if result else None


def test_prometheus_scrapes_the_worker_and_reads_metrics_back(
    settings: Settings, prometheus: str
) -> None:
    up = _wait(
        lambda: _value(prometheus, 'up{job="cargowatch-worker"}') == 1.0, "worker target up", 30
    )
    assert up
    lag = _wait(lambda: _query(prometheus, "cargowatch_consumer_lag")["result"], "lag series", 30)
    assert {s["metric"]["partition"] for s in lag} == {
        str(p) for p in range(settings.topic_partitions)
    }

    lines = [msgspec.json.encode(make_manifest(f"24NL{i:013d}")) for i in range(12)]
    summary = asyncio.run(produce_lines(settings, lines))
    assert summary.sent == 12
    received = 'sum(cargowatch_manifests_total{stage="intake",outcome="received"})'
    _wait(
        lambda: _value(prometheus, received) == 12.0, "12 manifests counted through Prometheus", 60
    )
    routed = _value(prometheus, 'sum(cargowatch_manifests_total{stage="route"})')
    assert routed == 12.0  # screened + rejected + replay + out_of_order reconcile with intake

    rules = json.loads(_get(prometheus + "/api/v1/rules"))["data"]["groups"]
    loaded = {r["name"]: r["health"] for g in rules for r in g["rules"]}
    assert "CargowatchNoProgress" in loaded and set(loaded.values()) <= {"ok", "unknown"}

    dash = json.loads((DEPLOY / "grafana" / "dashboards" / "cargowatch.json").read_text())
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            _query(
                prometheus, target["expr"]
            )  # parses and evaluates, or the assert in _query fails
