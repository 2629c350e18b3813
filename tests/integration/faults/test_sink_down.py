"""A webhook target that is slow and down: the alert delivery service (its own process)
applies backpressure, keeps its memory bounded, retries each alert a bounded number of
times, then dead-letters it to ``alerts.dlq``; nothing is dropped."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import psutil
import pytest
from aiohttp import web
from fault_harness import free_port, read_topic
from unit.sinks.sink_samples import make_alert_record

from cargowatch.bench.measure import committed_total
from cargowatch.kafka import ensure_topics, make_producer
from cargowatch.settings import Settings
from schemas.codec import Codec
from sinks.webhook import GROUP_ID

ALERTS = 2000
QUEUE = 50
MAX_ATTEMPTS = 3
RSS_GROWTH_BOUND_MB = 80.0  # the alerts alone are several times the queue's worth
DELIVERY = "import asyncio; from cargowatch.settings import Settings; from sinks.webhook import serve_delivery; asyncio.run(serve_delivery(Settings.load()))"


class DownTarget:
    """Answers every POST slowly with 503: a target that is overloaded, then down."""

    def __init__(self) -> None:
        self.attempts: Counter[str] = Counter()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.attempts[request.headers.get("Idempotency-Key", "")] += 1
        await asyncio.sleep(0.05)
        return web.Response(status=503, text="down")


@pytest.fixture
async def target(serve_webhook) -> DownTarget:
    t = DownTarget()
    t.url = await serve_webhook("/hook", t.handle) + "/hook"
    return t


def _health(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
        return json.loads(resp.read())


def _metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_slow_dead_webhook_backpressure_bounded_memory_retries_then_dead_letters(
    settings: Settings, target: DownTarget, tmp_path: Path
) -> None:
    await ensure_topics(settings)
    codec = Codec()
    producer = make_producer(settings)
    await producer.start()
    try:
        futures = []
        for i in range(ALERTS):
            alert = make_alert_record(f"24NL{i:013d}", 1)
            value = codec.encode("Alert", alert)
            futures.append(
                await producer.send(settings.topics.alerts, value, key=alert.manifest_id.encode())
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()

    port = free_port()
    env = {
        **os.environ,
        "CARGOWATCH_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CARGOWATCH_TOPIC_PREFIX": settings.topic_prefix,
        "CARGOWATCH_STATE_DIR": str(tmp_path / "state"),
        "CARGOWATCH_WEBHOOK_URLS": target.url,
        "CARGOWATCH_WEBHOOK_SECRET": "s3cret",
        "CARGOWATCH_WEBHOOK_QUEUE_SIZE": str(QUEUE),
        "CARGOWATCH_WEBHOOK_CONCURRENCY": "32",
        "CARGOWATCH_WEBHOOK_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
        "CARGOWATCH_WEBHOOK_BACKOFF_S": "0.02",
        "CARGOWATCH_WEBHOOK_BACKOFF_MAX_S": "0.1",
        "CARGOWATCH_WEBHOOK_HTTP_PORT": str(port),
    }
    log = (tmp_path / "delivery.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", DELIVERY], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    group = f"{settings.topic_prefix}{GROUP_ID}"
    try:
        ps = psutil.Process(proc.pid)
        baseline_rss: float | None = None
        peak_rss = 0.0
        paused_seen = 0.0
        deadline = time.monotonic() + 240
        handled = 0
        while handled < ALERTS:
            assert proc.poll() is None, (tmp_path / "delivery.log").read_text()[-3000:]
            assert time.monotonic() < deadline, f"only {handled} of {ALERTS} alerts handled"
            await asyncio.sleep(0.5)
            rss = ps.memory_info().rss / 2**20
            if target.attempts and baseline_rss is None:
                baseline_rss = rss  # the service is up and delivering
            peak_rss = max(peak_rss, rss)
            with contextlib.suppress(OSError):
                paused_seen = max(paused_seen, _metric(port, "cargowatch_webhook_consumer_paused"))
                handled = _health(port)["dead_lettered"] + _health(port)["delivered"]
        # Backpressure: the consumer paused while the target's queue was full.
        assert paused_seen == 1.0
        # Memory bounded: holding a queue's worth, not every alert fetched.
        assert baseline_rss is not None and peak_rss - baseline_rss < RSS_GROWTH_BOUND_MB, (
            f"RSS grew from {baseline_rss:.0f} to {peak_rss:.0f} MiB"
        )
        # Bounded retries, then every alert dead-lettered with its reason; none dropped.
        assert set(target.attempts.values()) == {MAX_ATTEMPTS}
        assert len(target.attempts) == ALERTS
        dlq = await read_topic(settings, settings.topics.alerts_dlq)
        assert len(dlq) == ALERTS
        assert len({r.key for r in dlq}) == ALERTS
        assert all(any(k.startswith("x-error") for k, _ in r.headers) for r in dlq)
        # ... and the consumer committed past every alert it handled.
        commit_deadline = time.monotonic() + 30
        committed = 0
        while (
            committed := await committed_total(settings, group, settings.topics.alerts)
        ) < ALERTS:
            assert time.monotonic() < commit_deadline, (
                f"{committed} of {ALERTS} handled alerts committed; health {_health(port)}"
            )
            await asyncio.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(30)
