"""The analyst-editable validation configuration (``cargowatch/defaults/stopwords.yaml``).

>>> config = ValidationConfig.load()
>>> config.quantities.weight_tolerance_pct
5.0
>>> config.is_vague_description("Said to contain: general cargo")
True
>>> config.is_placeholder_name("N/A")
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import yaml

from schemas.validation.text import PhraseMatcher, normalise

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "cargowatch" / "defaults" / "stopwords.yaml"


class ValidationConfigError(ValueError):
    """The validation configuration file cannot be used; the message says which key and why."""


@dataclass(frozen=True)
class QuantityTolerance:
    """How far declared totals may be from the sum of the goods lines.

    Weight: ``|sum(lines) - total| <= max(weight_tolerance_kg, weight_tolerance_pct% of sum(lines))``.
    Packages: ``|sum(lines) - total| <= packages_tolerance`` (0 = exact).
    """

    weight_tolerance_pct: float = 5.0
    weight_tolerance_kg: float = 1.0
    packages_tolerance: int = 0


@dataclass(frozen=True)
class DateLimits:
    """Plausibility bounds for the manifest's timestamps, relative to the caller's ``now``."""

    max_future_filing_hours: float = 1.0
    earliest_year: int = 2000
    max_days_ahead: float = 400.0


@dataclass(frozen=True)
class RecordLimits:
    """Structural bounds on one record; beyond them the record is rejected with SCHEMA."""

    max_record_bytes: int = 10 * 1024 * 1024
    max_goods_lines: int = 999
    max_parties: int = 99
    max_containers: int = 9999
    max_ports: int = 99
    max_text_chars: int = 4096
    max_id_chars: int = 64
    max_errors: int = 500


@dataclass(frozen=True)
class ValidationConfig:
    """Stop phrases, placeholders, tolerances and limits the validation rules use.

    Build it with :meth:`load` (from YAML) or directly in tests; matchers are compiled
    once per instance.
    """

    vague_placeholders: tuple[str, ...] = ()
    vague_generic_terms: tuple[str, ...] = ()
    trivial_words: tuple[str, ...] = ()
    placeholder_names: tuple[str, ...] = ()
    name_filler_words: tuple[str, ...] = ()
    non_invoicing_currencies: frozenset[str] = frozenset()
    quantities: QuantityTolerance = field(default_factory=QuantityTolerance)
    dates: DateLimits = field(default_factory=DateLimits)
    limits: RecordLimits = field(default_factory=RecordLimits)
    required_party_roles: tuple[str, ...] = ("CONSIGNOR", "CONSIGNEE")
    house_master_number: bool = True
    version: str = ""
    source: str = ""

    @classmethod
    def load(cls, path: str | Path | None = None) -> ValidationConfig:
        """Read the YAML file (default: the shipped ``stopwords.yaml``).

        Raises ValidationConfigError naming the file and the key that is wrong.
        """
        p = Path(path) if path else DEFAULT_PATH
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValidationConfigError(
                f"validation config {p} does not exist; set CARGOWATCH_STOPWORDS to a copy of "
                f"{DEFAULT_PATH}"
            ) from None
        except yaml.YAMLError as exc:
            raise ValidationConfigError(f"validation config {p} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ValidationConfigError(f"validation config {p} must be a YAML mapping")
        return cls.from_mapping(data, source=str(p))

    @classmethod
    def from_mapping(cls, data: dict[str, Any], source: str = "<mapping>") -> ValidationConfig:
        """Build from the YAML structure (see ``stopwords.yaml`` for the keys)."""

        def section(name: str) -> dict[str, Any]:
            value = data.get(name) or {}
            if not isinstance(value, dict):
                raise ValidationConfigError(f"{source}: `{name}` must be a mapping")
            return value

        def strings(value: Any, key: str) -> tuple[str, ...]:
            if value is None:
                return ()
            if isinstance(value, dict):  # phrases grouped by language
                return tuple(s for v in value.values() for s in strings(v, key))
            if not isinstance(value, list):
                raise ValidationConfigError(f"{source}: `{key}` must be a list of strings")
            for s in value:
                if not isinstance(s, str | int):
                    raise ValidationConfigError(
                        f"{source}: `{key}` has {s!r}, not a string; quote it (e.g. \"null\")"
                    )
            return tuple(str(s) for s in value)

        def numbers(sec: dict[str, Any], name: str, kind: type, defaults: Any) -> Any:
            values = {}
            for key, value in sec.items():
                if not hasattr(defaults, key):
                    raise ValidationConfigError(f"{source}: unknown key `{name}.{key}`")
                default = getattr(defaults, key)
                try:
                    values[key] = type(default)(value)
                except (TypeError, ValueError):
                    raise ValidationConfigError(
                        f"{source}: `{name}.{key}` must be a number, got {value!r}"
                    ) from None
            return kind(**values)

        known = {
            "": {"version", "vague_descriptions", "placeholder_party_names", "currency", "quantities",
                 "dates", "required", "limits"},
            "vague_descriptions": {"placeholders", "generic_terms", "trivial_words"},
            "placeholder_party_names": {"phrases", "filler_words"},
            "currency": {"not_for_invoicing"},
            "required": {"party_roles", "house_master_number"},
        }
        for name, keys in known.items():
            given = data if not name else section(name)
            for key in given:
                if key not in keys:
                    where = f"{name}.{key}" if name else key
                    raise ValidationConfigError(
                        f"{source}: unknown key `{where}`; known keys here: {', '.join(sorted(keys))}"
                    )
        vague = section("vague_descriptions")
        names = section("placeholder_party_names")
        required = section("required")
        currency = section("currency")
        return cls(
            vague_placeholders=strings(vague.get("placeholders"), "vague_descriptions.placeholders"),
            vague_generic_terms=strings(vague.get("generic_terms"), "vague_descriptions.generic_terms"),
            trivial_words=strings(vague.get("trivial_words"), "vague_descriptions.trivial_words"),
            placeholder_names=strings(names.get("phrases"), "placeholder_party_names.phrases"),
            name_filler_words=strings(names.get("filler_words"), "placeholder_party_names.filler_words"),
            non_invoicing_currencies=frozenset(
                strings(currency.get("not_for_invoicing"), "currency.not_for_invoicing")
            ),
            quantities=numbers(section("quantities"), "quantities", QuantityTolerance, QuantityTolerance()),
            dates=numbers(section("dates"), "dates", DateLimits, DateLimits()),
            limits=numbers(section("limits"), "limits", RecordLimits, RecordLimits()),
            required_party_roles=strings(required.get("party_roles", ["CONSIGNOR", "CONSIGNEE"]), "required.party_roles"),
            house_master_number=bool(required.get("house_master_number", True)),
            version=str(data.get("version", "")),
            source=source,
        )

    @cached_property
    def description_matcher(self) -> PhraseMatcher:
        """Stop phrases for goods descriptions (trivial words dropped before matching)."""
        return PhraseMatcher(self.vague_placeholders, self.trivial_words, generic=self.vague_generic_terms)

    @cached_property
    def name_matcher(self) -> PhraseMatcher:
        """Placeholder phrases for party names (filler words dropped before matching)."""
        return PhraseMatcher(self.placeholder_names, self.name_filler_words)

    def is_vague_description(self, description: str) -> bool:
        """True when the description is only placeholders, at most one generic term,
        numbers and trivial words (the rule is spelled out in ``stopwords.yaml``).

        >>> c = ValidationConfig.load()
        >>> c.is_vague_description("FAK"), c.is_vague_description("automotive parts for brake systems")
        (True, False)
        """
        return self.description_matcher.covers_text(description)

    def is_placeholder_name(self, name: str) -> bool:
        """True for a party name that names nobody ("unknown", "n/a", "-", "same as consignee").

        A name without any letter or digit is a placeholder; a blank name is not (that is
        REQUIRED, reported by the rules).
        """
        if not self.name_matcher.covers_text(name):
            return False
        if not normalise(name):
            return bool(name.strip())
        # "3M", "7-Eleven": a name with a digit in it is a real name, not a placeholder.
        return not any(c.isdigit() for c in name)


@lru_cache(maxsize=1)
def default_config() -> ValidationConfig:
    """The shipped configuration, read once per process."""
    return ValidationConfig.load()
