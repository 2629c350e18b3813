"""Metrics recorded per batch give the same series as per value."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

from streams.metrics import observe_many


def _samples(h: Histogram) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for m in h.collect() for s in m.samples}


def test_observe_many_equals_observe_one_by_one():
    buckets = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
    one = Histogram("one", "d", buckets=buckets, registry=CollectorRegistry())
    many = Histogram("one", "d", buckets=buckets, registry=CollectorRegistry())
    # on the bounds, between them, above the last and zero
    amounts = [0.0, 0.01, 0.0100001, 0.024, 0.025, 0.3, 1.0, 2.5, 2.6, 99.0] * 3
    for a in amounts:
        one.observe(a)
    observe_many(many, amounts)
    observe_many(many, [])
    assert _samples(many) == _samples(one)
    assert _samples(many)[("one_count", ())] == len(amounts)
