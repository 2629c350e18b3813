"""Goods lines: real HS 2022 subheadings, descriptions, weights, values and currencies.

Descriptions are what a shipper writes: a product word for the heading when the goods
table has one, followed by the subheading's own HS text ("Cotton T-shirts - T-shirts,
singlets and other vests; of cotton, knitted or crocheted"), so they are specific and
fit the declared chapter. A mismatched description (planted DESCRIPTION_MISMATCH) is
the description of a subheading from another HS section.
"""

from __future__ import annotations

import random
import re
from bisect import bisect
from itertools import accumulate

from cargowatch.generator import draws
from cargowatch.generator.tables import ChapterProfile, WorldTables
from enrichers.refdata import ReferenceData

#: Units of currency per US dollar: a fixed table so that output is reproducible.
USD_RATES: dict[str, float] = {
    "USD": 1.0, "EUR": 0.92, "CNY": 7.2, "GBP": 0.79, "JPY": 150.0, "CHF": 0.88,
    "KRW": 1350.0, "INR": 83.0, "TRY": 32.0, "HKD": 7.8, "TWD": 32.0, "SEK": 10.5,
    "DKK": 6.9, "PLN": 4.0, "CZK": 23.0, "HUF": 360.0, "RON": 4.6, "NOK": 10.7,
    "BRL": 5.0, "MXN": 17.0, "CAD": 1.36, "AED": 3.67, "ZAR": 18.5, "VND": 25000.0,
    "THB": 36.0, "MYR": 4.7, "IDR": 15800.0, "BDT": 110.0, "PKR": 280.0, "ILS": 3.7,
    "EGP": 48.0, "MAD": 10.0, "ARS": 900.0, "CLP": 950.0, "RSD": 108.0, "UAH": 40.0,
    "KZT": 450.0,
}
#: Currencies without minor units in ISO 4217 (amounts are whole numbers).
NO_DECIMALS = frozenset({"JPY", "KRW", "VND", "IDR", "CLP", "HUF"})
#: The local currency of each origin country; invoices are mostly in USD or EUR.
LOCAL_CURRENCY: dict[str, str] = {
    "CN": "CNY", "HK": "HKD", "TW": "TWD", "KR": "KRW", "JP": "JPY", "VN": "VND", "TH": "THB",
    "MY": "MYR", "ID": "IDR", "IN": "INR", "BD": "BDT", "PK": "PKR", "TR": "TRY", "AE": "AED",
    "IL": "ILS", "EG": "EGP", "MA": "MAD", "ZA": "ZAR", "US": "USD", "CA": "CAD", "MX": "MXN",
    "BR": "BRL", "AR": "ARS", "CL": "CLP", "GB": "GBP", "CH": "CHF", "NO": "NOK", "RS": "RSD",
    "UA": "UAH", "KZ": "KZT",
}
# Profile for strategic goods whose chapter has no ordinary-traffic profile.
_STRATEGIC_PROFILE = ChapterProfile(
    chapter="XX", share=0.0, usd_per_kg=(40.0, 400.0), kg_per_package=(10.0, 300.0),
    packages=("CS", "CR", "DR"), modes={"SEA": 0.6, "AIR": 0.4}, words={}, subheadings=(),
)
_MAX_TEXT = 110


def _shorten(text: str) -> str:
    """HS text cut at a clause boundary so a description stays readable."""
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= _MAX_TEXT:
        return text
    cut = max(text.rfind(",", 0, _MAX_TEXT), text.rfind(";", 0, _MAX_TEXT))
    return text[:cut] if cut > 30 else text[:_MAX_TEXT].rsplit(" ", 1)[0]


class GoodsCatalogue:
    """Draws goods for a chapter and prices them."""

    def __init__(self, ref: ReferenceData, tables: WorldTables) -> None:
        self.ref = ref
        self.tables = tables
        self.chapters = tables.chapters
        self._chapter_list = list(self.chapters)
        self._chapter_cum = list(accumulate(self.chapters[c].share for c in self._chapter_list))
        self._text: dict[str, str] = {}
        self._headings = tables.heading_profiles
        self._sections = ref.hs_sections
        self.currencies = sorted(c for c in USD_RATES if c in ref.currencies)

    # -- HS codes ---------------------------------------------------------------
    def random_chapter(self, rng: random.Random) -> str:
        return self._chapter_list[bisect(self._chapter_cum, rng.random() * self._chapter_cum[-1])]

    def subheading(self, chapter: str, rng: random.Random) -> str:
        return draws.choice(rng, self.chapters[chapter].subheadings)

    def strategic_subheading(self, rng: random.Random) -> str:
        return draws.choice(rng, self.tables.dual_use_subheadings)

    def profile(self, code: str) -> ChapterProfile:
        """The goods profile of a code: its heading's exception, else its chapter's."""
        return self._headings.get(code[:4]) or self.chapters.get(code[:2], _STRATEGIC_PROFILE)

    def extend_code(self, code: str, rng: random.Random) -> str:
        """Most filings give 6 digits; some add national digits (CN 8, TARIC 10)."""
        r = rng.random()
        if r < 0.7:
            return code
        if r < 0.9:
            return code + f"{draws.randrange(rng, 0, 10) * 10:02d}"
        return code + f"{draws.randrange(rng, 0, 10) * 10:02d}00"

    # -- descriptions -----------------------------------------------------------
    def hs_text(self, code: str) -> str:
        """The HS text of a 4- or 6-digit code, shortened at a clause boundary."""
        code = code[:6]
        text = self._text.get(code)
        if text is None:
            text = self._text[code] = _shorten(self.ref.hs_descriptions[code])
        return text

    def description(self, code: str, rng: random.Random) -> str:
        """A specific, chapter-fitting goods description for a subheading."""
        heading = code[:4]
        words = self.tables.dual_use_words.get(heading) or self.profile(code).words.get(heading)
        if words and rng.random() < 0.8:
            # The product word names the heading's goods, so it is paired with the
            # heading's text: a subheading's text could contradict it.
            word = draws.choice(rng, words)
            text = f"{word[0].upper()}{word[1:]} - {self.hs_text(heading)}"
        else:
            text = self.hs_text(code)
            if " " not in text:  # a one-word subheading ("Mate"): say which chapter
                text = f"{text} - {self.hs_text(code[:2])}"
        if rng.random() < 0.2:  # many shippers file in capitals
            text = text.upper()
        return text

    def mismatched_description(self, code: str, rng: random.Random) -> tuple[str, str]:
        """A description of goods from another HS section; returns (description, its code)."""
        section = self._sections.get(code[:6]) or self._sections.get(code[:2])
        for _ in range(50):
            chapter = self.random_chapter(rng)
            other = self.subheading(chapter, rng)
            if (self._sections.get(other) or self._sections.get(chapter)) != section:
                return self.description(other, rng), other
        raise RuntimeError("no HS subheading outside the declared section")  # pragma: no cover

    # -- packing and value ------------------------------------------------------
    def package_type(self, code: str, rng: random.Random) -> str:
        return draws.choice(rng, self.profile(code).packages)

    def pack(self, code: str, package_type: str, kg: float, rng: random.Random) -> tuple[int, float]:
        """Packages holding about ``kg`` of these goods, and what they then weigh: a line
        weighs what its packages weigh (a car is a tonne or more, never 10 kg)."""
        lo, hi = self.profile(code).kg_per_package
        cap = self.tables.package_max_kg.get(package_type, hi)
        per = min(rng.uniform(lo, hi), cap * 0.95)
        packages = max(1, round(kg / per))
        return packages, round(max(packages * per, 0.5), 1)

    def heavy(self, code: str) -> bool:
        """Goods too heavy per package to fly (vehicles, machines in crates)."""
        return self.profile(code).kg_per_package[0] > 300

    def unit_value_usd(self, code: str, rng: random.Random) -> float:
        lo, hi = self.profile(code).usd_per_kg
        # Log-uniform: as many cheap as dear lines across a wide range.
        return lo * (hi / lo) ** rng.random()

    def currency_for(self, origin: str, rng: random.Random) -> str:
        r = rng.random()
        if r < 0.55:
            return "USD"
        if r < 0.85:
            return "EUR"
        local = LOCAL_CURRENCY.get(origin, "USD")
        return local if local in self.ref.currencies else "USD"

    @staticmethod
    def amount(usd: float, currency: str) -> float:
        value = usd * USD_RATES.get(currency, 1.0)
        return float(round(value)) if currency in NO_DECIMALS else round(value, 2)

    def un_number(self, code: str) -> str | None:
        return self.tables.un_numbers.get(code[:4])
