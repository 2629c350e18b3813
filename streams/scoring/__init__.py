"""Risk scoring: rules as configuration, applied to a batch with polars expressions.

The worker and ``cargowatch screen`` call :func:`score_batch` with a :class:`Ruleset`
(kept current by a :class:`RulesetWatcher`) and a :class:`ScoringReference`.

>>> ruleset = Ruleset.load(settings.rules)  # doctest: +SKIP
>>> reference = ScoringReference.load(settings, ReferenceData.load(settings.refdata))  # doctest: +SKIP
>>> results = score_batch(enriched, ruleset, reference, now)  # doctest: +SKIP
"""

from streams.scoring.criteria import CriteriaError, parse_criterion
from streams.scoring.engine import score_batch
from streams.scoring.lanes import calibrate_thresholds, draw, lane_rates, quota_report
from streams.scoring.reference import ReferenceConfigError, ScoringPaths, ScoringReference
from streams.scoring.ruleset import DEFAULT_RULESET, RULE_IDS, Ruleset, RulesetError, RulesetWatcher

__all__ = [
    "DEFAULT_RULESET",
    "RULE_IDS",
    "CriteriaError",
    "ReferenceConfigError",
    "Ruleset",
    "RulesetError",
    "RulesetWatcher",
    "ScoringPaths",
    "ScoringReference",
    "calibrate_thresholds",
    "draw",
    "lane_rates",
    "parse_criterion",
    "quota_report",
    "score_batch",
]
