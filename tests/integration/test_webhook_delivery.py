"""Alert delivery end to end: alerts on the real broker, a real local aiohttp server
receiving the webhooks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from unit.sinks.sink_samples import make_alert_record

from cargowatch.kafka import ensure_topics, make_admin, make_consumer, make_producer
from cargowatch.settings import Settings
from schemas.codec import Codec
from sinks import metrics
from sinks.webhook import WebhookDelivery, verify_signature

SECRET = "test-secret"


@dataclass
class Receiver:
    """A webhook endpoint: records every request; ``behaviour`` decides the answer."""

    behaviour: dict[str, Callable[[str], web.StreamResponse | None]] = field(default_factory=dict)
    requests: dict[str, list[tuple[dict[str, str], bytes]]] = field(default_factory=dict)
    delay: dict[str, float] = field(default_factory=dict)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        body = await request.read()
        alert_id = request.headers.get("Idempotency-Key", "")
        self.requests.setdefault(name, []).append((dict(request.headers), body))
        if self.delay.get(alert_id):
            await asyncio.sleep(self.delay[alert_id])
        if name == "fail":
            return web.Response(status=503, text="down for maintenance")
        if name == "reject":
            return web.Response(status=400, text="bad request")
        return web.Response(status=204)

    def bodies(self, name: str) -> list[dict]:
        return [json.loads(b) for _, b in self.requests.get(name, [])]


@pytest.fixture
async def receiver(serve_webhook) -> Receiver:
    rec = Receiver()
    rec.url = await serve_webhook("/hook/{name}", rec.handle) + "/hook"
    return rec


async def _produce_alerts(settings: Settings, n: int, start: int = 0) -> list[str]:
    codec = Codec()
    producer = make_producer(settings)
    await producer.start()
    ids = []
    try:
        for i in range(start, start + n):
            alert = make_alert_record(f"M{i:04d}", 1)
            ids.append(alert.alert_id)
            await producer.send_and_wait(
                settings.topics.alerts, codec.encode("Alert", alert), key=alert.manifest_id.encode()
            )
    finally:
        await producer.stop()
    return ids


async def _until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def _run(delivery: WebhookDelivery) -> asyncio.Task:
    await delivery.start()
    return asyncio.create_task(delivery.run())


async def _stop(delivery: WebhookDelivery, task: asyncio.Task) -> None:
    delivery.request_stop()
    await asyncio.wait_for(task, 10)
    await delivery.stop()


async def _committed(settings: Settings, group: str) -> int:
    admin = make_admin(settings)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(o.offset for tp, o in offsets.items() if tp.topic == settings.topics.alerts)


def _settings(settings: Settings, receiver: Receiver, *names: str, **kw) -> Settings:
    return settings.replace(
        webhook_urls=",".join(f"{receiver.url}/{n}" for n in names),
        webhook_secret=SECRET,
        webhook_backoff_s=0.05,
        webhook_backoff_max_s=0.2,
        **kw,
    )


async def test_alerts_delivered_signed_once_across_restarts(
    settings: Settings, receiver: Receiver
) -> None:
    await ensure_topics(settings)
    group = f"{settings.topic_prefix}webhook"
    cfg = _settings(settings, receiver, "ok")
    ids = await _produce_alerts(cfg, 5)
    delivery = WebhookDelivery(cfg, group_id=group)
    task = await _run(delivery)
    await _until(lambda: len(receiver.requests.get("ok", [])) == 5)
    await _until(lambda: delivery.tracker.committable() == {} and delivery.stats.delivered == 5)
    await _stop(delivery, task)
    assert sorted(b["alert_id"] for b in receiver.bodies("ok")) == sorted(ids)
    for headers, body in receiver.requests["ok"]:
        assert verify_signature(body, SECRET, headers["X-Cargowatch-Signature"])
        assert headers["Idempotency-Key"] == json.loads(body)["alert_id"]
    assert await _committed(cfg, group) == 5

    # a restart under the same group continues after the committed offsets ...
    more = await _produce_alerts(cfg, 2, start=5)
    delivery = WebhookDelivery(cfg, group_id=group)
    task = await _run(delivery)
    await _until(lambda: len(receiver.requests["ok"]) == 7)
    await _stop(delivery, task)
    assert sorted(b["alert_id"] for b in receiver.bodies("ok")[5:]) == sorted(more)

    # ... and even reading everything again (a new group) re-sends nothing already accepted
    delivery = WebhookDelivery(cfg, group_id=group + "-replay")
    task = await _run(delivery)
    await _until(lambda: delivery.stats.duplicates == 7)
    await asyncio.sleep(0.3)
    await _stop(delivery, task)
    assert len(receiver.requests["ok"]) == 7


async def test_failing_endpoint_is_retried_then_dead_lettered(
    settings: Settings, receiver: Receiver
) -> None:
    await ensure_topics(settings)
    group = f"{settings.topic_prefix}webhook"
    cfg = _settings(settings, receiver, "fail", "reject", "ok", webhook_max_attempts=3)
    ids = await _produce_alerts(cfg, 2)
    delivery = WebhookDelivery(cfg, group_id=group)
    task = await _run(delivery)
    await _until(lambda: delivery.stats.dead_lettered == 4 and delivery.stats.delivered == 2)
    await _until(lambda: delivery.tracker.committable() == {})
    await _stop(delivery, task)
    assert len(receiver.requests["fail"]) == 3 * 2  # 503 is retried up to max attempts
    assert len(receiver.requests["reject"]) == 2  # 400 is permanent: no retry
    assert len(receiver.requests["ok"]) == 2  # the healthy target got everything
    assert await _committed(cfg, group) == 2

    # without a group the consumer reads every partition from the beginning
    consumer = make_consumer(
        cfg, cfg.topics.alerts_dlq, group_id=None, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        records = []
        while len(records) < 4:
            batch = await consumer.getmany(timeout_ms=2000)
            assert batch, "dead letters did not arrive"
            records += [r for recs in batch.values() for r in recs]
    finally:
        await consumer.stop()
    codec = Codec()
    assert sorted(codec.decode("Alert", r.value)["alert_id"] for r in records) == sorted(ids * 2)
    headers = [dict(r.headers) for r in records]
    assert {h["x-error-stage"] for h in headers} == {b"deliver"}
    assert sorted(h["x-error-attempts"] for h in headers) == [b"1", b"1", b"3", b"3"]
    assert {h["x-error-message"] for h in headers} == {b"HTTP 503", b"HTTP 400"}
    origin = receiver.url.rsplit("/hook", 1)[0].encode()
    assert {h["x-error-target"] for h in headers} == {origin}  # no path: webhook paths carry secrets


async def test_slow_endpoint_does_not_hold_up_other_alerts(
    settings: Settings, receiver: Receiver
) -> None:
    await ensure_topics(settings)
    cfg = _settings(settings, receiver, "ok", webhook_concurrency=2)
    ids = await _produce_alerts(cfg, 6)
    receiver.delay[ids[0]] = 4.0  # the endpoint takes 4 s for the first alert
    delivery = WebhookDelivery(cfg, group_id=f"{settings.topic_prefix}webhook")
    task = await _run(delivery)
    await _until(lambda: delivery.stats.delivered == 5, timeout=3.5)  # the others meanwhile
    assert len(receiver.requests["ok"]) == 6  # the slow one is still being answered
    await _until(lambda: delivery.stats.delivered == 6)
    await _stop(delivery, task)


async def test_full_queue_pauses_the_consumer_and_resumes(
    settings: Settings, receiver: Receiver
) -> None:
    await ensure_topics(settings)
    cfg = _settings(settings, receiver, "ok", webhook_concurrency=1, webhook_queue_size=2)
    ids = await _produce_alerts(cfg, 8)
    for alert_id in ids[:3]:
        receiver.delay[alert_id] = 1.0
    delivery = WebhookDelivery(cfg, group_id=f"{settings.topic_prefix}webhook")
    task = await _run(delivery)
    await _until(lambda: metrics.WEBHOOK_CONSUMER_PAUSED._value.get() == 1, timeout=10)  # noqa: SLF001
    assert metrics.WEBHOOK_QUEUE_DEPTH._value.get() <= 2  # noqa: SLF001 - bounded
    await _until(lambda: delivery.stats.delivered == 8)
    await _until(lambda: metrics.WEBHOOK_CONSUMER_PAUSED._value.get() == 0)  # noqa: SLF001
    await _stop(delivery, task)
    assert delivery.stats.paused_s > 0
