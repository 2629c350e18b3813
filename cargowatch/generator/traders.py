"""The traders behind generated traffic: importers (consignees) in the EU and their
foreign suppliers (consignors), with multilingual names and addresses.

Faker is slow per call, so each country gets a small pool of name parts, streets and
postcodes built once from its Faker locale (seeded), and traders are composed from those
parts. Cities are real UN/LOCODE places of the country. Importers are drawn Zipf-like,
so a few returning traders carry most manifests, each with stable ``trader_id``, usual
HS chapters and usual lanes (supplier, mode, ports).
"""

from __future__ import annotations

import copy
import random
import re
from bisect import bisect
from dataclasses import dataclass, field
from itertools import accumulate

from faker import Faker
from unidecode import unidecode

from cargowatch.generator import draws
from cargowatch.generator.tables import WorldTables
from enrichers.refdata import ReferenceData

# Locales whose Faker addresses fall back to US patterns ("Suite 690", "...bury").
_US_LEAK = re.compile(r"Suite|Burgs?\b|bury\b|Mountains?\b|Estates?\b|Village\b|Cove\b|Keys\b|Crossing\b|\bStreet\b")
_NON_LATIN = re.compile(r"[^\x00-\u024f\u1e00-\u1eff]")
# A company name that already ends in a legal form (so none is appended).
_LEGAL_TAIL = re.compile(
    r"(?:\b(?:GmbH|AG|KG|KGaA|OHG|GbR|mbH|SE|SA|SAS|SARL|SpA|Inc|LLC|Ltd|PLC|LLP|Group|Sons|AB|AS|ASA|Oy|"
    r"SCA|SRL|SNC|Srl|ZAO|OAO|OOO|PAO|AO|Kft|Zrt|Nyrt|Lda|Ltda|NV|BV|Tbk|JSC|Corp|Corporation|Company|Limited)\.?"
    r"|(?:\b[A-Za-zŞş]{1,4}\.){2,5}\w?\.?|Şti\.?|A/S|S/A|e\.V\.|s\.c\.|& Co\.?|»|有限公司|株式会社|\)|주식회사)$"
)


@dataclass(frozen=True)
class Trader:
    """A company (or person) that appears as a party, with a stable identifier."""

    trader_id: str
    name: str
    country: str
    street: str
    city: str
    postcode: str | None
    aeo_certificate: str | None = None
    chapters: tuple[str, ...] = ()

    def address(self) -> dict[str, str | None]:
        return {"street": self.street, "city": self.city, "postcode": self.postcode, "country": self.country}

    def register_row(self) -> dict[str, str | None]:
        """The trader as a row of the trader register (contract §4)."""
        return {
            "trader_id": self.trader_id,
            "name": self.name,
            "country": self.country,
            "aeo_certificate": self.aeo_certificate,
            "aeo_valid_until": "2029-12-31" if self.aeo_certificate else None,
        }


@dataclass(frozen=True)
class Lane:
    """A usual shipment of one consignee: from which supplier, how, and which goods."""

    supplier: Trader
    mode: str
    chapters: tuple[str, ...]


@dataclass
class Consignee:
    trader: Trader
    lanes: list[Lane] = field(default_factory=list)


_FAKERS: dict[str, Faker] = {}


def _faker(locale: str) -> Faker:
    """One Faker per locale per process: building one costs ~0.1 s (provider discovery);
    callers reseed it, so sharing does not change what they draw."""
    fake = _FAKERS.get(locale)
    if fake is None:
        try:
            fake = Faker(locale)
        except AttributeError:
            fake = _faker("en_US") if locale != "en_US" else Faker("en_US")
        _FAKERS[locale] = fake
    return fake


_ODD = re.compile(r"[^\w' .-]")


def _latin(text: str) -> str:
    """Latin transliteration without the stray marks unidecode leaves (quotes, brackets)."""
    return re.sub(r"\s+", " ", _ODD.sub("", unidecode(text))).strip()


class _CountryParts:
    """Name and address parts of one country, drawn once from its Faker locale.

    ``streets`` are Faker's (local script where the locale has one); ``latin_streets``
    are what a filing in Latin script carries: from the world table's template for the
    country, else Faker's transliterated."""

    def __init__(
        self,
        country: str,
        locale: str,
        seed: int,
        cities: list[str],
        street_format: str | None = None,
        roads: tuple[str, ...] = (),
        latin_names: tuple[str, ...] = (),
        size: int = 40,
    ) -> None:
        fake = _faker(locale)
        fake.seed_instance(seed)
        self.country = country
        self.companies = [fake.company() for _ in range(size)]
        self.surnames = [fake.last_name() for _ in range(size)]
        romanized = getattr(fake, "last_romanized_name", None)  # ja_JP: Tanaka, not Tian Zhong
        self.latin_surnames = [romanized() for _ in range(size)] if callable(romanized) else [
            _latin(n) for n in self.surnames
        ]
        self.latin_surnames = list(latin_names) or [n for n in self.latin_surnames if n] or ["Lee"]
        self.people = [fake.name() for _ in range(size // 2)]
        streets = [fake.street_address().replace("\n", ", ") for _ in range(size)]
        us_leak = sum(bool(_US_LEAK.search(s)) for s in streets) > size // 4
        if us_leak:
            street_format = street_format or "{name} Street {n}"
        rnd = random.Random(seed)
        if street_format:
            latin = [
                street_format.format(
                    name=rnd.choice(self.latin_surnames), road=rnd.choice(roads) if roads else "",
                    n=rnd.randint(1, 480), m=rnd.randint(1, 40), k=rnd.randint(1, 12),
                ).strip()
                for _ in range(size)
            ]
        else:
            latin = [_latin(s) for s in streets]
        self.latin_streets = latin
        self.streets = streets if any(_NON_LATIN.search(s) for s in streets) and not us_leak else latin
        self.postcodes = [fake.postcode() for _ in range(size)]
        self.cities = cities or [fake.city() for _ in range(size)]
        self.native = any(_NON_LATIN.search(c) for c in self.companies[:10] + self.surnames[:10])


_PARTS: dict[tuple[str, str, tuple[str, ...], str | None, tuple[str, ...], tuple[str, ...]], _CountryParts] = {}


def _country_parts(
    country: str,
    locale: str,
    cities: tuple[str, ...],
    street_format: str | None = None,
    roads: tuple[str, ...] = (),
    latin_names: tuple[str, ...] = (),
) -> _CountryParts:
    """Name parts of a country, seeded by the country alone and built once per process:
    Faker is the slow part of building a pool, and the run's seed already decides how
    the parts are combined."""
    key = (country, locale, cities, street_format, roads, latin_names)
    parts = _PARTS.get(key)
    if parts is None:
        seed = sum(ord(c) * 31**i for i, c in enumerate(country or "generic")) % 2**32
        parts = _PARTS[key] = _CountryParts(country, locale, seed, list(cities), street_format, roads, latin_names)
    return parts


def _cities_by_country(ref: ReferenceData) -> dict[str, list[str]]:
    """Real places of each country (UN/LOCODE names without airport/port suffixes)."""
    key = str(ref.directory)
    cached = _CITIES.get(key)
    if cached is None or cached[0] is not ref:
        cached = _CITIES[key] = (ref, _read_cities(ref))
    return cached[1]


_CITIES: dict[str, tuple[ReferenceData, dict[str, list[str]]]] = {}


def _read_cities(ref: ReferenceData) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for port in ref.ports.values():
        name = port.name
        if (
            not name
            or name != name.strip()
            or '"' in name
            or "?" in name
            or "\ufffd" in name
            or re.search(r"\b(Apt|Pt|Port|Railway|Terminal|Station|International|Airport|Bonded)\b", name)
        ):
            continue
        if port.functions[:4].strip("-"):  # a place with some transport function
            out.setdefault(port.country, []).append(name.split(" (")[0])
    for names in out.values():
        names.sort()
    return out


class TraderFactory:
    """Composes traders of any country from per-country parts (seeded, deterministic)."""

    def __init__(self, ref: ReferenceData, tables: WorldTables, seed: int, native_script_share: float) -> None:
        self.tables = tables
        self.seed = seed
        self.native_script_share = native_script_share
        self._cities = _cities_by_country(ref)
        self._parts: dict[str, _CountryParts] = {}
        self._locales = {c: s.locale for c, s in {**tables.origins, **tables.destinations}.items()}
        self._locales[""] = "en_US"
        self._big_cities = {
            country: [ref.ports[code].name.split(" (")[0] for codes in lanes.ports.values() for code in codes
                      if not re.search(r"\b(Apt|Pt)\b", ref.ports[code].name)]
            for country, lanes in {**tables.origins, **tables.destinations}.items()
        }
        self._serial = 0

    def parts(self, country: str) -> _CountryParts:
        parts = self._parts.get(country)
        if parts is None:
            cities = self._cities.get(country, [])
            locale = self._locales.get(country)
            if locale is None:
                # Countries outside the lanes (e.g. a listed party's) share one generic
                # pool of name parts, with their own real cities.
                generic = self.parts("")
                parts = copy.copy(generic)
                parts.country, parts.cities = country, cities or generic.cities
            else:
                spec = self.tables.streets.get(country) or {}
                parts = _country_parts(
                    country, locale, tuple(cities), spec.get("format"), tuple(spec.get("roads") or ()),
                    tuple(self.tables.latin_names.get(country, ())),
                )
            self._parts[country] = parts
        return parts

    def next_id(self, country: str, rng: random.Random) -> str:
        """An EORI-style identifier: country code and 12 digits, unique per factory."""
        self._serial += 1
        return f"{country}{draws.randrange(rng, 10**11, 10**12)}{self._serial % 10}"

    def company_name(
        self, country: str, chapters: tuple[str, ...], rng: random.Random, native: bool | None = None
    ) -> str:
        parts = self.parts(country)
        forms = self.tables.legal_forms.get(country, ("Ltd.",))
        industry = self.tables.industry_words.get(chapters[0] if chapters else "", ("Trading",))
        if native is None:
            native = parts.native and rng.random() < self.native_script_share
        if native:
            company = draws.choice(rng, parts.companies)
            if _NON_LATIN.search(company) and not re.search(r"[A-Za-z]{2}", company):
                return company
        if parts.native:
            # Latin-script trading names as these firms file them: city, stem, trade, form.
            stem = draws.choice(rng, parts.latin_surnames).title()
            city = self._city(country, rng, big=True)
            return f"{city} {stem} {draws.choice(rng, industry)} {draws.choice(rng, forms)}"
        r = rng.random()
        if r < 0.45:
            name = draws.choice(rng, parts.companies)
            if not _LEGAL_TAIL.search(name):
                name = f"{name} {draws.choice(rng, forms)}"
            return name
        if r < 0.85:
            return f"{draws.choice(rng, parts.surnames)} {draws.choice(rng, industry)} {draws.choice(rng, forms)}"
        return f"{draws.choice(rng, parts.surnames)} & {draws.choice(rng, parts.surnames)} {draws.choice(rng, forms)}"

    def _city(self, country: str, rng: random.Random, big: bool = False) -> str:
        big_cities = self._big_cities.get(country)
        if big_cities and (big or rng.random() < 0.5):
            return draws.choice(rng, big_cities)
        return draws.choice(rng, self.parts(country).cities)

    def trader(
        self,
        country: str,
        chapters: tuple[str, ...],
        rng: random.Random,
        aeo: bool = False,
        trader_id: str | None = None,
        name: str | None = None,
    ) -> Trader:
        parts = self.parts(country)
        native = parts.native and name is None and rng.random() < self.native_script_share
        street = draws.choice(rng, parts.streets if native else parts.latin_streets)
        tid = trader_id or self.next_id(country, rng)
        postcode = draws.choice(rng, parts.postcodes) if rng.random() < 0.9 else None
        return Trader(
            trader_id=tid,
            name=name or self.company_name(country, chapters, rng, native),
            country=country,
            street=street,
            city=self._city(country, rng),
            postcode=postcode if native else unidecode(postcode) if postcode else None,
            aeo_certificate=f"{country}AEOF{tid[-7:]}" if aeo else None,
            chapters=chapters,
        )

    def person_name(self, country: str, rng: random.Random) -> str:
        parts = self.parts(country)
        name = draws.choice(rng, parts.people)
        return name if parts.native and rng.random() < self.native_script_share else unidecode(name)


class TraderPool:
    """Importers with their suppliers and usual lanes; Zipf-like draw of the importer.

    ``draw(rng, aeo=...)`` returns a consignee: rank ``r`` is drawn with weight
    ``1 / r**s``, separately among AEO-certified and other importers, so the share of
    trusted traders is exactly what the caller asks for.
    """

    def __init__(
        self,
        factory: TraderFactory,
        tables: WorldTables,
        rng: random.Random,
        n_consignees: int,
        n_suppliers: int,
        zipf_exponent: float,
        aeo_share: float,
    ) -> None:
        self.factory = factory
        self.tables = tables
        origins = [o for o in tables.origins.values() if o.chapters and o.modes()]
        dests = [d for d in tables.destinations.values() if d.modes()]
        # Suppliers per origin country, in proportion to its share of trade.
        total = sum(o.share for o in origins)
        self.suppliers: dict[str, list[Trader]] = {}
        for origin in origins:
            k = max(3, round(n_suppliers * origin.share / total))
            self.suppliers[origin.country] = [
                factory.trader(origin.country, tuple(rng.sample(origin.chapters, min(2, len(origin.chapters)))), rng)
                for _ in range(k)
            ]
        self._origin_codes = [o.country for o in origins]
        self._origin_cum = list(accumulate(o.share for o in origins))
        dest_codes = [d.country for d in dests]
        dest_cum = list(accumulate(d.share for d in dests))
        self.consignees: list[Consignee] = []
        n_aeo = round(n_consignees * aeo_share)
        for i in range(n_consignees):
            country = dest_codes[bisect(dest_cum, rng.random() * dest_cum[-1])]
            lanes = [self._lane(country, rng) for _ in range(draws.choice(rng, (1, 1, 2, 2, 3, 4)))]
            chapters = tuple(dict.fromkeys(c for lane in lanes for c in lane.chapters))
            trader = factory.trader(country, chapters, rng, aeo=i < n_aeo)
            self.consignees.append(Consignee(trader, lanes))
        # Interleave ranks so AEO status does not follow volume rank.
        rng.shuffle(self.consignees)
        self.by_country: dict[str, list[Consignee]] = {}
        for c in self.consignees:
            self.by_country.setdefault(c.trader.country, []).append(c)
        self.aeo = [c for c in self.consignees if c.trader.aeo_certificate]
        self.regular = [c for c in self.consignees if not c.trader.aeo_certificate]
        self._aeo_cum = list(accumulate(1.0 / (r + 1) ** zipf_exponent for r in range(len(self.aeo))))
        self._reg_cum = list(accumulate(1.0 / (r + 1) ** zipf_exponent for r in range(len(self.regular))))
        self._dest_codes, self._dest_cum = dest_codes, dest_cum

    def _mode_for(self, origin: str, dest: str, chapters: tuple[str, ...], rng: random.Random) -> str | None:
        """A mode both ends serve, weighted by the chapters' usual modes; None if none."""
        o, d = self.tables.origins[origin], self.tables.destinations[dest]
        common = [m for m in ("SEA", "AIR", "ROAD", "RAIL") if o.ports.get(m) and d.ports.get(m)]
        if not common:
            return None
        weights = dict.fromkeys(common, 0.01)
        for chapter in chapters:
            for mode, w in self.tables.chapters[chapter].modes.items():
                if mode in weights:
                    weights[mode] += w
        cum = list(accumulate(weights[m] for m in common))
        return common[bisect(cum, rng.random() * cum[-1])]

    def _lane(self, dest: str, rng: random.Random) -> Lane:
        """A supplier from a country weighted by its trade share, and a mode that fits."""
        while True:
            origin = self._origin_codes[bisect(self._origin_cum, rng.random() * self._origin_cum[-1])]
            supplier = draws.choice(rng, self.suppliers[origin])
            mode = self._mode_for(origin, dest, supplier.chapters, rng)
            if mode:
                return Lane(supplier, mode, supplier.chapters)

    def draw(self, rng: random.Random, aeo: bool) -> Consignee:
        pool, cum = (self.aeo, self._aeo_cum) if aeo and self.aeo else (self.regular, self._reg_cum)
        return pool[bisect(cum, rng.random() * cum[-1])]

    def new_consignee(self, rng: random.Random) -> Consignee:
        """A trader never seen before, with one lane like any other importer's."""
        country = self._dest_codes[bisect(self._dest_cum, rng.random() * self._dest_cum[-1])]
        lane = self._lane(country, rng)
        return Consignee(self.factory.trader(country, lane.chapters, rng), [lane])

    def register(self) -> list[dict[str, str | None]]:
        """Every pooled trader as trader-register rows (importers, then suppliers)."""
        rows = [c.trader.register_row() for c in self.consignees]
        for country in sorted(self.suppliers):
            rows.extend(s.register_row() for s in self.suppliers[country])
        return rows
