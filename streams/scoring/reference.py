"""The analyst configuration the rules consult, loaded once and held as polars tables.

Files (defaults under ``cargowatch/defaults/``, each documented inline):

- ``dual_use.yaml``: strategic / dual-use HS prefixes with a category and a note
- ``country_risk.yaml``: embargoed, high-risk and transshipment-hub countries, a weight per class
- ``keyword_profiles.yaml``: words that fit each HS chapter (for DESCRIPTION_MISMATCH)
- ``value_benchmarks.csv``: median and MAD of log USD value per kg per HS subheading and
  origin, per subheading, and per chapter (computed by :mod:`streams.scoring.benchmarks`)

>>> reference = ScoringReference.load(Settings.load(), ReferenceData.load(settings.refdata))  # doctest: +SKIP
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import msgspec
import polars as pl
import yaml

from cargowatch.settings import DEFAULTS_DIR
from enrichers.refdata import ReferenceData


class ReferenceConfigError(ValueError):
    """An analyst configuration file that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class ScoringPaths:
    """Where the scoring reference files are; every one defaults to the shipped file."""

    dual_use: Path = DEFAULTS_DIR / "dual_use.yaml"
    country_risk: Path = DEFAULTS_DIR / "country_risk.yaml"
    keyword_profiles: Path = DEFAULTS_DIR / "keyword_profiles.yaml"
    value_benchmarks: Path = DEFAULTS_DIR / "value_benchmarks.csv"


class DualUseEntry(msgspec.Struct, forbid_unknown_fields=True):
    prefix: str
    category: str
    note: str = ""
    level: Literal["controlled", "watch"] = "controlled"


class DualUseFile(msgspec.Struct, forbid_unknown_fields=True):
    version: str
    entries: list[DualUseEntry]


class CountryClass(msgspec.Struct, forbid_unknown_fields=True):
    weight: float
    countries: list[str]
    note: str = ""


class CountryRiskFile(msgspec.Struct, forbid_unknown_fields=True):
    version: str
    classes: dict[str, CountryClass]


class KeywordProfilesFile(msgspec.Struct, forbid_unknown_fields=True):
    version: str
    chapters: dict[str, list[str]]
    hs_descriptions: bool = False  # add the words of the HS nomenclature texts
    max_chapters_per_word: int = 4  # HS words in more chapters than this are dropped
    stop_words: list[str] = msgspec.field(default_factory=list)


BENCHMARK_SCHEMA = {
    "level": pl.Utf8,  # "hs6_origin" | "hs6" | "chapter"
    "hs": pl.Utf8,
    "origin": pl.Utf8,
    "n": pl.Int64,
    "median_log_vpk": pl.Float64,
    "mad_log_vpk": pl.Float64,
}

_WORD = re.compile(r"[a-z]+")


def normalise_word(word: str) -> str:
    """Crude singular form so 'pumps' matches 'pump' (the profiles list singular words)."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def singular(word: pl.Expr) -> pl.Expr:
    """:func:`normalise_word` as a polars expression (same rules)."""
    n = word.str.len_chars()
    return (
        pl.when((n > 4) & word.str.ends_with("ies"))
        .then(pl.concat_str(word.str.slice(0, n - 3), pl.lit("y")))
        .when((n > 3) & word.str.ends_with("s") & ~word.str.ends_with("ss"))
        .then(word.str.slice(0, n - 1))
        .otherwise(word)
    )


def _read_yaml(path: Path, kind: type, what: str) -> Any:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReferenceConfigError(f"{what} {path}: cannot read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ReferenceConfigError(f"{what} {path}: not valid YAML: {exc}") from None
    if isinstance(data, dict) and "version" in data:
        data["version"] = str(data["version"])
    try:
        return msgspec.convert(data, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise ReferenceConfigError(f"{what} {path}: {exc}") from None


@dataclass
class ScoringReference:
    """Everything the rules look up, as tables ready to join."""

    ref: ReferenceData | None
    dual_use: pl.DataFrame  # prefix, category, note
    country_risk: pl.DataFrame  # country, risk_class, class_weight
    keywords: pl.DataFrame  # word, kw_chapter, distinctive, w
    benchmarks: pl.DataFrame  # BENCHMARK_SCHEMA
    versions: dict[str, str] = field(default_factory=dict)
    dual_use_pattern: str = ""  # ^(longest|...|shortest) over the prefixes
    profiled_chapters: frozenset[str] = frozenset()
    hubs: frozenset[str] = frozenset()
    # per-rule caches of derived tables and verdicts (see `cache`); rebuilt with the reference
    _caches: dict[tuple, dict] = field(default_factory=dict, repr=False)

    def cache(self, name: str, params: tuple, max_entries: int = 500_000) -> dict:
        """A memo for one rule and its parameters: derived tables, or verdicts on values
        that repeat across batches (goods descriptions). Emptied when it grows too big."""
        memo = self._caches.setdefault((name, params), {})
        if len(memo) > max_entries:
            memo.clear()
        return memo

    @classmethod
    def load(cls, source: Any = None, ref: ReferenceData | None = None) -> ScoringReference:
        """Load from a :class:`ScoringPaths`, a mapping of the same keys, or Settings /
        None (the shipped defaults)."""
        if isinstance(source, ScoringPaths):
            paths = source
        elif isinstance(source, dict):
            paths = ScoringPaths(**{k: Path(v) for k, v in source.items() if v is not None})
        else:
            paths = ScoringPaths()
        du = _read_yaml(paths.dual_use, DualUseFile, "dual-use list")
        cr = _read_yaml(paths.country_risk, CountryRiskFile, "country risk list")
        kp = _read_yaml(paths.keyword_profiles, KeywordProfilesFile, "keyword profiles")
        benchmarks = load_benchmarks(paths.value_benchmarks)
        return cls.build(du, cr, kp, benchmarks, ref)

    @classmethod
    def build(
        cls,
        dual_use: DualUseFile,
        country_risk: CountryRiskFile,
        keyword_profiles: KeywordProfilesFile,
        benchmarks: pl.DataFrame,
        ref: ReferenceData | None = None,
    ) -> ScoringReference:
        for e in dual_use.entries:
            if not (e.prefix.isdigit() and 2 <= len(e.prefix) <= 10):
                raise ReferenceConfigError(f"dual-use prefix {e.prefix!r} must be 2-10 digits")
        du = pl.DataFrame(
            {
                "prefix": [e.prefix for e in dual_use.entries],
                "category": [e.category for e in dual_use.entries],
                "note": [e.note for e in dual_use.entries],
                "level": [e.level for e in dual_use.entries],
            },
            schema={"prefix": pl.Utf8, "category": pl.Utf8, "note": pl.Utf8, "level": pl.Utf8},
        ).unique("prefix", keep="first")
        prefixes = sorted(du["prefix"].to_list(), key=len, reverse=True)
        pattern = "^(" + "|".join(prefixes) + ")" if prefixes else ""
        rows: dict[str, tuple[str, float]] = {}
        for name, cls_ in country_risk.classes.items():
            for c in cls_.countries:
                if not (len(c) == 2 and c.isalpha() and c.isupper()):
                    raise ReferenceConfigError(f"country risk class {name}: {c!r} is not an ISO alpha-2 code")
                # a country in two classes keeps the heavier one
                if c not in rows or rows[c][1] < cls_.weight:
                    rows[c] = (name, cls_.weight)
        cr = pl.DataFrame(
            {
                "country": list(rows),
                "risk_class": [v[0] for v in rows.values()],
                "class_weight": [v[1] for v in rows.values()],
            },
            schema={"country": pl.Utf8, "risk_class": pl.Utf8, "class_weight": pl.Float64},
        )
        hubs = frozenset(
            c for name, k in country_risk.classes.items() if "hub" in name for c in k.countries
        )
        stop = {normalise_word(w.lower()) for w in keyword_profiles.stop_words}
        words: list[str] = []
        chapters: list[str] = []
        distinctive: list[bool] = []
        for chapter, kws in keyword_profiles.chapters.items():
            ch = str(chapter).zfill(2)
            for w in kws:
                for token in _WORD.findall(w.lower()):
                    words.append(normalise_word(token))
                    chapters.append(ch)
                    distinctive.append(True)
        profiled = {str(c).zfill(2) for c in keyword_profiles.chapters}
        if keyword_profiles.hs_descriptions and ref is not None:
            by_word: dict[str, set[str]] = {}
            for code, text in ref.hs_descriptions.items():
                for token in _WORD.findall(text.lower()):
                    if len(token) >= 3:
                        by_word.setdefault(normalise_word(token), set()).add(code[:2])
            for word, chs in by_word.items():
                if word in stop:
                    continue
                # every word of its own HS texts lets a description fit its chapter; only
                # words of few chapters point to another chapter
                common = len(chs) > keyword_profiles.max_chapters_per_word
                for ch in chs:
                    words.append(word)
                    chapters.append(ch)
                    distinctive.append(not common)
                    profiled.add(ch)
        kw = (
            pl.DataFrame(
                {"word": words, "kw_chapter": chapters, "distinctive": distinctive},
                schema={"word": pl.Utf8, "kw_chapter": pl.Utf8, "distinctive": pl.Boolean},
            )
            .filter(~pl.col("word").is_in(sorted(stop)))
            .group_by("word", "kw_chapter")
            .agg(pl.col("distinctive").any())
            # weight of a word for a chapter: 1 / number of chapters it belongs to
            .with_columns((1.0 / pl.len().over("word")).alias("w"))
        )
        return cls(
            ref=ref,
            dual_use=du,
            country_risk=cr,
            keywords=kw,
            benchmarks=benchmarks,
            versions={
                "dual_use": dual_use.version,
                "country_risk": country_risk.version,
                "keyword_profiles": keyword_profiles.version,
            },
            dual_use_pattern=pattern,
            profiled_chapters=frozenset(profiled),
            hubs=hubs,
        )


def load_benchmarks(path: Path) -> pl.DataFrame:
    """Read value benchmarks (CSV or Parquet); an absent file gives an empty table (the
    UNDERVALUATION rule then stays silent rather than guessing)."""
    if not path.exists():
        return pl.DataFrame(schema=BENCHMARK_SCHEMA)
    try:
        if path.suffix == ".parquet":
            df = pl.read_parquet(path)
        else:
            df = pl.read_csv(path, schema_overrides=BENCHMARK_SCHEMA)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a config error here
        raise ReferenceConfigError(f"value benchmarks {path}: cannot read ({exc})") from None
    missing = set(BENCHMARK_SCHEMA) - set(df.columns)
    if missing:
        raise ReferenceConfigError(f"value benchmarks {path}: missing columns {sorted(missing)}")
    return df.select([pl.col(c).cast(t) for c, t in BENCHMARK_SCHEMA.items()])
