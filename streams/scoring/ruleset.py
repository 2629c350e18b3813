"""The ruleset: weights, thresholds, lane quotas, referrals and analyst criteria, from YAML.

A ruleset is configuration, not code (design principle 7). :meth:`Ruleset.load` refuses a
file that does not parse, names an unknown rule id, field or setting, or has thresholds
that make no sense, with a :class:`RulesetError` saying which and where. The running
worker keeps the last good ruleset (:class:`RulesetWatcher`).

>>> rs = Ruleset.load(DEFAULT_RULESET)  # doctest: +SKIP
>>> rs.version  # doctest: +SKIP
'2026.11.1'
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any, Literal

import msgspec
import polars as pl
import yaml
from msgspec import Struct, field

from cargowatch.settings import DEFAULTS_DIR
from schemas.model import Lane, Mode, PartyRole
from streams.scoring.criteria import CriteriaError, parse_criterion

log = logging.getLogger(__name__)

DEFAULT_RULESET = DEFAULTS_DIR / "ruleset.yaml"

RULE_IDS: tuple[str, ...] = (
    "WATCHLIST_PARTY",
    "EMBARGO_ROUTE",
    "DUAL_USE_GOODS",
    "UNDERVALUATION",
    "DESCRIPTION_MISMATCH",
    "NEW_TRADER",
    "LATE_FILING",
    "LATE_AMENDMENT",
    "ROUTE_ANOMALY",
    "WEIGHT_ANOMALY",
    "PRIOR_FINDINGS",
    "TRUSTED_TRADER",
    "RANDOM_SELECTION",
)
LANE_ORDER: dict[str, int] = {"GREEN": 0, "BLUE": 0, "YELLOW": 1, "RED": 2}


class RulesetError(ValueError):
    """A ruleset that cannot be used. The message names the file, the place and the fix."""


class _Rule(Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    weight: float
    lane: Lane | None = None  # the minimum lane when the rule fires (e.g. RED)


class WatchlistPartyRule(_Rule):
    min_match_score: float = 0.80
    strong_match_score: float = 0.92
    strong_lane: Lane = "RED"


class EmbargoRouteRule(_Rule):
    # which parts of the route count; class weights (multipliers of `weight`) live in
    # the country risk list
    check: list[Literal["origin", "loading", "transshipment", "routing", "discharge"]] = field(
        default_factory=lambda: ["origin", "loading", "transshipment", "routing"]
    )
    embargoed_lane: Lane | None = "RED"


class DualUseGoodsRule(_Rule):
    pass


class UndervaluationRule(_Rule):
    min_robust_z: float = 3.0  # fire when (log v/kg - median) / (1.4826 MAD) <= -min_robust_z
    max_ratio: float = 0.35  # ... and value per kg below this share of the benchmark median
    min_samples: int = 20  # a benchmark with fewer observations is not used


class DescriptionMismatchRule(_Rule):
    # A description reads as a chapter by the sum of its words' weights there (1 / number
    # of chapters the word belongs to). Mismatch: another chapter scores at least
    # min_other_score and `margin` times the declared chapter's score.
    margin: float = 2.5
    min_other_score: float = 0.3
    reference_weight: float = 1.0  # a chapter the description cites ("heading no. 8540")
    require_other_chapter: bool = True  # a description that reads as no chapter is left alone
    min_tokens: int = 1


class NewTraderRule(_Rule):
    roles: list[PartyRole] = field(default_factory=lambda: ["CONSIGNEE", "CONSIGNOR"])
    # a party without an identifier has no history either; a party in the trader register
    # is known, even before its first shipment
    count_unidentified: bool = True


class LateFilingRule(_Rule):
    before_departure_h: dict[Mode, float] = field(default_factory=lambda: {"SEA": 24.0, "AIR": 0.0})
    before_arrival_h: dict[Mode, float] = field(default_factory=lambda: {"ROAD": 1.0, "RAIL": 2.0})


class LateAmendmentRule(_Rule):
    # an amendment after departure whose previous version is not at hand (evicted from
    # memory, or in the same batch) counts as changing parties or goods
    when_previous_unknown: bool = True


class RouteAnomalyRule(_Rule):
    min_history: int = 20  # trader shipments before a new route counts as unusual
    max_known_routes: int = 4  # ... for a trader with a stable pattern (at most this many routes)
    max_transshipments: int = 3  # more than this many transshipment ports is circuitous
    # transshipment hubs usual per loading country ("*": usual from anywhere); a hub not
    # listed for the lane counts as unusual (computed from history: benchmarks.route_profiles)
    usual_hubs: dict[str, list[str]] = field(default_factory=dict)
    usual_hubs_modes: list[Mode] = field(default_factory=lambda: ["SEA"])  # the lists are sea hubs
    min_unusual_hubs: int = 1
    hub_with_dual_use: bool = True  # dual-use goods routed through a diversion hub


class WeightAnomalyRule(_Rule):
    min_kg_per_package: float = 0.05
    max_kg_per_package: float = 25_000.0
    max_kg_per_container: float = 32_500.0
    min_kg_per_container: float = 50.0


class PriorFindingsRule(_Rule):
    min_confirmed: int = 1


class TrustedTraderRule(_Rule):
    roles: list[PartyRole] = field(default_factory=lambda: ["CONSIGNEE", "CONSIGNOR"])


class RandomSelectionRule(_Rule):
    rate: float = 0.005  # the random floor: share of manifests selected whatever their score
    seed: str = "cargowatch"
    lane: Lane = "YELLOW"


class Rules(Struct, forbid_unknown_fields=True, rename="upper"):
    watchlist_party: WatchlistPartyRule | None = None
    embargo_route: EmbargoRouteRule | None = None
    dual_use_goods: DualUseGoodsRule | None = None
    undervaluation: UndervaluationRule | None = None
    description_mismatch: DescriptionMismatchRule | None = None
    new_trader: NewTraderRule | None = None
    late_filing: LateFilingRule | None = None
    late_amendment: LateAmendmentRule | None = None
    route_anomaly: RouteAnomalyRule | None = None
    weight_anomaly: WeightAnomalyRule | None = None
    prior_findings: PriorFindingsRule | None = None
    trusted_trader: TrustedTraderRule | None = None
    random_selection: RandomSelectionRule | None = None

    def active(self, rule_id: str) -> Any:
        """The rule's settings when present and enabled, else None."""
        rule = getattr(self, rule_id.lower())
        return rule if rule is not None and rule.enabled else None


class BlueLane(Struct, forbid_unknown_fields=True):
    trusted_max_score: float = 10.0  # trusted traders at or below this score go BLUE
    sample_rate: float = 0.0  # share of other GREEN manifests sampled for post-clearance audit
    # seed of the audit draw when RANDOM_SELECTION is off; with it on, the audit sample
    # uses the second half of the random floor's draw (independent of the first)
    seed: str = "cargowatch-blue"


class Lanes(Struct, forbid_unknown_fields=True):
    thresholds: dict[Literal["YELLOW", "RED"], float] = field(
        default_factory=lambda: {"YELLOW": 35.0, "RED": 65.0}
    )
    # ASYCUDA-style expected share of manifests per lane (the quotas); reported against
    # the observed rates and used to calibrate thresholds (quality, backtest)
    expected_rates: dict[Lane, float] = field(default_factory=dict)
    blue: BlueLane = field(default_factory=BlueLane)


class DnlReferral(Struct, forbid_unknown_fields=True):
    min_match_score: float = 0.92
    lists: list[str] = field(default_factory=list)  # list_id prefixes that are sanctions lists; empty: all
    only_before_departure: bool = True  # filed before departure = still before loading


class RfsReferral(Struct, forbid_unknown_fields=True):
    modes: list[Mode] = field(default_factory=lambda: ["AIR"])
    min_score: float = 65.0


class RfiReferral(Struct, forbid_unknown_fields=True):
    when: list[str] = field(default_factory=list)  # criteria describing data gaps


class Referrals(Struct, forbid_unknown_fields=True):
    dnl: DnlReferral = field(default_factory=DnlReferral)
    rfs: RfsReferral = field(default_factory=RfsReferral)
    rfi: RfiReferral = field(default_factory=RfiReferral)


class Criterion(Struct, forbid_unknown_fields=True, kw_only=True):
    id: str
    when: str
    weight: float = 0.0
    lane: Lane | None = None
    reason: str = ""
    enabled: bool = True


class RulesetFile(Struct, forbid_unknown_fields=True, kw_only=True):
    version: str
    description: str = ""
    lanes: Lanes = field(default_factory=Lanes)
    referrals: Referrals = field(default_factory=Referrals)
    rules: Rules = field(default_factory=Rules)
    criteria: list[Criterion] = field(default_factory=list)
    usd_rates: dict[str, float] = field(default_factory=dict)  # currency -> USD per unit


class Ruleset:
    """A validated ruleset. ``version`` goes into every result; ``digest`` identifies the
    file contents (the watcher reloads on a change)."""

    def __init__(self, spec: RulesetFile, source: str = "<memory>", digest: str = ""):
        self.spec = spec
        self.source = source
        self.digest = digest
        _check(spec, source)
        self.criteria_exprs: list[tuple[Criterion, pl.Expr]] = [
            (c, parse_criterion(c.when).to_polars()) for c in spec.criteria if c.enabled
        ]
        self.rfi_exprs: list[tuple[str, pl.Expr]] = [
            (w, parse_criterion(w).to_polars()) for w in spec.referrals.rfi.when
        ]
        self._criteria_fields: set[str] = set()
        for text in [c.when for c in spec.criteria] + list(spec.referrals.rfi.when):
            self._criteria_fields |= parse_criterion(text).fields()

    @property
    def criteria_fields(self) -> set[str]:
        """Fields the analyst criteria and RFI conditions use."""
        return self._criteria_fields

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def rules(self) -> Rules:
        return self.spec.rules

    @classmethod
    def load(cls, path: str | Path) -> Ruleset:
        """Read and validate a ruleset file; raises RulesetError with a clear message."""
        p = Path(path)
        try:
            raw = p.read_bytes()
        except OSError as exc:
            raise RulesetError(f"ruleset {p}: cannot read ({exc.strerror or exc})") from None
        return cls.from_yaml(raw, source=str(p))

    @classmethod
    def from_yaml(cls, text: str | bytes, source: str = "<memory>") -> Ruleset:
        """Parse a ruleset from YAML text (see :meth:`load`)."""
        digest = hashlib.sha256(text if isinstance(text, bytes) else text.encode()).hexdigest()
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise RulesetError(f"ruleset {source}: not valid YAML: {exc}") from None
        return cls.from_dict(data, source=source, digest=digest)

    @classmethod
    def from_dict(cls, data: Any, source: str = "<memory>", digest: str = "") -> Ruleset:
        if not isinstance(data, dict):
            raise RulesetError(f"ruleset {source}: must be a mapping with at least 'version' and 'rules'")
        rules = data.get("rules")
        if isinstance(rules, dict):
            unknown = [k for k in rules if k not in RULE_IDS]
            if unknown:
                raise RulesetError(
                    f"ruleset {source}: unknown rule id(s) {', '.join(map(str, unknown))}; "
                    f"known rule ids: {', '.join(RULE_IDS)} (analyst rules go under 'criteria')"
                )
        if "version" in data and not isinstance(data["version"], str):
            data = {**data, "version": str(data["version"])}
        try:
            spec = msgspec.convert(data, RulesetFile, strict=False)
        except msgspec.ValidationError as exc:
            raise RulesetError(f"ruleset {source}: {_explain(exc)}") from None
        if not digest:
            digest = hashlib.sha256(msgspec.json.encode(data)).hexdigest()
        return cls(spec, source=source, digest=digest)

    def with_thresholds(self, yellow: float, red: float) -> Ruleset:
        """A copy with other lane thresholds (calibration, backtests)."""
        lanes = msgspec.structs.replace(self.spec.lanes, thresholds={"YELLOW": yellow, "RED": red})
        spec = msgspec.structs.replace(self.spec, lanes=lanes)
        return Ruleset(spec, source=self.source, digest=self.digest)


def _explain(exc: msgspec.ValidationError) -> str:
    msg = str(exc)
    # msgspec says "Object contains unknown field `x` - at `$.rules.LATE_FILING`"
    if "unknown field" in msg:
        return msg.replace("Object contains unknown field", "unknown setting") + " (check the spelling; see the documented default ruleset)"
    return msg


def _check(spec: RulesetFile, source: str) -> None:
    where = f"ruleset {source}"
    if not spec.version.strip():
        raise RulesetError(f"{where}: 'version' must not be empty; every result records it")
    th = spec.lanes.thresholds
    yellow, red = th.get("YELLOW", 35.0), th.get("RED", 65.0)
    for name, value in (("YELLOW", yellow), ("RED", red)):
        if not 0 <= value <= 100:
            raise RulesetError(f"{where}: lanes.thresholds.{name} = {value} must be within 0..100 (scores are 0-100)")
    if yellow >= red:
        raise RulesetError(f"{where}: lanes.thresholds.YELLOW ({yellow}) must be below RED ({red})")
    for lane, rate in spec.lanes.expected_rates.items():
        if not 0 <= rate <= 1:
            raise RulesetError(f"{where}: lanes.expected_rates.{lane} = {rate} must be a share within 0..1")
    if sum(spec.lanes.expected_rates.values()) > 1:
        raise RulesetError(f"{where}: lanes.expected_rates add up to more than 1")
    if not 0 <= spec.lanes.blue.sample_rate <= 1:
        raise RulesetError(f"{where}: lanes.blue.sample_rate must be within 0..1")
    for rule_id in RULE_IDS:
        rule = getattr(spec.rules, rule_id.lower())
        if rule is None:
            continue
        if not -100 <= rule.weight <= 100:
            raise RulesetError(f"{where}: rules.{rule_id}.weight = {rule.weight} must be within -100..100")
        if rule_id == "TRUSTED_TRADER" and rule.weight > 0:
            raise RulesetError(f"{where}: rules.TRUSTED_TRADER.weight must be zero or negative (it lowers the score)")
    wl = spec.rules.watchlist_party
    if wl is not None:
        for name in ("min_match_score", "strong_match_score"):
            if not 0 <= getattr(wl, name) <= 1:
                raise RulesetError(f"{where}: rules.WATCHLIST_PARTY.{name} must be within 0..1 (match scores are 0-1)")
        if wl.strong_match_score < wl.min_match_score:
            raise RulesetError(f"{where}: rules.WATCHLIST_PARTY.strong_match_score must be >= min_match_score")
    rnd = spec.rules.random_selection
    if rnd is not None and not 0 <= rnd.rate <= 1:
        raise RulesetError(f"{where}: rules.RANDOM_SELECTION.rate = {rnd.rate} must be within 0..1")
    if not 0 <= spec.referrals.dnl.min_match_score <= 1:
        raise RulesetError(f"{where}: referrals.dnl.min_match_score must be within 0..1")
    seen: set[str] = set()
    for i, c in enumerate(spec.criteria):
        if c.id in seen or c.id in RULE_IDS:
            raise RulesetError(f"{where}: criteria[{i}].id {c.id!r} is used twice or is a built-in rule id")
        seen.add(c.id)
        if c.weight == 0 and c.lane is None:
            raise RulesetError(f"{where}: criteria[{i}] ({c.id}) needs a weight or a lane")
        try:
            parse_criterion(c.when)
        except CriteriaError as exc:
            raise RulesetError(f"{where}: criteria[{i}] ({c.id}) when: {exc}") from None
    for i, w in enumerate(spec.referrals.rfi.when):
        try:
            parse_criterion(w)
        except CriteriaError as exc:
            raise RulesetError(f"{where}: referrals.rfi.when[{i}]: {exc}") from None
    for cur, rate in spec.usd_rates.items():
        if rate <= 0:
            raise RulesetError(f"{where}: usd_rates.{cur} must be positive")


class RulesetWatcher:
    """Live reload: polls the ruleset file and swaps in a new ruleset when it changes and
    is valid; a refused file is logged and the running ruleset stays in force.

    >>> watcher = RulesetWatcher("rules.yaml")  # doctest: +SKIP
    >>> ruleset = watcher.current()  # doctest: +SKIP
    """

    def __init__(self, path: str | Path, poll_interval_s: float = 2.0, initial: Ruleset | None = None):
        self.path = Path(path)
        self.poll_interval_s = poll_interval_s
        self._ruleset = initial or Ruleset.load(self.path)
        self._refused_digest = ""
        self._last_poll = time.monotonic()
        self.last_error: str | None = None
        self.reloads = 0
        self.refusals = 0

    def current(self, now_monotonic: float | None = None) -> Ruleset:
        """The ruleset in force, after a poll when the interval has passed."""
        t = time.monotonic() if now_monotonic is None else now_monotonic
        if t - self._last_poll >= self.poll_interval_s:
            self._last_poll = t
            self.poll()
        return self._ruleset

    def poll(self) -> bool:
        """Check the file now; True when a new ruleset was taken into force. The file is
        small, so it is hashed on every poll (an mtime alone misses same-second edits)."""
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            if self.last_error is None:
                self._refuse(f"cannot read {self.path}: {exc.strerror or exc}")
            return False
        digest = hashlib.sha256(raw).hexdigest()
        if digest in (self._ruleset.digest, self._refused_digest):
            return False
        try:
            new = Ruleset.from_yaml(raw, source=str(self.path))
        except RulesetError as exc:
            self._refused_digest = digest
            self._refuse(str(exc))
            return False
        log.info(
            "ruleset reloaded: version %s -> %s (%s)", self._ruleset.version, new.version, self.path
        )
        self._ruleset = new
        self.last_error = None
        self.reloads += 1
        return True

    def _refuse(self, message: str) -> None:
        self.last_error = message
        self.refusals += 1
        log.error("ruleset refused, keeping version %s in force: %s", self._ruleset.version, message)
