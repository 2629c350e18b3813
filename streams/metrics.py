"""Prometheus metrics of the worker, with Prometheus naming and no per-manifest labels.

Counters reconcile: for ``stage="intake"``, in = screened + rejected + replay + out_of_order
(outcome label), and every rejection is also counted in ``cargowatch_dlq_total``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

# The *_created series double the exposition for no use on our dashboards.
disable_created_metrics()

REGISTRY = CollectorRegistry(auto_describe=True)

MANIFESTS = Counter(
    "cargowatch_manifests_total",
    "Manifests by stage and outcome (intake: received; route: screened, rejected, replay, out_of_order).",
    ["stage", "outcome"],
    registry=REGISTRY,
)
STAGE_SECONDS = Histogram(
    "cargowatch_stage_seconds",
    "Time spent per batch in each stage.",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
END_TO_END = Histogram(
    "cargowatch_end_to_end_seconds",
    "From the input record's Kafka timestamp to its result being committed.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
RESULTS = Counter(
    "cargowatch_results_total",
    "Screening results, by lane and referral.",
    ["lane", "referral"],
    registry=REGISTRY,
)
ALERTS = Counter(
    "cargowatch_alerts_total",
    "Alerts raised, by lane and referral.",
    ["lane", "referral"],
    registry=REGISTRY,
)
DLQ = Counter(
    "cargowatch_dlq_total",
    "Records dead-lettered, by stage and error code.",
    ["stage", "code"],
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "cargowatch_consumer_lag",
    "Records behind the end of each assigned input partition.",
    ["topic", "partition"],
    registry=REGISTRY,
)
WATCHLIST_ENTRIES = Gauge(
    "cargowatch_watchlist_entries",
    "Entries in the watchlist index, by list.",
    ["list"],
    registry=REGISTRY,
)
REBALANCES = Counter(
    "cargowatch_rebalances_total",
    "Consumer group rebalances seen by this worker.",
    registry=REGISTRY,
)
DECISIONS = Counter(
    "cargowatch_decisions_total",
    "Officer decisions on alerts, by outcome and by rule that fired (hit rate per rule).",
    ["outcome", "rule_id"],
    registry=REGISTRY,
)
LAST_COMMIT = Gauge(
    "cargowatch_last_commit_timestamp_seconds",
    "Unix time of the last committed batch (for 'no progress while lag > 0' alerts).",
    registry=REGISTRY,
)


def observe_many(histogram: Histogram, amounts: Sequence[float]) -> None:
    """``histogram.observe`` of every amount, with one increment per bucket touched (the
    per-value call takes a lock and walks the buckets: ~3 us a result on the event loop)."""
    if not amounts:
        return
    bounds = histogram._upper_bounds  # ends with +Inf: every amount has a bucket
    counts = [0] * len(bounds)
    for amount in amounts:
        counts[bisect_left(bounds, amount)] += 1
    histogram._sum.inc(sum(amounts))
    for i, n in enumerate(counts):
        if n:
            histogram._buckets[i].inc(n)
