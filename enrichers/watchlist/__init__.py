"""Watchlist screening: list loaders, name normalisation, the candidate index and the matcher.

The pure core (``loaders``, ``normalize``, ``scoring``, ``index``, ``matcher``, ``store``)
knows nothing about Kafka; ``publish`` (the ``watchlist load`` side) and ``feed`` (the
worker side) are the Kafka wiring.

>>> from enrichers.watchlist import build_screener_from_files
>>> screener = build_screener_from_files([("sanctions/un/UN_consolidated.xml", None)])  # doctest: +SKIP
>>> screener.screen_parties([PartyQuery("Eric Badege", role="CONSIGNEE")])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from enrichers.watchlist.loaders import WatchlistVersion, load_watchlist
from enrichers.watchlist.matcher import (
    MATCH_THRESHOLD,
    MatcherConfig,
    PartyQuery,
    ScreeningIndex,
    WatchlistScreener,
)
from enrichers.watchlist.store import WatchlistStore

if TYPE_CHECKING:
    from cargowatch.settings import Settings

__all__ = [
    "MATCH_THRESHOLD",
    "MatcherConfig",
    "PartyQuery",
    "ScreeningIndex",
    "WatchlistScreener",
    "WatchlistStore",
    "WatchlistVersion",
    "build_screener_from_files",
    "load_watchlist",
]


def build_screener_from_files(
    watchlists: Sequence[tuple[str | Path, str | None]],
    settings: Settings | None = None,
    config: MatcherConfig | None = None,
) -> WatchlistScreener:
    """A screener over list files: ``(path, format or None to detect)`` pairs.

    The legal-form table comes from ``settings.refdata`` when given.
    """
    from enrichers.watchlist.normalize import Normalizer

    normalizer = Normalizer.default(settings.refdata if settings else None)
    versions = [load_watchlist(path, fmt) for path, fmt in watchlists]
    return WatchlistScreener.from_versions(versions, normalizer, config)
