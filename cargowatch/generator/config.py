"""What the synthetic traffic generator plants, and how often.

Rates are probabilities per generated record. Risk types are named after the rule that
should catch them (contract §3), so a benchmark can compare a label with a hit directly.

>>> cfg = GeneratorConfig.from_mapping({"rates": {"undervaluation": 0.1}, "traders": 500})
>>> cfg.rates.undervaluation, cfg.traders
(0.1, 500)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

#: Risk types a label may carry; each is the rule id expected to fire (contract §3).
RISK_TYPES: tuple[str, ...] = (
    "WATCHLIST_PARTY",
    "EMBARGO_ROUTE",
    "ROUTE_ANOMALY",
    "DUAL_USE_GOODS",
    "UNDERVALUATION",
    "DESCRIPTION_MISMATCH",
    "NEW_TRADER",
    "LATE_FILING",
    "LATE_AMENDMENT",
    "WEIGHT_ANOMALY",
    "TRUSTED_TRADER",
)

#: Rejection codes of contract §2; an invalid record carries exactly one of them.
INVALID_CODES: tuple[str, ...] = (
    "SCHEMA",
    "REQUIRED",
    "CONTAINER_CHECK_DIGIT",
    "IMO_CHECK_DIGIT",
    "AWB_CHECK_DIGIT",
    "HS_CODE",
    "COUNTRY",
    "LOCODE",
    "CURRENCY",
    "VAGUE_DESCRIPTION",
    "PARTY_NAME",
    "QUANTITY",
    "DATES",
)


class GeneratorConfigError(ValueError):
    """A generator setting that cannot be used; the message names it."""


@dataclass(frozen=True)
class RiskRates:
    """Probability, per record, of each planted risk (independent draws).

    ``trusted_trader`` is the share of manifests whose consignee is AEO-certified;
    ``invalid`` the share of records carrying exactly one rejection code (spread evenly
    over the 13 codes); ``amendment`` / ``replay`` the share of records that are a
    version 2 of an earlier manifest / an exact resend of an earlier record.
    ``late_amendment`` is the share of records that are a version 2 filed after
    departure changing parties or goods (on top of ``amendment``).
    """

    watchlist: float = 0.02
    embargo_route: float = 0.02
    route_anomaly: float = 0.01
    dual_use: float = 0.02
    undervaluation: float = 0.03
    description_mismatch: float = 0.02
    new_trader: float = 0.03
    late_filing: float = 0.03
    weight_anomaly: float = 0.02
    late_amendment: float = 0.005
    trusted_trader: float = 0.15
    invalid: float = 0.03
    amendment: float = 0.03
    replay: float = 0.005

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise GeneratorConfigError(f"rate {f.name} must be a number in [0, 1], got {value!r}")
        if self.invalid + self.amendment + self.late_amendment + self.replay > 0.9:
            raise GeneratorConfigError(
                "invalid + amendment + late_amendment + replay must leave room for new "
                "manifests (sum <= 0.9)"
            )

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def replace(self, **changes: float) -> RiskRates:
        return dataclasses.replace(self, **changes)

    @classmethod
    def none(cls) -> RiskRates:
        """No planted risks and no invalid records: clean, realistic traffic only."""
        return cls(**{name: 0.0 for name in cls.names()})


def _default_start() -> datetime:
    return datetime(2026, 3, 2, tzinfo=UTC)


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything that shapes generated traffic besides count and seed.

    ``traders`` consignees (importers) are drawn Zipf-like (exponent ``zipf_exponent``)
    so that returning traders carry most manifests; ``suppliers`` foreign consignors
    each serve a few consignees. ``start`` is the filing time of the first record and
    ``filings_per_day`` the simulated filing rate. ``watchlist`` is the list the
    WATCHLIST_PARTY names come from (default: the UN consolidated list in the reference
    data directory), ``watchlist_format`` / ``watchlist_list_id`` are passed to its
    loader.
    """

    rates: RiskRates = field(default_factory=RiskRates)
    traders: int = 1500
    suppliers: int = 2500
    zipf_exponent: float = 1.05
    aeo_share: float = 0.12
    start: datetime = field(default_factory=_default_start)
    filings_per_day: float = 20000.0
    watchlist: str | None = None
    watchlist_format: str | None = None
    watchlist_list_id: str | None = None
    native_script_share: float = 0.3
    goods_table: str | None = None
    world_table: str | None = None

    def __post_init__(self) -> None:
        if self.traders < 10 or self.suppliers < 10:
            raise GeneratorConfigError("traders and suppliers must each be at least 10")
        if self.filings_per_day <= 0:
            raise GeneratorConfigError("filings_per_day must be positive")
        if self.start.tzinfo is None:
            raise GeneratorConfigError("start must be timezone-aware (UTC)")

    def replace(self, **changes: Any) -> GeneratorConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> GeneratorConfig:
        """Build from a mapping: top-level keys are the fields of this class; ``rates`` is a
        mapping of RiskRates fields. Rate keys may also sit at the top level (a plain
        rates file)."""
        data = dict(data)
        rate_names = set(RiskRates.names())
        rates = dict(data.pop("rates", None) or {})
        for key in list(data):
            # "watchlist" is both a rate and the list's path: a number is the rate.
            if key in rate_names and (key != "watchlist" or isinstance(data[key], int | float)):
                rates[key] = data.pop(key)
        known = {f.name for f in fields(cls)} - {"rates"}
        unknown = sorted(set(data) - known) + sorted(set(rates) - rate_names)
        if unknown:
            raise GeneratorConfigError(
                f"unknown generator setting(s) {', '.join(unknown)}; known: "
                f"{', '.join(sorted(known | rate_names))}"
            )
        if "start" in data and isinstance(data["start"], str):
            data["start"] = datetime.fromisoformat(data["start"].replace("Z", "+00:00"))
        if "start" in data and isinstance(data["start"], datetime) and data["start"].tzinfo is None:
            data["start"] = data["start"].replace(tzinfo=UTC)
        try:
            return cls(rates=RiskRates(**{k: float(v) for k, v in rates.items()}), **data)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, GeneratorConfigError):
                raise
            raise GeneratorConfigError(f"bad generator setting: {exc}") from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> GeneratorConfig:
        """Read a YAML file of generator settings (see :meth:`from_mapping`)."""
        p = Path(path)
        if not p.is_file():
            raise GeneratorConfigError(f"generator settings file {p} does not exist")
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise GeneratorConfigError(f"{p} must be a mapping of setting: value")
        return cls.from_mapping(data)
