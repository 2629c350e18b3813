"""Names of watchlisted parties as they show up on manifests: spelling variants of real
sanctions entries (transliteration, word order, legal-form changes, typos, dropped middle
names), taken from a watchlist file read by ``enrichers.watchlist.loaders``.

>>> rng = random.Random(1)
>>> name, how = name_variant("MOHAMMED ALI HASSAN", "person", rng)
>>> how in VARIANT_KINDS
True
"""

from __future__ import annotations

import random
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

from unidecode import unidecode

VARIANT_KINDS: tuple[str, ...] = (
    "exact",
    "transliteration",
    "word_order",
    "legal_form",
    "typo",
    "dropped_middle_name",
    "punctuation",
)

# Common romanisation alternatives of Arabic, Persian, Korean and Russian names.
_TRANSLIT: tuple[tuple[str, str], ...] = (
    ("MOHAMMED", "MUHAMMAD"), ("MUHAMMAD", "MOHAMED"), ("MOHAMMAD", "MUHAMMED"), ("MOHAMED", "MOHAMMED"),
    ("AHMED", "AHMAD"), ("AHMAD", "AHMED"), ("HUSSEIN", "HUSAYN"), ("HUSAYN", "HUSSAIN"), ("HUSSAIN", "HUSSEIN"),
    ("HASSAN", "HASAN"), ("HASAN", "HASSAN"), ("ABDUL ", "ABD AL-"), ("ABD AL-", "ABDUL "), ("ABDEL", "ABD EL"),
    ("YUSUF", "YOUSEF"), ("YOUSEF", "YUSUF"), ("OSAMA", "USAMA"), ("USAMA", "OSAMA"), ("QASIM", "KASSEM"),
    ("OMAR", "UMAR"), ("UMAR", "OMAR"), ("KHALID", "KHALED"), ("KHALED", "KHALID"), ("SAID", "SAEED"),
    ("SAYED", "SAYYID"), ("JAMAL", "GAMAL"), ("MAHMOUD", "MAHMUD"), ("MAHMUD", "MAHMOUD"), ("IBRAHIM", "EBRAHIM"),
    ("YAKUB", "YAQUB"), ("EVGENY", "YEVGENIY"), ("YEVGENIY", "EVGENIY"), ("ALEKSANDR", "ALEXANDER"),
    ("SERGEY", "SERGEI"), ("SERGEI", "SERGEY"), ("YURI", "YURIY"), ("DMITRY", "DMITRIY"), ("KIM ", "GIM "),
    ("CHOL", "CHUL"), ("CHUL", "CHOL"), ("JONG", "CHONG"), ("RI ", "LI "), ("PAK ", "PARK "), ("SONG", "SUNG"),
    ("KH", "H"), ("OU", "U"), ("EE", "I"), ("Q", "K"), ("J", "DJ"), ("SH", "CH"), ("Y", "I"), ("W", "V"),
)
# Legal forms as they are swapped on filings ("Co., Ltd." for "Company Limited").
_LEGAL_SWAPS: tuple[tuple[str, str], ...] = (
    ("COMPANY LIMITED", "CO., LTD."), ("CO., LTD.", "COMPANY LIMITED"), ("CO. LTD", "CO., LIMITED"),
    ("CORPORATION", "CORP."), ("CORP.", "CORPORATION"), ("LIMITED", "LTD"), ("LTD.", "LIMITED"),
    ("LTD", "LIMITED"), ("COMPANY", "CO."), ("CO.", "COMPANY"), ("INCORPORATED", "INC."),
    ("LLC", "L.L.C."), ("GROUP", "GRP"), ("TRADING", "TRADE"), ("INTERNATIONAL", "INT'L"),
)
_ADD_FORMS = ("LLC", "CO., LTD.", "LIMITED", "FZE", "TRADING LLC", "JSC")
_KEYBOARD = {
    "A": "QSZ", "B": "VNG", "C": "XVD", "D": "SFE", "E": "WRD", "F": "DGR", "G": "FHT", "H": "GJY",
    "I": "UOK", "J": "HKU", "K": "JLI", "L": "KO", "M": "NJ", "N": "BMH", "O": "IPL", "P": "OL",
    "Q": "WA", "R": "ETF", "S": "ADW", "T": "RYG", "U": "YIJ", "V": "CBF", "W": "QES", "X": "ZCS",
    "Y": "TUH", "Z": "XA",
}


@dataclass(frozen=True)
class ListedName:
    """One usable watchlist entry: its ids, primary name, kind and a country."""

    list_id: str
    entry_id: str
    name: str
    kind: str
    country: str | None

    @property
    def party_id(self) -> str:
        """A stable party identifier for this listed party across the run."""
        return f"{self.country or 'XX'}{zlib.crc32(f'{self.list_id}/{self.entry_id}'.encode()) % 10**12:012d}"


_LISTED: dict[tuple[str, float, str | None, str | None], list[ListedName]] = {}


def load_listed_names(path: str | Path, fmt: str | None = None, list_id: str | None = None) -> list[ListedName]:
    """Persons and organisations of a watchlist whose primary name is usable on a filing
    (at least two words, Latin script once transliterated). Cached per file version."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(
            f"watchlist {p} does not exist; pass --watchlist PATH (UN XML, OFAC CSV, EU, "
            f"FollowTheMoney or the plain list_id,entry_id,name,aliases,country,kind CSV)"
        )
    key = (str(p.resolve()), p.stat().st_mtime, fmt, list_id)
    cached = _LISTED.get(key)
    if cached is None:
        cached = _LISTED[key] = _read_listed_names(p, fmt, list_id)
    return list(cached)


def _read_listed_names(path: Path, fmt: str | None, list_id: str | None) -> list[ListedName]:
    from enrichers.watchlist.loaders import load_watchlist

    version = load_watchlist(path, fmt=fmt, list_id=list_id)
    out: list[ListedName] = []
    for entry in version.entries:
        if entry.kind not in ("person", "organization") or not entry.names:
            continue
        name = re.sub(r"\s+", " ", unidecode(entry.names[0].name)).strip()
        if len(name) < 6 or len(name.split()) < 2 or not re.search(r"[A-Za-z]{2}", name):
            continue
        country = entry.countries[0] if entry.countries else None
        out.append(ListedName(entry.list_id or version.list_id, entry.entry_id, name, entry.kind, country))
    out.sort(key=lambda n: (n.list_id, n.entry_id))
    return out


def _typo(name: str, rng: random.Random) -> str:
    words = name.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not candidates:
        return name + name[-1]
    i = rng.choice(candidates)
    w = words[i]
    pos = rng.randrange(1, len(w) - 1)
    op = rng.randrange(4)
    if op == 0:
        w = w[:pos] + w[pos + 1 :]
    elif op == 1:
        w = w[:pos] + w[pos + 1] + w[pos] + w[pos + 2 :]
    elif op == 2:
        ch = w[pos].upper()
        sub = rng.choice(_KEYBOARD.get(ch, "E"))
        w = w[:pos] + (sub if w[pos].isupper() else sub.lower()) + w[pos + 1 :]
    else:
        w = w[:pos] + w[pos] + w[pos:]
    words[i] = w
    return " ".join(words)


def _transliterate(name: str, rng: random.Random) -> str | None:
    upper = unidecode(name).upper()
    options = [(a, b) for a, b in _TRANSLIT if a in upper]
    if not options:
        return None
    a, b = rng.choice(options[:6])  # the specific name swaps come first in the table
    return upper.replace(a, b, 1)


def _legal_form(name: str, rng: random.Random) -> str:
    upper = name.upper()
    for a, b in _LEGAL_SWAPS:
        if re.search(rf"(^|\s){re.escape(a)}($|\s|,)", upper):
            if rng.random() < 0.3:
                return re.sub(rf"\s*,?\s*{re.escape(a)}\s*$", "", upper).strip() or upper
            return upper.replace(a, b, 1)
    return f"{upper} {rng.choice(_ADD_FORMS)}"


def name_variant(name: str, kind: str, rng: random.Random) -> tuple[str, str]:
    """A spelling of ``name`` as a filer might write it, and which kind of variant it is."""
    words = name.split()
    kinds = ["exact", "transliteration", "typo", "punctuation"]
    kinds += ["word_order", "dropped_middle_name"] if kind == "person" else ["legal_form", "legal_form"]
    how = rng.choice(kinds)
    variant: str | None = None
    if how == "transliteration":
        variant = _transliterate(name, rng)
    elif how == "word_order" and len(words) >= 2:
        variant = f"{words[-1]}, {' '.join(words[:-1])}" if rng.random() < 0.5 else " ".join([words[-1], *words[:-1]])
    elif how == "dropped_middle_name" and len(words) >= 3:
        variant = f"{words[0]} {words[-1]}"
    elif how == "legal_form":
        variant = _legal_form(name, rng)
    elif how == "punctuation":
        stripped = re.sub(r"[.,'\-()]", " ", name)
        variant = re.sub(r"\s+", " ", stripped).strip()
        if variant == name:
            variant = name.replace(" ", "-", 1) if " " in name else None
    elif how == "exact":
        variant = name
    if not variant or (variant.upper() == name.upper() and how != "exact"):
        how, variant = "typo", _typo(name, rng)
        while variant.upper() == name.upper():  # e.g. two equal letters swapped
            variant = _typo(name, rng)
    # Filers write in capitals or title case.
    if rng.random() < 0.5:
        variant = variant.title() if variant.isupper() else variant.upper()
    return variant, how
