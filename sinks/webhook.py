"""Alert delivery to webhooks: a consumer of ``alerts`` that POSTs every alert to each
configured URL, signed, with an idempotency key, retried with bounded exponential
backoff and dead-lettered to ``alerts.dlq`` when a target never accepts it.

It runs as its own process (or task), never in the screening hot path::

    alerts ──► consumer ──► bounded queue per target ──► senders (HTTP POST) ──► commit
                  ▲                 │ full
                  └──── paused ◄────┘   (backpressure: cargowatch_webhook_consumer_paused)

- **At-least-once, idempotent.** The consumer (group ``<topic prefix>cargowatch-webhook``,
  ``read_committed``: only alerts of committed screening transactions) commits an offset
  only once the alert at it and every one before it was delivered or dead-lettered.
  Receivers dedupe on the ``Idempotency-Key`` header (the alert id); on our side a
  delivered-keys file in ``state_dir`` keeps a restart from re-sending what was already
  accepted.
- **Signed.** ``X-Cargowatch-Signature: sha256=<hex HMAC-SHA256 of the body with
  webhook_secret>``; a receiver recomputes it over the raw body (``verify_signature``).
- **Payloads.** ``webhook_format=json``: the alert's JSON (the Avro ``Alert`` as plain
  JSON). ``webhook_format=alertmanager``: a list of one alert in the Alertmanager
  ``POST /api/v2/alerts`` shape (labels, annotations, startsAt), so the URL can be an
  Alertmanager directly.
- **Retries.** 2xx is delivered. 408, 425, 429, 5xx, timeouts and connection errors are
  retried after ``webhook_backoff_s`` doubling up to ``webhook_backoff_max_s`` (or the
  server's ``Retry-After``, capped), at most ``webhook_max_attempts`` attempts. Other 4xx
  are permanent. Either way the alert then goes to ``alerts.dlq`` with its original bytes
  and ``x-error-*`` headers (stage ``deliver``), so nothing is dropped silently.
- **A slow or dead target** only fills its own queue; each target has its own senders, so
  the others keep receiving, and the screening workers never wait for any of them.

>>> sign(b'{"a":1}', "s3cret")
'sha256=5910e62016ef5034272c926c27071992a465c2335cecf41851bda071577f4f6d'
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

from cargowatch.settings import ConfigError, Settings
from schemas.codec import Codec, CodecError, registry_from_settings
from schemas.model import Alert
from sinks import metrics

log = logging.getLogger("cargowatch.webhook")

GROUP_ID = "cargowatch-webhook"
SIGNATURE_HEADER = "X-Cargowatch-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
FORMATS = ("json", "alertmanager")
_RETRYABLE = {408, 425, 429}
_json = msgspec.json.Encoder()


# -- payloads and signatures ---------------------------------------------------------


def sign(body: bytes, secret: str) -> str:
    """The signature header value for a body: ``sha256=`` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, secret: str, header: str | None) -> bool:
    """True when ``header`` is the signature of ``body`` with ``secret`` (constant time)."""
    return bool(header) and hmac.compare_digest(sign(body, secret), header or "")


def _severity(alert: Alert) -> str:
    return "critical" if alert.lane == "RED" or alert.referral in ("DNL", "RFS") else "warning"


def alert_payload(alert: Alert, fmt: str = "json") -> bytes:
    """The POST body for one alert in the given format (``json`` or ``alertmanager``)."""
    if fmt == "json":
        return _json.encode(alert)
    if fmt == "alertmanager":
        rules = sorted({h.rule_id for h in alert.hits})
        s = alert.summary
        return _json.encode(
            [
                {
                    "labels": {
                        "alertname": "CargowatchManifestAlert",
                        "severity": _severity(alert),
                        "lane": alert.lane,
                        "referral": alert.referral,
                        "mode": s.mode,
                        "manifest_id": alert.manifest_id,
                        "version": str(alert.version),
                        "alert_id": alert.alert_id,
                    },
                    "annotations": {
                        "summary": f"{alert.lane} lane, referral {alert.referral}, score {alert.score:.0f}: "
                        f"{s.mode} {s.loading_port} → {s.discharge_port}",
                        "description": "; ".join(f"{h.rule_id}: {h.reason}" for h in alert.hits),
                        "rules": ",".join(rules),
                        "ruleset_version": alert.ruleset_version,
                    },
                    "startsAt": alert.raised_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                }
            ]
        )
    raise ConfigError(f"webhook_format must be one of {', '.join(FORMATS)}, got {fmt!r}")


# -- the delivered-keys record -----------------------------------------------------


class DeliveredKeys:
    """Which (target, alert_id) pairs were accepted, in an append-only file that survives
    restarts. Only the newest ``capacity`` keys are kept (older alerts do not come back:
    their offsets are committed)."""

    def __init__(self, path: str | Path, capacity: int = 200_000):
        self.path = Path(path)
        self.capacity = capacity
        self._order: deque[str] = deque()
        self._keys: set[str] = set()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if line:
                    self._remember(line)
            # rewrite the kept keys so the file does not grow without bound
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("".join(k + "\n" for k in self._order), encoding="utf-8")
            tmp.replace(self.path)
        self._fh = self.path.open("a", encoding="utf-8")

    @staticmethod
    def key(target: str, alert_id: str) -> str:
        return f"{hashlib.sha256(target.encode()).hexdigest()[:12]} {alert_id}"

    def _remember(self, key: str) -> None:
        if key in self._keys:
            return
        self._keys.add(key)
        self._order.append(key)
        while len(self._order) > self.capacity:
            self._keys.discard(self._order.popleft())

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def add(self, key: str) -> None:
        """Record a delivery (written and flushed before the offset can be committed)."""
        if key in self._keys:
            return
        self._remember(key)
        self._fh.write(key + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


# -- offsets: commit only what is done ---------------------------------------------


class OffsetTracker:
    """Per partition, the offsets taken but not finished; the committable offset is the
    lowest unfinished one (or one past the highest taken when all are done)."""

    def __init__(self) -> None:
        self._pending: dict[TopicPartition, dict[int, int]] = {}
        self._next: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}

    def take(self, tp: TopicPartition, offset: int, parts: int) -> None:
        """An offset whose record needs ``parts`` deliveries (one per target)."""
        if parts > 0:
            self._pending.setdefault(tp, {})[offset] = parts
        self._next[tp] = max(self._next.get(tp, 0), offset + 1)

    def done(self, tp: TopicPartition, offset: int) -> None:
        pending = self._pending.get(tp)
        if pending is None or offset not in pending:
            return
        pending[offset] -= 1
        if pending[offset] <= 0:
            del pending[offset]

    def committable(self) -> dict[TopicPartition, int]:
        """Offsets to commit that moved since the last call."""
        out: dict[TopicPartition, int] = {}
        for tp, nxt in self._next.items():
            pending = self._pending.get(tp)
            position = min(pending) if pending else nxt
            if position > self._committed.get(tp, -1):
                out[tp] = position
        return out

    def committed(self, offsets: dict[TopicPartition, int]) -> None:
        self._committed.update(offsets)

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        for tp in tps:
            self._pending.pop(tp, None)
            self._next.pop(tp, None)
            self._committed.pop(tp, None)

    @property
    def in_flight(self) -> int:
        return sum(len(p) for p in self._pending.values())


# -- delivery ----------------------------------------------------------------------


@dataclass(slots=True)
class Job:
    """One alert for one target."""

    tp: TopicPartition
    offset: int
    alert_id: str
    body: bytes
    raw: bytes
    generation: int
    enqueued: float = field(default_factory=time.monotonic)


@dataclass
class Target:
    """A webhook URL with its own queue and senders."""

    url: str
    queue: asyncio.Queue[Job]
    delivered: int = 0
    dead_lettered: int = 0

    @property
    def origin(self) -> str:
        return _origin(self.url)


class _Attempt(Exception):
    def __init__(self, result: str, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.result = result
        self.retry_after = retry_after


@dataclass
class DeliveryStats:
    """Counters since start, for tests and the process's /healthz."""

    consumed: int = 0
    delivered: int = 0
    dead_lettered: int = 0
    duplicates: int = 0
    unreadable: int = 0
    paused_s: float = 0.0


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, delivery: WebhookDelivery):
        self.delivery = delivery

    async def on_partitions_revoked(self, revoked):
        await self.delivery.commit()
        self.delivery.tracker.forget(revoked)
        self.delivery.generation += 1

    async def on_partitions_assigned(self, assigned):
        return None


class WebhookDelivery:
    """The alert delivery service. ``await start()``, then ``await run()`` until
    ``request_stop()``; ``await stop()`` commits and closes."""

    def __init__(self, settings: Settings, codec: Codec | None = None, group_id: str | None = None):
        urls = [u.strip() for u in settings.webhook_urls.split(",") if u.strip()]
        if not urls:
            raise ConfigError(
                "no webhook URLs: set webhook_urls (CARGOWATCH_WEBHOOK_URLS=url1,url2)"
            )
        if settings.webhook_format not in FORMATS:
            raise ConfigError(
                f"webhook_format must be one of {', '.join(FORMATS)}, got {settings.webhook_format!r}"
            )
        if settings.webhook_max_attempts < 1 or settings.webhook_queue_size < 1:
            raise ConfigError("webhook_max_attempts and webhook_queue_size must be at least 1")
        self.settings = settings
        self.codec = codec or Codec(registry_from_settings(settings.schema_registry_url))
        # one group per topic prefix, like the topics themselves: "cargowatch-webhook" by default
        self.group_id = group_id or f"{settings.topic_prefix}{GROUP_ID}"
        self.targets = [Target(u, asyncio.Queue(maxsize=settings.webhook_queue_size)) for u in urls]
        self.delivered_keys = DeliveredKeys(Path(settings.state_dir) / "webhook-delivered.keys")
        self.tracker = OffsetTracker()
        self.stats = DeliveryStats()
        self.generation = 0
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self.http: aiohttp.ClientSession | None = None
        self._stopping = asyncio.Event()
        self._senders: list[asyncio.Task] = []
        if not settings.webhook_secret:
            log.warning("webhook_secret is empty: alerts are sent unsigned")
        metrics.WEBHOOK_QUEUE_CAPACITY.set(settings.webhook_queue_size * len(self.targets))
        metrics.WEBHOOK_CONSUMER_PAUSED.set(0)
        metrics.WEBHOOK_QUEUE_DEPTH.set(0)

    # -- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        from cargowatch.kafka import make_consumer, make_producer

        s = self.settings
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=s.webhook_timeout_s))
        self.producer = make_producer(s)
        await self.producer.start()
        self.consumer = make_consumer(
            s,
            group_id=self.group_id,
            isolation_level="read_committed",
            max_poll_records=max(1, s.webhook_queue_size),
        )
        await self.consumer.start()
        self.consumer.subscribe([s.topics.alerts], listener=_Rebalance(self))
        for target in self.targets:
            for _ in range(max(1, s.webhook_concurrency)):
                self._senders.append(asyncio.create_task(self._sender(target)))

    def request_stop(self) -> None:
        self._stopping.set()

    async def stop(self) -> None:
        """Stop senders (in-flight alerts are not committed and come back on restart),
        commit what was delivered, close clients."""
        self._stopping.set()
        for task in self._senders:
            task.cancel()
        for task in self._senders:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self.commit()
        for closer in (self.consumer, self.producer):
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer.stop()
        if self.http is not None:
            await self.http.close()
        self.delivered_keys.close()

    # -- consuming -----------------------------------------------------------------
    def _room(self) -> int:
        return min(t.queue.maxsize - t.queue.qsize() for t in self.targets)

    async def run(self) -> None:
        """Consume alerts into the queues until stopped; never raises on a bad record or
        a failing target (errors never escape)."""
        assert self.consumer is not None
        consumer = self.consumer
        last_commit = time.monotonic()
        paused_since: float | None = None
        while not self._stopping.is_set():
            try:
                room = self._room()
                assignment = consumer.assignment()
                if room <= 0:
                    if paused_since is None:
                        paused_since = time.monotonic()
                        consumer.pause(*assignment)
                        metrics.WEBHOOK_CONSUMER_PAUSED.set(1)
                        log.info("delivery queues full: alerts consumer paused")
                elif paused_since is not None:
                    waited = time.monotonic() - paused_since
                    self.stats.paused_s += waited
                    metrics.WEBHOOK_BACKPRESSURE_SECONDS.inc(waited)
                    paused_since = None
                    consumer.resume(*assignment)
                    metrics.WEBHOOK_CONSUMER_PAUSED.set(0)
                # getmany also keeps the group membership alive while paused
                batches = await consumer.getmany(timeout_ms=200, max_records=max(1, room))
                for tp, records in batches.items():
                    for rec in records:
                        await self._take(tp, rec.offset, rec.value)
                self._update_depth()
                if time.monotonic() - last_commit >= 0.5:
                    await self.commit()
                    last_commit = time.monotonic()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep consuming; the broker may come back
                log.error("alerts consumer: %s: %s; retrying in 1s", type(exc).__name__, exc)
                await asyncio.sleep(1.0)

    async def _take(self, tp: TopicPartition, offset: int, value: bytes | None) -> None:
        self.stats.consumed += 1
        try:
            record = self.codec.decode("Alert", value or b"")
            alert = msgspec.convert(record, Alert, strict=False)
        except (CodecError, msgspec.ValidationError) as exc:
            self.stats.unreadable += 1
            self.tracker.take(tp, offset, 1)
            await self._dead_letter(value or b"", None, "SCHEMA", str(exc), 0, "")
            self.tracker.done(tp, offset)
            return
        body = alert_payload(alert, self.settings.webhook_format)
        targets = [
            t
            for t in self.targets
            if DeliveredKeys.key(t.url, alert.alert_id) not in self.delivered_keys
        ]
        skipped = len(self.targets) - len(targets)
        if skipped:
            self.stats.duplicates += skipped
            metrics.WEBHOOK_DELIVERIES.labels("duplicate").inc(skipped)
        self.tracker.take(tp, offset, len(targets))
        for target in targets:
            # room was checked before the fetch, so this does not wait
            await target.queue.put(
                Job(tp, offset, alert.alert_id, body, value or b"", self.generation)
            )

    def _update_depth(self) -> None:
        metrics.WEBHOOK_QUEUE_DEPTH.set(sum(t.queue.qsize() for t in self.targets))

    async def commit(self) -> None:
        """Commit the offsets below which every alert is delivered or dead-lettered."""
        if self.consumer is None:
            return
        offsets = self.tracker.committable()
        assigned = self.consumer.assignment()
        offsets = {tp: o for tp, o in offsets.items() if tp in assigned}
        if not offsets:
            return
        await self.consumer.commit(offsets)
        self.tracker.committed(offsets)

    # -- sending -------------------------------------------------------------------
    async def _sender(self, target: Target) -> None:
        while True:
            job = await target.queue.get()
            started = time.monotonic()
            try:
                await self._deliver(target, job)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a sender must survive anything
                log.error(
                    "delivery of %s to %s failed unexpectedly: %s", job.alert_id, target.origin, exc
                )
            finally:
                metrics.WEBHOOK_DELIVERY_SECONDS.observe(time.monotonic() - started)
                target.queue.task_done()
                self._update_depth()

    def _headers(self, job: Job) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: job.alert_id,
            "X-Cargowatch-Alert-Id": job.alert_id,
            "User-Agent": "cargowatch-webhook/1",
        }
        if self.settings.webhook_secret:
            headers[SIGNATURE_HEADER] = sign(job.body, self.settings.webhook_secret)
        return headers

    async def _post(self, url: str, job: Job) -> None:
        assert self.http is not None
        try:
            async with self.http.post(url, data=job.body, headers=self._headers(job)) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    return
                retry_after = _retry_after(resp.headers.get("Retry-After"))
                if resp.status in _RETRYABLE or resp.status >= 500:
                    raise _Attempt("retryable", f"HTTP {resp.status}", retry_after)
                raise _Attempt("permanent", f"HTTP {resp.status}")
        except TimeoutError:
            raise _Attempt(
                "timeout", f"no answer within {self.settings.webhook_timeout_s}s"
            ) from None
        except aiohttp.ClientError as exc:
            raise _Attempt("connection", f"{type(exc).__name__}: {exc}") from None

    async def _deliver(self, target: Target, job: Job) -> None:
        s = self.settings
        delay = s.webhook_backoff_s
        last = ""
        attempt = 0
        while attempt < s.webhook_max_attempts:
            attempt += 1
            try:
                await self._post(target.url, job)
            except _Attempt as exc:
                metrics.WEBHOOK_ATTEMPTS.labels(exc.result).inc()
                last = str(exc)
                if exc.result == "permanent":
                    break
                if attempt < s.webhook_max_attempts:
                    wait = min(
                        exc.retry_after if exc.retry_after is not None else delay,
                        s.webhook_backoff_max_s,
                    )
                    log.info(
                        "alert %s to %s: %s; retry %d in %.1fs",
                        job.alert_id,
                        target.origin,
                        last,
                        attempt,
                        wait,
                    )
                    await asyncio.sleep(wait)
                    delay = min(delay * 2, s.webhook_backoff_max_s)
                continue
            metrics.WEBHOOK_ATTEMPTS.labels("ok").inc()
            self.delivered_keys.add(DeliveredKeys.key(target.url, job.alert_id))
            target.delivered += 1
            self.stats.delivered += 1
            metrics.WEBHOOK_DELIVERIES.labels("delivered").inc()
            self._finish(job)
            return
        log.warning(
            "alert %s to %s dead-lettered after %d attempts: %s",
            job.alert_id,
            target.origin,
            attempt,
            last,
        )
        await self._dead_letter(job.raw, job.alert_id, "DELIVERY", last, attempt, target.origin)
        target.dead_lettered += 1
        self.stats.dead_lettered += 1
        metrics.WEBHOOK_DELIVERIES.labels("dead_lettered").inc()
        self._finish(job)

    def _finish(self, job: Job) -> None:
        if job.generation == self.generation:
            self.tracker.done(job.tp, job.offset)

    async def _dead_letter(
        self, raw: bytes, alert_id: str | None, code: str, message: str, attempts: int, url: str
    ) -> None:
        """Publish the alert's original bytes to alerts.dlq; retried until it succeeds,
        because the offset is not committed before it has (nothing is dropped)."""
        assert self.producer is not None
        headers = [
            ("x-error-stage", b"deliver"),
            ("x-error-code", code.encode()),
            ("x-error-message", message.encode()[:1000]),
            ("x-error-attempts", str(attempts).encode()),
            ("x-error-target", url.encode()),
            ("x-failed-at", datetime.now(UTC).isoformat().encode()),
        ]
        delay = 0.5
        while True:
            try:
                await self.producer.send_and_wait(
                    self.settings.topics.alerts_dlq,
                    value=raw,
                    key=alert_id.encode() if alert_id else None,
                    headers=headers,
                )
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - retried: the DLQ must get it
                log.error("alerts.dlq publish failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)


def _origin(url: str) -> str:
    """Scheme and host of a URL: webhook paths often carry secrets, logs must not."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


async def serve_delivery(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run alert delivery with ``/healthz`` and ``/metrics`` on ``webhook_http_port`` until
    ``stop`` is set (or the task is cancelled). What ``cargowatch deliver`` runs."""
    from aiohttp import web
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    delivery = WebhookDelivery(settings)
    await delivery.start()

    async def healthz(request: web.Request) -> web.Response:
        s = delivery.stats
        return web.json_response(
            {
                "status": "ok",
                "consumed": s.consumed,
                "delivered": s.delivered,
                "dead_lettered": s.dead_lettered,
            }
        )

    async def metrics_page(request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(metrics.REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.http_host, settings.webhook_http_port).start()
    run_task = asyncio.create_task(delivery.run())
    try:
        if stop is None:
            await run_task
        else:
            await stop.wait()
    finally:
        delivery.request_stop()
        run_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run_task
        await delivery.stop()
        await runner.cleanup()


def run_delivery_process(settings: Settings) -> None:
    """Run alert delivery in this process until SIGINT/SIGTERM (what ``cargowatch deliver``
    and ``python -m sinks.webhook`` run)."""
    import signal

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await serve_delivery(settings, stop)

    asyncio.run(main())


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    run_delivery_process(Settings.load())
