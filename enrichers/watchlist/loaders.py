"""Read watchlists in their published layouts into :class:`WatchlistVersion` records.

Supported formats (``fmt``):

- ``ofac``: OFAC SDN legacy CSV: a directory holding ``sdn.csv`` (with ``alt.csv`` and
  ``add.csv`` beside it) or the ``sdn.csv`` path itself. No header, ``-0-`` is empty,
  CRLF line ends and a trailing 0x1A byte are tolerated.
- ``un``: the UN Security Council consolidated list XML.
- ``eu``: the EU Financial Sanctions Files export, XML (schema 1.1) or the
  semicolon-separated CSV layout (``Entity_LogicalId;...;NameAlias_WholeName;...``).
- ``ftm``: OpenSanctions FollowTheMoney entities as JSON lines, or ``targets.simple.csv``.
- ``csv``: the contract's plain CSV ``list_id,entry_id,name,aliases,country,kind``.

Every loader returns one list version: all entries of that list, normalised to
:class:`~schemas.model.WatchlistEntry` (names with PRIMARY/STRONG/WEAK strength, kind,
ISO alpha-2 countries, identifiers such as IMO numbers, programmes).

>>> v = load_watchlist("national.csv")  # doctest: +SKIP
>>> v.list_id, v.version, len(v.entries)  # doctest: +SKIP
('nl_national', 'sha256:1f2e...', 12)
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Literal

import msgspec

from schemas.model import EntryIdentifier, EntryName, WatchlistEntry

Format = Literal["ofac", "un", "eu", "ftm", "csv"]
FORMATS: tuple[str, ...] = ("ofac", "un", "eu", "ftm", "csv")
Kind = Literal["person", "organization", "vessel", "aircraft", "unknown"]
Strength = Literal["PRIMARY", "STRONG", "WEAK"]

#: List ids used when neither the caller nor the file names one.
DEFAULT_LIST_IDS: dict[str, str] = {
    "ofac": "us_ofac_sdn",
    "un": "un_sc_sanctions",
    "eu": "eu_fsf",
    "ftm": "opensanctions",
}


class WatchlistFormatError(ValueError):
    """A file that cannot be read as the watchlist format asked for (or detected)."""


class WatchlistVersion(msgspec.Struct, frozen=True):
    """One complete version of one list: what a worker indexes and what ``load`` publishes.

    ``version`` identifies the content: the publication date when the file carries one,
    always followed by a short content hash, e.g. ``2026-02-27/9f1c2a3b4d5e``.
    """

    list_id: str
    version: str
    entries: list[WatchlistEntry]
    fmt: str = ""
    source: str = ""


# ---------------------------------------------------------------------------------------
# Shared helpers


_COUNTRY_ALIASES = {
    "democratic republic of the congo": "CD",
    "congo, democratic republic of the": "CD",
    "republic of the congo": "CG",
    "iran (islamic republic of)": "IR",
    "iran": "IR",
    "syria": "SY",
    "syrian arab republic": "SY",
    "russia": "RU",
    "russian federation": "RU",
    "north korea": "KP",
    "korea, north": "KP",
    "democratic people's republic of korea": "KP",
    "south korea": "KR",
    "korea, south": "KR",
    "republic of korea": "KR",
    "burma": "MM",
    "turkey": "TR",
    "türkiye": "TR",
    "ivory coast": "CI",
    "cote d'ivoire": "CI",
    "côte d'ivoire": "CI",
    "palestinian": "PS",
    "palestine": "PS",
    "west bank": "PS",
    "gaza": "PS",
    "kosovo": "XK",
    "bolivia": "BO",
    "venezuela": "VE",
    "tanzania": "TZ",
    "united republic of tanzania": "TZ",
    "laos": "LA",
    "lao people's democratic republic": "LA",
    "moldova": "MD",
    "vietnam": "VN",
    "viet nam": "VN",
    "czech republic": "CZ",
    "macedonia": "MK",
    "the former yugoslav republic of macedonia": "MK",
    "united kingdom": "GB",
    "united kingdom of great britain and northern ireland": "GB",
    "united states": "US",
    "united states of america": "US",
    "sudan": "SD",
    "south sudan": "SS",
    "brunei": "BN",
    "cape verde": "CV",
    "swaziland": "SZ",
    "netherlands antilles": "AN",
    "region: gaza": "PS",
}


@lru_cache(maxsize=4096)
def country_code(value: str) -> str | None:
    """ISO 3166-1 alpha-2 code for a country name, code or nationality, or None.

    >>> country_code("Democratic Republic of the Congo"), country_code("af")
    ('CD', 'AF')
    """
    text = value.strip().strip(".").strip()
    if not text:
        return None
    low = text.lower()
    if low in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[low]
    import pycountry

    if len(text) == 2 and text.isalpha():
        found = pycountry.countries.get(alpha_2=text.upper())
        return found.alpha_2 if found else None
    try:
        return str(pycountry.countries.lookup(text).alpha_2)
    except LookupError:
        pass
    # "Iraq (as of 2010)" or "Sudan, Khartoum": the leading part is the country
    head = re.split(r"[(,;]", text, maxsplit=1)[0].strip()
    if head and head != text:
        return country_code(head)
    return None


def _countries(values: Iterable[str | None]) -> list[str]:
    out: list[str] = []
    for v in values:
        if not v:
            continue
        code = country_code(v)
        if code and code not in out:
            out.append(code)
    return out


def _clean(value: str | None) -> str:
    if value is None:
        return ""
    value = value.strip()
    return "" if value in ("-0-", "-0") else re.sub(r"\s+", " ", value)


def _names(pairs: Iterable[tuple[str, Strength]]) -> list[EntryName]:
    """Deduplicate names (case-insensitively), keeping the strongest strength seen first."""
    seen: dict[str, int] = {}
    out: list[EntryName] = []
    rank = {"PRIMARY": 0, "STRONG": 1, "WEAK": 2}
    for name, strength in pairs:
        name = _clean(name)
        if not name:
            continue
        key = name.casefold()
        if key in seen:
            i = seen[key]
            if rank[strength] < rank[out[i].strength]:
                out[i] = EntryName(out[i].name, strength)
            continue
        seen[key] = len(out)
        out.append(EntryName(name, strength))
    return out


def _hash_bytes(chunks: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for c in chunks:
        h.update(c)
    return h.hexdigest()[:12]


def _version(date: str | None, digest: str) -> str:
    return f"{date}/{digest}" if date else digest


_IMO_RE = re.compile(r"\bIMO[:\s#]*(\d{7})\b", re.IGNORECASE)
_IMO_ONLY_RE = re.compile(r"IMO[:\s#]*(\d{7})", re.IGNORECASE)


# ---------------------------------------------------------------------------------------
# Contract plain CSV


_CSV_KINDS = {"person", "organization", "vessel", "aircraft"}


def load_contract_csv(path: Path, list_id: str | None = None) -> WatchlistVersion:
    """The contract's national-list CSV: ``list_id,entry_id,name,aliases,country,kind``.

    ``aliases`` are separated by ``;``. A file holds one list; ``list_id`` overrides the
    column (and is required when the column holds several ids).
    """
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    need = {"list_id", "entry_id", "name", "aliases", "country", "kind"}
    if not reader.fieldnames or not need <= {f.strip() for f in reader.fieldnames}:
        raise WatchlistFormatError(
            f"{path}: expected header list_id,entry_id,name,aliases,country,kind, got {reader.fieldnames}"
        )
    entries: list[WatchlistEntry] = []
    ids_seen: set[str] = set()
    file_ids: set[str] = set()
    for lineno, row in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        if not row.get("entry_id") or not row.get("name"):
            raise WatchlistFormatError(f"{path}:{lineno}: entry_id and name are required")
        kind = row.get("kind", "").lower() or "unknown"
        if kind not in _CSV_KINDS and kind != "unknown":
            raise WatchlistFormatError(
                f"{path}:{lineno}: kind {kind!r} is not one of person, organization, vessel, aircraft"
            )
        if row["entry_id"] in ids_seen:
            raise WatchlistFormatError(f"{path}:{lineno}: duplicate entry_id {row['entry_id']!r}")
        ids_seen.add(row["entry_id"])
        file_ids.add(row.get("list_id", ""))
        # The plain CSV has no identifier column: an alias "IMO 1234567" is the vessel's IMO.
        aliases: list[str] = []
        identifiers: list[EntryIdentifier] = []
        for alias in (a.strip() for a in row.get("aliases", "").split(";")):
            m = _IMO_ONLY_RE.fullmatch(alias)
            if m:
                identifiers.append(EntryIdentifier("IMO", m.group(1)))
            elif alias:
                aliases.append(alias)
        entries.append(
            WatchlistEntry(
                list_id="",
                entry_id=row["entry_id"],
                kind=kind,  # type: ignore[arg-type]
                names=_names(
                    [(row["name"], "PRIMARY"), *((a, "STRONG") for a in aliases)]  # type: ignore[list-item]
                ),
                countries=_countries([row.get("country")]),
                identifiers=identifiers,
            )
        )
    if list_id is None:
        file_ids.discard("")
        if len(file_ids) != 1:
            raise WatchlistFormatError(
                f"{path}: the list_id column holds {sorted(file_ids) or 'nothing'}; "
                "pass list_id (--list-id) or split the file into one file per list"
            )
        list_id = file_ids.pop()
    version = _version(None, _hash_bytes([raw]))
    entries = [msgspec.structs.replace(e, list_id=list_id, list_version=version) for e in entries]
    return WatchlistVersion(list_id, version, entries, "csv", str(path))


# ---------------------------------------------------------------------------------------
# OFAC SDN legacy CSV


_OFAC_KINDS: dict[str, Kind] = {
    "individual": "person",
    "vessel": "vessel",
    "aircraft": "aircraft",
    "": "organization",
}
_REMARK_AKA = re.compile(r"\b(?:a\.k\.a\.|f\.k\.a\.|n\.k\.a\.)\s*'([^']+)'", re.IGNORECASE)
_REMARK_NATIONALITY = re.compile(r"\b(?:nationality|citizen)\s+([^;.]+)", re.IGNORECASE)
_REMARK_IDS = re.compile(
    r"(Registration ID|Tax ID No\.|Company Number|Passport|National ID No\.|"
    r"Aircraft Manufacturer's Serial Number \(MSN\)|SWIFT/BIC|Business Registration Document #)\s+"
    r"([A-Z0-9][A-Z0-9\-/ ]{2,30}?)(?=\s*\(|;|\.\s|\.$|$)"
)


def _ofac_rows(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    raw = path.read_bytes().rstrip(b"\x1a\r\n")
    text = raw.decode("utf-8", errors="replace")
    return [r for r in csv.reader(io.StringIO(text)) if r and r[0].strip() and r[0] != "\x1a"]


def ofac_person_name(name: str) -> str:
    """OFAC writes people as ``LAST, First``: return ``First LAST``.

    >>> ofac_person_name("BIN LADIN, Usama")
    'Usama BIN LADIN'
    """
    if "," in name:
        last, _, first = name.partition(",")
        if first.strip():
            return f"{first.strip()} {last.strip()}"
    return name


def load_ofac(path: Path, list_id: str | None = None) -> WatchlistVersion:
    """OFAC SDN legacy CSV set: ``sdn.csv`` with ``alt.csv`` and ``add.csv`` beside it."""
    sdn_path = path / "sdn.csv" if path.is_dir() else path
    folder = sdn_path.parent
    if not sdn_path.is_file():
        raise WatchlistFormatError(f"{path}: no sdn.csv found")
    alt_path, add_path = folder / "alt.csv", folder / "add.csv"
    aliases: dict[str, list[tuple[str, str]]] = {}
    for row in _ofac_rows(alt_path):
        if len(row) >= 4:
            aliases.setdefault(row[0].strip(), []).append((_clean(row[2]).lower(), _clean(row[3])))
    addresses: dict[str, list[str]] = {}
    for row in _ofac_rows(add_path):
        if len(row) >= 5:
            addresses.setdefault(row[0].strip(), []).append(_clean(row[4]))
    entries: list[WatchlistEntry] = []
    for row in _ofac_rows(sdn_path):
        if len(row) < 12:
            raise WatchlistFormatError(
                f"{sdn_path}: row {row[:2]} has {len(row)} columns, expected 12"
            )
        ent_num = row[0].strip()
        kind = _OFAC_KINDS.get(_clean(row[2]).lower(), "unknown")
        remarks = _clean(row[11])
        primary = _clean(row[1])
        flip = ofac_person_name if kind == "person" else (lambda s: s)
        pairs: list[tuple[str, Strength]] = [(flip(primary), "PRIMARY")]
        for _alt_type, alt_name in aliases.get(ent_num, []):
            pairs.append((flip(alt_name), "STRONG"))
        for weak in _REMARK_AKA.findall(remarks):
            pairs.append((flip(weak), "WEAK"))
        country_names = list(addresses.get(ent_num, []))
        country_names += _REMARK_NATIONALITY.findall(remarks)
        if kind == "vessel" and _clean(row[9]):
            country_names.append(_clean(row[9]))
        identifiers = [EntryIdentifier("IMO", m) for m in dict.fromkeys(_IMO_RE.findall(remarks))]
        if _clean(row[5]):
            identifiers.append(EntryIdentifier("CALL_SIGN", _clean(row[5])))
        for id_type, id_value in _REMARK_IDS.findall(remarks):
            identifiers.append(EntryIdentifier(id_type.rstrip(" #.").upper(), id_value.strip()))
        programmes = [
            p.strip(" []") for p in re.split(r"\]\s*\[|;", _clean(row[3])) if p.strip(" []")
        ]
        entries.append(
            WatchlistEntry(
                list_id="",
                entry_id=ent_num,
                kind=kind,
                names=_names(pairs),
                countries=_countries(country_names),
                identifiers=identifiers,
                programmes=programmes,
            )
        )
    digest = _hash_bytes(p.read_bytes() for p in (sdn_path, alt_path, add_path) if p.exists())
    return _finish(
        entries, list_id or DEFAULT_LIST_IDS["ofac"], _version(None, digest), "ofac", path
    )


def _finish(
    entries: list[WatchlistEntry], list_id: str, version: str, fmt: str, path: Path
) -> WatchlistVersion:
    seen: set[str] = set()
    out: list[WatchlistEntry] = []
    for e in entries:
        if e.entry_id in seen or not e.names:
            continue
        seen.add(e.entry_id)
        out.append(msgspec.structs.replace(e, list_id=list_id, list_version=version))
    return WatchlistVersion(list_id, version, out, fmt, str(path))


# ---------------------------------------------------------------------------------------
# UN consolidated XML


def _text(el: ET.Element | None, tag: str) -> str:
    if el is None:
        return ""
    child = el.find(tag)
    return _clean(child.text) if child is not None and child.text else ""


_UN_STRENGTH: dict[str, Strength] = {
    "good": "STRONG",
    "a.k.a.": "STRONG",
    "f.k.a.": "STRONG",
    "low": "WEAK",
}


def load_un(path: Path, list_id: str | None = None) -> WatchlistVersion:
    """The UN Security Council consolidated list XML (``CONSOLIDATED_LIST``)."""
    raw = path.read_bytes()
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise WatchlistFormatError(f"{path}: not well-formed XML ({exc})") from None
    if root.tag != "CONSOLIDATED_LIST":
        raise WatchlistFormatError(
            f"{path}: root element is {root.tag}, expected CONSOLIDATED_LIST"
        )
    entries: list[WatchlistEntry] = []
    for kind, tag in (("person", "INDIVIDUAL"), ("organization", "ENTITY")):
        for el in root.iter(tag):
            parts = [
                _text(el, t) for t in ("FIRST_NAME", "SECOND_NAME", "THIRD_NAME", "FOURTH_NAME")
            ]
            pairs: list[tuple[str, Strength]] = [(" ".join(p for p in parts if p), "PRIMARY")]
            original = _text(el, "NAME_ORIGINAL_SCRIPT")
            if original:
                pairs.append((original, "STRONG"))
            for alias in el.iter(f"{tag}_ALIAS"):
                name = _text(alias, "ALIAS_NAME")
                quality = _text(alias, "QUALITY").lower()
                if name:
                    pairs.append((name, _UN_STRENGTH.get(quality, "STRONG")))
            country_names: list[str] = []
            for sub in ("NATIONALITY", f"{tag}_ADDRESS", "CITIZENSHIP"):
                for node in el.iter(sub):
                    country_names += [_clean(v.text) for v in node.iter("VALUE") if v.text]
                    country_names.append(_text(node, "COUNTRY"))
            identifiers = []
            for doc in el.iter(f"{tag}_DOCUMENT"):
                number = _text(doc, "NUMBER")
                if number:
                    identifiers.append(
                        EntryIdentifier(
                            _text(doc, "TYPE_OF_DOCUMENT").upper() or "DOCUMENT", number
                        )
                    )
            identifiers += [
                EntryIdentifier("IMO", m) for m in _IMO_RE.findall(_text(el, "COMMENTS1"))
            ]
            programmes = [p for p in (_text(el, "UN_LIST_TYPE"),) if p]
            entry_id = _text(el, "REFERENCE_NUMBER") or _text(el, "DATAID")
            entries.append(
                WatchlistEntry(
                    list_id="",
                    entry_id=entry_id,
                    kind=kind,  # type: ignore[arg-type]
                    names=_names(pairs),
                    countries=_countries(country_names),
                    identifiers=identifiers,
                    programmes=programmes,
                )
            )
    date = (root.get("dateGenerated") or "")[:10] or None
    return _finish(
        entries, list_id or DEFAULT_LIST_IDS["un"], _version(date, _hash_bytes([raw])), "un", path
    )


# ---------------------------------------------------------------------------------------
# EU Financial Sanctions Files (XML schema 1.1 and the CSV layout)


EU_NS = "http://eu.europa.ec/fpi/fsd/export"
_EU_KINDS: dict[str, Kind] = {
    "P": "person",
    "E": "organization",
    "person": "person",
    "enterprise": "organization",
}


def _eu_kind(code: str) -> Kind:
    return _EU_KINDS.get(code, _EU_KINDS.get(code.lower(), "unknown"))


def _eu_identifier_type(code: str) -> str:
    code = code.strip().lower()
    if "imo" in code:
        return "IMO"
    return code.upper() or "ID"


def load_eu_xml(path: Path, list_id: str | None = None) -> WatchlistVersion:
    """EU Financial Sanctions Files full export, XML schema 1.1 (``export/sanctionEntity``)."""
    raw = path.read_bytes()
    root = ET.fromstring(raw)
    ns = {"e": EU_NS} if root.tag.startswith("{") else {"e": ""}
    q = (lambda t: f"e:{t}") if ns["e"] else (lambda t: t)
    if not root.tag.endswith("export"):
        raise WatchlistFormatError(f"{path}: root element is {root.tag}, expected EU FSF export")
    entries: list[WatchlistEntry] = []
    for se in root.findall(q("sanctionEntity"), ns):
        st = se.find(q("subjectType"), ns)
        kind = _eu_kind(st.get("classificationCode", "") if st is not None else "")
        pairs: list[tuple[str, Strength]] = []
        for na in se.findall(q("nameAlias"), ns):
            whole = na.get("wholeName") or " ".join(
                p for p in (na.get("firstName"), na.get("middleName"), na.get("lastName")) if p
            )
            strong = (na.get("strong") or "true").lower() == "true"
            pairs.append((whole, "PRIMARY" if not pairs else ("STRONG" if strong else "WEAK")))
        countries = []
        for tag in ("citizenship", "address", "birthdate"):
            countries += [c.get("countryIso2Code") for c in se.findall(q(tag), ns)]
        identifiers = []
        for ident in se.findall(q("identification"), ns):
            number = ident.get("number") or ident.get("latinNumber")
            if number:
                identifiers.append(
                    EntryIdentifier(
                        _eu_identifier_type(ident.get("identificationTypeCode", "")), number
                    )
                )
        reg = se.find(q("regulation"), ns)
        programmes = [reg.get("programme", "")] if reg is not None and reg.get("programme") else []
        entries.append(
            WatchlistEntry(
                list_id="",
                entry_id=se.get("euReferenceNumber") or se.get("logicalId") or "",
                kind=kind,
                names=_names(pairs),
                countries=_countries(c for c in countries if c and c != "00"),
                identifiers=identifiers,
                programmes=programmes,
            )
        )
    date = (root.get("generationDate") or "")[:10] or None
    return _finish(
        entries, list_id or DEFAULT_LIST_IDS["eu"], _version(date, _hash_bytes([raw])), "eu", path
    )


def load_eu_csv(path: Path, list_id: str | None = None) -> WatchlistVersion:
    """EU Financial Sanctions Files CSV layout: ``;``-separated, one row per sub-record
    (name alias, citizenship, address, identification...), grouped by ``Entity_LogicalId``."""
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig", errors="replace")
    reader = csv.DictReader(io.StringIO(text), delimiter=";")
    if not reader.fieldnames or "Entity_LogicalId" not in reader.fieldnames:
        raise WatchlistFormatError(
            f"{path}: no Entity_LogicalId column (not the EU FSF CSV layout)"
        )
    grouped: dict[str, list[dict[str, str]]] = {}
    for row in reader:
        lid = (row.get("Entity_LogicalId") or "").strip()
        if lid:
            grouped.setdefault(lid, []).append({k: (v or "").strip() for k, v in row.items() if k})
    entries: list[WatchlistEntry] = []
    date = None
    for lid, rows in grouped.items():
        first = rows[0]
        date = date or first.get("fileGenerationDate") or first.get("Date_file") or None
        pairs: list[tuple[str, Strength]] = []
        alias_ids: set[str] = set()
        countries: list[str] = []
        identifiers: list[EntryIdentifier] = []
        id_seen: set[tuple[str, str]] = set()
        for row in rows:
            alias_id = row.get("NameAlias_LogicalId", "")
            whole = row.get("NameAlias_WholeName") or " ".join(
                p
                for p in (
                    row.get("NameAlias_FirstName"),
                    row.get("NameAlias_MiddleName"),
                    row.get("NameAlias_LastName"),
                )
                if p
            )
            if whole and (alias_id or whole) not in alias_ids:
                alias_ids.add(alias_id or whole)
                strong = (row.get("NameAlias_Strong") or "true").lower() not in ("false", "0", "no")
                pairs.append((whole, "PRIMARY" if not pairs else ("STRONG" if strong else "WEAK")))
            for col in (
                "Citizenship_CountryIso2Code",
                "Address_CountryIso2Code",
                "BirthDate_CountryIso2Code",
            ):
                if row.get(col) and row[col] != "00":
                    countries.append(row[col])
            number = row.get("Identification_Number") or row.get("Identification_LatinNumber")
            if number:
                key = (_eu_identifier_type(row.get("Identification_TypeCode", "")), number)
                if key not in id_seen:
                    id_seen.add(key)
                    identifiers.append(EntryIdentifier(*key))
        programme = first.get("Entity_Regulation_Programme") or first.get("Regulation_Programme")
        entries.append(
            WatchlistEntry(
                list_id="",
                entry_id=first.get("Entity_EU_ReferenceNumber") or lid,
                kind=_eu_kind(
                    first.get("Entity_SubjectType_ClassificationCode")
                    or first.get("Entity_SubjectType", "")
                ),
                names=_names(pairs),
                countries=_countries(countries),
                identifiers=identifiers,
                programmes=[programme] if programme else [],
            )
        )
    return _finish(
        entries,
        list_id or DEFAULT_LIST_IDS["eu"],
        _version((date or "")[:10] or None, _hash_bytes([raw])),
        "eu",
        path,
    )


# ---------------------------------------------------------------------------------------
# OpenSanctions: FollowTheMoney JSON lines and targets.simple.csv


_FTM_KINDS: dict[str, Kind] = {
    "Person": "person",
    "Organization": "organization",
    "Company": "organization",
    "LegalEntity": "organization",
    "PublicBody": "organization",
    "Vessel": "vessel",
    "Airplane": "aircraft",
}
_FTM_ID_PROPS = {
    "imoNumber": "IMO",
    "registrationNumber": "REGISTRATION",
    "taxNumber": "TAX",
    "innCode": "INN",
    "ogrnCode": "OGRN",
    "leiCode": "LEI",
    "swiftBic": "SWIFT",
    "passportNumber": "PASSPORT",
    "idNumber": "ID",
    "mmsi": "MMSI",
    "callSign": "CALL_SIGN",
    "registrationNumber_aircraft": "REGISTRATION",
}


def _ftm_entry(obj: dict) -> WatchlistEntry | None:
    kind = _FTM_KINDS.get(obj.get("schema", ""))
    if kind is None:
        return None
    props: dict[str, list[str]] = obj.get("properties") or {}
    pairs: list[tuple[str, Strength]] = []
    names = props.get("name") or []
    pairs += [(n, "PRIMARY" if i == 0 else "STRONG") for i, n in enumerate(names)]
    for prop in ("alias", "previousName"):
        pairs += [(n, "STRONG") for n in props.get(prop, [])]
    pairs += [(n, "WEAK") for n in props.get("weakAlias", [])]
    if not pairs and obj.get("caption"):
        pairs.append((obj["caption"], "PRIMARY"))
    countries = []
    for prop in ("country", "nationality", "citizenship", "jurisdiction", "flag", "mainCountry"):
        countries += props.get(prop, [])
    identifiers = [
        EntryIdentifier(label, str(v))
        for prop, label in _FTM_ID_PROPS.items()
        for v in props.get(prop, [])
    ]
    topics = props.get("topics", [])
    programmes = props.get("programId", []) + props.get("program", [])
    return WatchlistEntry(
        list_id="",
        entry_id=str(obj.get("id", "")),
        kind=kind,
        names=_names(pairs),
        countries=_countries(countries),
        identifiers=identifiers,
        programmes=programmes or list(obj.get("datasets") or []),
        sanctions=("sanction" in topics) if topics else True,
    )


def load_ftm_json(path: Path, list_id: str | None = None) -> WatchlistVersion:
    """FollowTheMoney entities, one JSON object per line (OpenSanctions ``entities.ftm.json``).
    Only target schemata (people, organisations, companies, vessels, aircraft) become entries."""
    raw = path.read_bytes()
    entries: list[WatchlistEntry] = []
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise WatchlistFormatError(f"{path}:{lineno}: not JSON ({exc.msg})") from None
        if obj.get("target") is False:
            continue
        entry = _ftm_entry(obj)
        if entry is not None and entry.entry_id:
            entries.append(entry)
    return _finish(
        entries, list_id or DEFAULT_LIST_IDS["ftm"], _version(None, _hash_bytes([raw])), "ftm", path
    )


def _split_multi(value: str) -> list[str]:
    return [v.strip() for v in value.split(";") if v.strip()]


def load_ftm_simple_csv(path: Path, list_id: str | None = None) -> WatchlistVersion:
    """OpenSanctions ``targets.simple.csv``: ``id,schema,name,aliases,birth_date,countries,
    addresses,identifiers,sanctions,phones,emails,dataset,first_seen,last_seen,last_change``;
    multiple values are ``;``-separated."""
    raw = path.read_bytes()
    reader = csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
    if not reader.fieldnames or not {"id", "schema", "name"} <= set(reader.fieldnames):
        raise WatchlistFormatError(f"{path}: expected targets.simple.csv header id,schema,name,...")
    entries: list[WatchlistEntry] = []
    for row in reader:
        kind = _FTM_KINDS.get(row.get("schema", ""))
        if kind is None:
            continue
        pairs: list[tuple[str, Strength]] = [(row.get("name", ""), "PRIMARY")]
        pairs += [(a, "STRONG") for a in _split_multi(row.get("aliases", ""))]
        identifiers = []
        for ident in _split_multi(row.get("identifiers", "")):
            identifiers.append(
                EntryIdentifier(
                    "IMO" if re.fullmatch(r"(IMO)?\s*\d{7}", ident) and kind == "vessel" else "ID",
                    re.sub(r"^IMO\s*", "", ident),
                )
            )
        entries.append(
            WatchlistEntry(
                list_id="",
                entry_id=row["id"],
                kind=kind,
                names=_names(pairs),
                countries=_countries(_split_multi(row.get("countries", ""))),
                identifiers=identifiers,
                programmes=_split_multi(row.get("sanctions", ""))[:5],
                sanctions=bool(row.get("sanctions", "").strip()) or True,
            )
        )
    return _finish(
        entries, list_id or DEFAULT_LIST_IDS["ftm"], _version(None, _hash_bytes([raw])), "ftm", path
    )


# ---------------------------------------------------------------------------------------
# Detection and the one entry point


def detect_format(path: Path) -> str:
    """Guess the list format from the file (or directory) contents.

    >>> detect_format(Path("sanctions/ofac_full_2021"))  # doctest: +SKIP
    'ofac'
    """
    if path.is_dir():
        if (path / "sdn.csv").is_file():
            return "ofac"
        raise WatchlistFormatError(f"{path}: a directory without sdn.csv; pass a file or --format")
    with path.open("rb") as fh:
        head = fh.read(4096)
    text = head.decode("utf-8-sig", errors="replace").lstrip()
    if text.startswith("<"):
        if "CONSOLIDATED_LIST" in text:
            return "un"
        if EU_NS in text or "sanctionEntity" in text or "<export" in text:
            return "eu"
        raise WatchlistFormatError(f"{path}: XML that is neither the UN nor the EU list")
    if text.startswith("{"):
        return "ftm"
    first_line = text.splitlines()[0] if text else ""
    if "Entity_LogicalId" in first_line:
        return "eu"
    header = [c.strip().strip('"') for c in first_line.split(",")]
    if header[:2] == ["list_id", "entry_id"] or {"list_id", "entry_id", "name"} <= set(header):
        return "csv"
    if header[:3] == ["id", "schema", "name"]:
        return "ftm"
    if header and header[0].isdigit() and len(header) >= 12:
        return "ofac"
    raise WatchlistFormatError(
        f"{path}: cannot tell the list format from its contents; pass fmt (--format) one of {', '.join(FORMATS)}"
    )


def load_watchlist(
    path: str | Path, fmt: str | None = None, list_id: str | None = None
) -> WatchlistVersion:
    """Load one list version from ``path`` in format ``fmt`` (detected when None).

    ``list_id`` names the list (defaults: the CSV's list_id column, else
    ``us_ofac_sdn``, ``un_sc_sanctions``, ``eu_fsf``, ``opensanctions``).

    >>> v = load_watchlist("../shared/data/sanctions/un/UN_consolidated_2026-02-27.xml")  # doctest: +SKIP
    >>> v.list_id, len(v.entries)  # doctest: +SKIP
    ('un_sc_sanctions', 1003)
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"watchlist {p} does not exist")
    fmt = (fmt or detect_format(p)).lower()
    if fmt == "csv":
        return load_contract_csv(p, list_id)
    if fmt == "ofac":
        return load_ofac(p, list_id)
    if fmt == "un":
        return load_un(p, list_id)
    if fmt == "eu":
        return load_eu_xml(p, list_id) if _is_xml(p) else load_eu_csv(p, list_id)
    if fmt == "ftm":
        return load_ftm_json(p, list_id) if _is_jsonl(p) else load_ftm_simple_csv(p, list_id)
    raise WatchlistFormatError(f"unknown watchlist format {fmt!r}; use one of {', '.join(FORMATS)}")


def _head(p: Path) -> str:
    with p.open("rb") as fh:
        return fh.read(512).decode("utf-8-sig", errors="replace").lstrip()


def _is_xml(p: Path) -> bool:
    return _head(p).startswith("<")


def _is_jsonl(p: Path) -> bool:
    return _head(p).startswith("{")


def iter_names(version: WatchlistVersion) -> Iterator[tuple[WatchlistEntry, EntryName]]:
    """Every (entry, name) pair of a list version, primary names first."""
    for entry in version.entries:
        for name in entry.names:
            yield entry, name
