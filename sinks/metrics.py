"""Prometheus metrics of the sinks' own processes: alert delivery and the dashboard.

They live in their own registry (the worker's is streams/metrics.py) so each process's
``/metrics`` shows only what that process does. Prometheus naming, no per-alert labels.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

WEBHOOK_DELIVERIES = Counter(
    "cargowatch_webhook_deliveries_total",
    "Alert deliveries to webhook targets by outcome (delivered, dead_lettered, duplicate).",
    ["outcome"],
    registry=REGISTRY,
)
WEBHOOK_ATTEMPTS = Counter(
    "cargowatch_webhook_attempts_total",
    "HTTP attempts to webhook targets by result (ok, retryable, permanent, timeout, connection).",
    ["result"],
    registry=REGISTRY,
)
WEBHOOK_DELIVERY_SECONDS = Histogram(
    "cargowatch_webhook_delivery_seconds",
    "From taking an alert off the queue to its delivery or dead-lettering, retries included.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
WEBHOOK_QUEUE_DEPTH = Gauge(
    "cargowatch_webhook_queue_depth",
    "Alerts waiting in the delivery queues (all targets).",
    registry=REGISTRY,
)
WEBHOOK_QUEUE_CAPACITY = Gauge(
    "cargowatch_webhook_queue_capacity",
    "Capacity of the delivery queues (all targets); depth at capacity pauses the consumer.",
    registry=REGISTRY,
)
WEBHOOK_CONSUMER_PAUSED = Gauge(
    "cargowatch_webhook_consumer_paused",
    "1 while the alerts consumer is paused because a delivery queue is full (backpressure).",
    registry=REGISTRY,
)
WEBHOOK_BACKPRESSURE_SECONDS = Counter(
    "cargowatch_webhook_backpressure_seconds_total",
    "Seconds the alerts consumer spent paused by full delivery queues.",
    registry=REGISTRY,
)
DASHBOARD_DECISIONS = Counter(
    "cargowatch_dashboard_decisions_total",
    "Officer decisions published from the dashboard, by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
DASHBOARD_LOGINS = Counter(
    "cargowatch_dashboard_logins_total",
    "Dashboard login attempts by result (ok, failed).",
    ["result"],
    registry=REGISTRY,
)
DASHBOARD_LIVE_CLIENTS = Gauge(
    "cargowatch_dashboard_live_clients",
    "Browsers connected to the live alert feed.",
    registry=REGISTRY,
)
DASHBOARD_OPEN_ALERTS = Gauge(
    "cargowatch_dashboard_open_alerts",
    "Alerts on the board without an officer decision.",
    registry=REGISTRY,
)
