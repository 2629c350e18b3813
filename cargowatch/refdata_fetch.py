"""Download the official public reference data into a reference-data directory, in the
layout :mod:`enrichers.refdata` reads (``cargowatch refdata fetch``).

=====================  ===================================================  ==================================
source                 default URL                                          written to
=====================  ===================================================  ==================================
``hs``                 datasets/harmonized-system ``harmonized-system.csv``  ``hs/harmonized-system.csv``
``hs_sections``        datasets/harmonized-system ``sections.csv``           ``hs/hs_sections.csv``
``unlocode``           UNECE UN/LOCODE CSV zip (``loc<edition>csv.zip``)     ``unlocode/unlocode_code-list_<edition>_unece.csv``
``unlocode_countries`` datasets/un-locode ``country-codes.csv``              ``unlocode/unlocode_country-codes.csv``
``currency``           datasets/currency-codes ``codes-all.csv`` (or the     ``currency/iso4217_codes-all.csv``
                       SIX ISO 4217 List One XML, converted)
=====================  ===================================================  ==================================

Every file is checked (header, row count) before it replaces the old one, written to a
temporary file beside its target and renamed into place, so a failed or interrupted
fetch leaves the previous reference data intact. A ``fetch-manifest.json`` records URL,
SHA-256 and row count of what was fetched. URLs are configurable one by one
(``sources``) or all at once with a mirror that serves the same file names.

>>> results = fetch("/tmp/refdata", sources={"hs": "http://127.0.0.1:8000/harmonized-system.csv"}, only=["hs"])  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

DEFAULT_SOURCES: dict[str, str] = {
    "hs": "https://raw.githubusercontent.com/datasets/harmonized-system/main/data/harmonized-system.csv",
    "hs_sections": "https://raw.githubusercontent.com/datasets/harmonized-system/main/data/sections.csv",
    "unlocode": "https://service.unece.org/trade/locode/loc242csv.zip",
    "unlocode_countries": "https://raw.githubusercontent.com/datasets/un-locode/main/data/country-codes.csv",
    "currency": "https://raw.githubusercontent.com/datasets/currency-codes/main/data/codes-all.csv",
}
#: Sources ``ReferenceData.load`` cannot do without; the others are fetched when reachable.
REQUIRED_SOURCES = ("hs", "unlocode", "currency")

ProgressHook = Callable[[str, int, int | None], None]  # (source, bytes so far, total or None)


class FetchError(RuntimeError):
    """A source could not be downloaded or is not what it should be; says which and why."""


@dataclass(frozen=True)
class FetchResult:
    """What one source produced."""

    source: str
    url: str
    path: str
    sha256: str
    rows: int
    bytes: int


def mirror_sources(base_url: str) -> dict[str, str]:
    """The default sources as served by a mirror: ``<base>/<file name of the default URL>``."""
    base = base_url.rstrip("/")
    return {name: f"{base}/{url.rsplit('/', 1)[-1]}" for name, url in DEFAULT_SOURCES.items()}


def download(url: str, source: str = "", progress: ProgressHook | None = None, timeout: float = 60.0) -> bytes:
    """The body of ``url`` (http, https or file), with progress; FetchError when unreachable."""
    request = urllib.request.Request(url, headers={"User-Agent": "cargowatch-refdata-fetch/1"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - URL is configuration
            total = response.headers.get("Content-Length")
            size = int(total) if total and total.isdigit() else None
            chunks: list[bytes] = []
            got = 0
            while True:
                chunk = response.read(1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
                if progress:
                    progress(source, got, size)
            return b"".join(chunks)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{source}: {url} answered HTTP {exc.code} {exc.reason}; check the URL") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(
            f"{source}: cannot reach {url} ({reason}). This machine may be offline or the host "
            f"blocked; point the source at a reachable copy with --source-url {source}=URL or "
            f"--mirror BASE_URL"
        ) from None


# -- checks and conversions (bytes in, (bytes to write, rows) out) ----------------------------


def _csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # UNECE has published its CSV in ISO 8859-1 / Windows-1252.
        return data.decode("cp1252", errors="replace")


def _headed_csv(source: str, data: bytes, required: Iterable[str]) -> tuple[bytes, int]:
    text = _decode(data)
    rows = _csv_rows(text)
    if not rows:
        raise FetchError(f"{source}: the file is empty")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in required if c not in header]
    if missing:
        raise FetchError(f"{source}: header {header[:8]} lacks {missing}; is this the right file?")
    body = [r for r in rows[1:] if any(cell.strip() for cell in r)]
    if not body:
        raise FetchError(f"{source}: the file has a header but no rows")
    return text.encode("utf-8"), len(body)


def _hs(data: bytes) -> tuple[bytes, int]:
    out, rows = _headed_csv("hs", data, ("section", "hscode", "description", "parent", "level"))
    if rows < 5000:
        raise FetchError(f"hs: only {rows} rows; the HS nomenclature has ~6,900 codes (truncated download?)")
    return out, rows


def _hs_sections(data: bytes) -> tuple[bytes, int]:
    return _headed_csv("hs_sections", data, ("section", "name"))


def _countries(data: bytes) -> tuple[bytes, int]:
    return _headed_csv("unlocode_countries", data, ("CountryCode", "CountryName"))


def _unlocode(data: bytes) -> tuple[bytes, int]:
    """UNECE code list: a zip of ``... CodeListPart1.csv`` .. ``Part3.csv`` (no header,
    12 columns) or one CSV; written as one UTF-8 file in the UNECE layout."""
    parts: list[str] = []
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = sorted(n for n in zf.namelist() if n.lower().endswith(".csv") and "codelist" in n.lower().replace(" ", ""))
            if not names:
                raise FetchError(f"unlocode: the zip holds no CodeList CSV (found {zf.namelist()[:5]})")
            parts = [_decode(zf.read(n)) for n in names]
    else:
        parts = [_decode(data)]
    locations = 0
    lines: list[str] = []
    for text in parts:
        for row in _csv_rows(text):
            if len(row) < 7:
                continue
            if row[1].lower() == "country" or row[0].lower() == "country":
                raise FetchError("unlocode: a headed CSV; expected the UNECE layout (no header, 12 columns)")
            if len(row[1]) == 2 and len(row[2]) == 3:
                locations += 1
            buf = io.StringIO()
            csv.writer(buf, quoting=csv.QUOTE_MINIMAL, lineterminator="\n").writerow(row)
            lines.append(buf.getvalue())
    if locations < 1000:
        raise FetchError(f"unlocode: only {locations} locations; the full list has over 100,000")
    return "".join(lines).encode("utf-8"), locations


def _currency(data: bytes) -> tuple[bytes, int]:
    """datasets/currency-codes CSV as is; SIX ISO 4217 List One XML converted to it."""
    head = data[:200].lstrip()
    if head.startswith(b"<"):
        try:
            root = ET.fromstring(data)
        except ET.ParseError as exc:
            raise FetchError(f"currency: not well-formed XML ({exc})") from None
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["Entity", "Currency", "AlphabeticCode", "NumericCode", "MinorUnit", "WithdrawalDate"])
        rows = 0
        for entry in root.iter("CcyNtry"):
            def text(tag: str, entry: ET.Element = entry) -> str:
                el = entry.find(tag)
                return (el.text or "").strip() if el is not None else ""

            writer.writerow([text("CtryNm"), text("CcyNm"), text("Ccy"), text("CcyNbr"), text("CcyMnrUnts"), ""])
            rows += 1
        if not rows:
            raise FetchError("currency: the XML has no CcyNtry entries; is this ISO 4217 List One?")
        return buf.getvalue().encode("utf-8"), rows
    return _headed_csv("currency", data, ("Entity", "Currency", "AlphabeticCode", "NumericCode"))


def _edition(url: str) -> str:
    m = re.search(r"loc(\d{2})(\d)csv", url)
    return f"20{m.group(1)}-{m.group(2)}" if m else "latest"


# (converter, target path relative to the directory)
_TARGETS: dict[str, tuple[Callable[[bytes], tuple[bytes, int]], Callable[[str], str]]] = {
    "hs": (_hs, lambda url: "hs/harmonized-system.csv"),
    "hs_sections": (_hs_sections, lambda url: "hs/hs_sections.csv"),
    "unlocode": (_unlocode, lambda url: f"unlocode/unlocode_code-list_{_edition(url)}_unece.csv"),
    "unlocode_countries": (_countries, lambda url: "unlocode/unlocode_country-codes.csv"),
    "currency": (_currency, lambda url: "currency/iso4217_codes-all.csv"),
}


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fetch(
    into: str | Path,
    sources: dict[str, str] | None = None,
    only: Iterable[str] | None = None,
    progress: ProgressHook | None = None,
    timeout: float = 60.0,
) -> list[FetchResult]:
    """Download the sources into ``into``; returns what each produced.

    ``sources`` overrides URLs by source name (see :data:`DEFAULT_SOURCES`); ``only``
    restricts the fetch to some sources. All downloads are checked before any file is
    replaced: a required source that fails raises FetchError and changes nothing; an
    optional one that fails is skipped (its old file stays).
    """
    urls = {**DEFAULT_SOURCES, **(sources or {})}
    unknown = sorted(set(sources or {}) - set(DEFAULT_SOURCES))
    if unknown:
        raise FetchError(f"unknown source(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_SOURCES)}")
    names = list(only) if only else list(DEFAULT_SOURCES)
    for name in names:
        if name not in DEFAULT_SOURCES:
            raise FetchError(f"unknown source {name!r}; known: {', '.join(DEFAULT_SOURCES)}")
    directory = Path(into)
    staged: list[tuple[str, str, Path, bytes, int]] = []
    for name in names:
        url = urls[name]
        try:
            raw = download(url, name, progress, timeout)
            convert, target = _TARGETS[name]
            data, rows = convert(raw)
        except FetchError:
            if name in REQUIRED_SOURCES:
                raise
            continue
        staged.append((name, url, directory / target(url), data, rows))
    results = []
    for name, url, path, data, rows in staged:
        _write_atomic(path, data)
        results.append(FetchResult(name, url, str(path), hashlib.sha256(data).hexdigest(), rows, len(data)))
    record = {
        "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": [asdict(r) for r in results],
    }
    _write_atomic(directory / "fetch-manifest.json", json.dumps(record, indent=2).encode("utf-8"))
    return results
