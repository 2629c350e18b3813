"""Faust's gap bookkeeping on the trader-history deltas (streams/app.py): the in-order
shortcut keeps exactly the gaps Faust's own ``_add_gap`` keeps."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from types import SimpleNamespace

from faust.transport.consumer import Consumer
from intervaltree import IntervalTree

from streams import app as worker_app


def _consumer(committed: int | None) -> SimpleNamespace:
    return SimpleNamespace(_committed_offset=defaultdict(lambda: committed), _gap=defaultdict(IntervalTree))


def _gaps(consumer: SimpleNamespace) -> list[tuple[int, int]]:
    return sorted((iv.begin, iv.end) for iv in consumer._gap["tp"])


def test_gaps_kept_are_faust_s_own_in_order_and_after_a_seek_back(monkeypatch) -> None:
    worker_app._faust_gaps_in_order()
    faust_add_gap = worker_app._faust_add_gap
    assert Consumer._add_gap is worker_app._add_gap_in_order and faust_add_gap is not None
    rebuilds = []

    async def counted(*args):
        rebuilds.append(args)
        await faust_add_gap(*args)

    monkeypatch.setattr(worker_app, "_faust_add_gap", counted)
    rng = random.Random(7)
    for committed in (None, 40):
        ours, theirs = _consumer(committed), _consumer(committed)
        offset = 0
        rebuilds.clear()
        for _ in range(400):
            if rng.random() < 0.02:
                offset = max(0, offset - rng.randint(1, 60))  # a seek back: gaps seen again
            start = offset + rng.randint(1, 3)
            end = start + rng.randint(0, 2)  # a marker is one offset; aborted batches more
            asyncio.run(worker_app._add_gap_in_order(ours, "tp", start, end))
            asyncio.run(faust_add_gap(theirs, "tp", start, end))
            assert _gaps(ours) == _gaps(theirs)
            offset = end + 1
        # gaps past every held one took the shortcut; those after a seek back did not
        assert 0 < len(rebuilds) < 150, len(rebuilds)
    # overlapping gaps stay merged (a seek back re-reads a gap it holds)
    c = _consumer(None)
    for start, end in ((10, 12), (20, 20), (11, 21)):
        asyncio.run(worker_app._add_gap_in_order(c, "tp", start, end))
    assert _gaps(c) == [(10, 22)]
