"""Reference data read from the reference-data directory (``CARGOWATCH_REFDATA``).

Layout (the official file layouts, as ``cargowatch refdata fetch`` writes them)::

    hs/harmonized-system.csv           section,hscode,description,parent,level (HS 2022)
    unlocode/*.csv                     UNECE code list (no header, 12 columns) and/or
                                       a headed list with country,location,...,function
    currency/iso4217_codes-all.csv     Entity,Currency,AlphabeticCode,NumericCode,MinorUnit,WithdrawalDate

Countries are ISO 3166-1 alpha-2 from pycountry, plus the UN/LOCODE country list when present.

>>> ref = ReferenceData.load("../shared/data")  # doctest: +SKIP
>>> ref.is_hs_subheading("851712")  # doctest: +SKIP
True
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pycountry


class RefDataError(FileNotFoundError):
    """The reference-data directory lacks a file the pipeline needs."""


@dataclass(frozen=True)
class Port:
    locode: str
    country: str
    name: str
    functions: str  # UNECE function string, e.g. "1-3-----": 1 = sea port, 4 = airport

    @property
    def is_seaport(self) -> bool:
        return "1" in self.functions[:1]

    @property
    def is_airport(self) -> bool:
        return len(self.functions) > 3 and self.functions[3] == "4"

    @property
    def is_rail(self) -> bool:
        return len(self.functions) > 1 and self.functions[1] == "2"

    @property
    def is_road(self) -> bool:
        return len(self.functions) > 2 and self.functions[2] == "3"


@dataclass
class ReferenceData:
    """Lookups the validation, generation and scoring stages need."""

    directory: Path
    hs_descriptions: dict[str, str] = field(default_factory=dict)  # 2, 4 and 6 digit codes
    hs_sections: dict[str, str] = field(default_factory=dict)  # code -> section roman numeral
    ports: dict[str, Port] = field(default_factory=dict)
    currencies: frozenset[str] = frozenset()
    countries: frozenset[str] = frozenset()

    @property
    def hs_subheadings(self) -> list[str]:
        return [c for c in self.hs_descriptions if len(c) == 6]

    def is_hs_subheading(self, code: str) -> bool:
        return len(code) >= 6 and code[:6] in self.hs_descriptions

    def is_locode(self, code: str) -> bool:
        return code in self.ports

    def is_country(self, code: str) -> bool:
        return code in self.countries

    def is_currency(self, code: str) -> bool:
        return code in self.currencies

    @classmethod
    def load(cls, directory: str | Path) -> ReferenceData:
        """Load (and cache per directory) the reference data; raises RefDataError with the
        missing file and the command that fetches it."""
        return _load(str(Path(directory).resolve()))


def _require(path: Path) -> Path:
    if not path.exists():
        raise RefDataError(
            f"reference data file {path} is missing; point CARGOWATCH_REFDATA at a directory "
            f"that has it, or run `cargowatch refdata fetch` to download the official sources"
        )
    return path


def _read_hs(directory: Path) -> tuple[dict[str, str], dict[str, str]]:
    descriptions: dict[str, str] = {}
    sections: dict[str, str] = {}
    with _require(directory / "hs" / "harmonized-system.csv").open(encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            code = row["hscode"]
            # Comtrade adds 99/9999/999999 "not specified according to kind" under a TOTAL
            # section: a statistical code, not an HS subheading a filer may declare.
            if row.get("section") == "TOTAL":
                continue
            if code.isdigit() and len(code) in (2, 4, 6):
                descriptions[code] = row["description"]
                if row.get("section"):
                    sections[code] = row["section"]
    return descriptions, sections


def _read_ports(directory: Path) -> dict[str, Port]:
    ports: dict[str, Port] = {}
    folder = _require(directory / "unlocode")
    files = sorted(p for p in folder.glob("*.csv") if "code-list" in p.name or "geoapify" in p.name)
    if not files:
        raise RefDataError(f"no UN/LOCODE code list (*code-list*.csv) in {folder}")
    for path in files:
        with path.open(encoding="utf-8", errors="replace", newline="") as fh:
            reader = csv.reader(fh)
            first = next(reader, None)
            if first is None:
                continue
            if first and first[0].lower() == "country":  # headed layout
                header = [h.lower() for h in first]
                ci, li = header.index("country"), header.index("location")
                ni = header.index("namewodiacritics") if "namewodiacritics" in header else header.index("name")
                fi = header.index("function")
                rows = ((r[ci], r[li], r[ni], r[fi]) for r in reader if len(r) > fi)
            else:  # UNECE layout: Change, Country, Location, Name, NameWoDiacritics, Sub, Function, ...
                def unece(rows):
                    for r in rows:
                        if len(r) > 6 and r[2]:
                            yield r[1], r[2], r[4] or r[3], r[6]

                rows = unece([first, *reader])
            for country, location, name, function in rows:
                if len(country) == 2 and len(location) == 3:
                    code = country + location
                    # Later files (newer editions) win.
                    ports[code] = Port(code, country, name, function)
    return ports


def _read_currencies(directory: Path) -> frozenset[str]:
    codes = set()
    with _require(directory / "currency" / "iso4217_codes-all.csv").open(encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            code = (row.get("AlphabeticCode") or "").strip()
            if len(code) == 3 and not (row.get("WithdrawalDate") or "").strip():
                codes.add(code)
    return frozenset(codes)


def _read_countries(directory: Path) -> frozenset[str]:
    codes = {c.alpha_2 for c in pycountry.countries}
    listed = directory / "unlocode" / "unlocode_country-codes.csv"
    if listed.exists():
        with listed.open(encoding="utf-8-sig") as fh:
            for row in csv.DictReader(fh):
                code = (row.get("CountryCode") or "").strip()
                if len(code) == 2 and code.isalpha() and code.isupper():
                    codes.add(code)
    return frozenset(codes)


@lru_cache(maxsize=4)
def _load(directory: str) -> ReferenceData:
    d = Path(directory)
    if not d.is_dir():
        raise RefDataError(
            f"reference-data directory {d} does not exist; set CARGOWATCH_REFDATA "
            f"or run `cargowatch refdata fetch --into {d}`"
        )
    descriptions, sections = _read_hs(d)
    return ReferenceData(
        directory=d,
        hs_descriptions=descriptions,
        hs_sections=sections,
        ports=_read_ports(d),
        currencies=_read_currencies(d),
        countries=_read_countries(d),
    )
