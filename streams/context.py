"""Build the screening context (reference data, rules, lists, traders) from settings.

Shared by ``cargowatch screen`` (offline) and ``cargowatch worker`` (stream) so both run
with the same configuration.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cargowatch.settings import Settings
from enrichers.refdata import ReferenceData
from enrichers.traders import TraderHistory, TraderRegister
from schemas.validation import ValidationConfig
from streams.scoring import Ruleset, ScoringReference
from streams.screening import ScreeningContext


def build_context(
    settings: Settings,
    *,
    watchlists: Sequence[tuple[str | Path, str | None]] = (),
    traders: str | Path | None = None,
    rules: str | Path | None = None,
) -> ScreeningContext:
    """A ready ScreeningContext. ``watchlists`` are (path, format or None to detect) pairs
    loaded into a static screener; the worker swaps lists live instead (streams/app.py)."""
    ref = ReferenceData.load(settings.refdata)
    ruleset = Ruleset.load(rules or settings.rules)
    screener = None
    if watchlists:
        from enrichers.watchlist import build_screener_from_files

        screener = build_screener_from_files(watchlists, settings)
    register = TraderRegister.load(traders) if traders else TraderRegister()
    return ScreeningContext(
        ref=ref,
        validation=ValidationConfig.load(settings.stopwords),
        ruleset=ruleset,
        scoring=ScoringReference.load(settings, ref),
        traders=register,
        history=TraderHistory(),
        screener=screener,
    )
