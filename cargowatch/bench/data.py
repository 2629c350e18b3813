"""The benchmark's inputs: generated manifests framed as Confluent Avro, and a watchlist
of at least 300,000 names.

The generator is realistic but slow (a few hundred manifests per second on a shared
2-core machine), so the benchmark generates a pool and clones it: each clone rewrites
the ``manifest_id`` inside the Avro bytes (it is the schema's first field), so every
clone is a distinct filing with the same shape, and the generator's planted replays and
amendments stay replays and amendments within their clone.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from cargowatch.generator import GeneratorConfig, generate
from cargowatch.ingest import frame_line
from enrichers.refdata import ReferenceData
from schemas.codec import Codec

_HEADER_LEN = 5  # Confluent frame: magic byte + 4-byte schema id


@dataclass(frozen=True, slots=True)
class BenchRecord:
    """One record for ``manifests.raw``: Kafka key and value (framed Avro, or the raw
    bytes of a record the generator made unreadable on purpose)."""

    key: bytes | None
    value: bytes
    framed: bool


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7


def _varint(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z & ~0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def with_manifest_id(value: bytes, manifest_id: str) -> bytes:
    """A framed Manifest with its ``manifest_id`` replaced (the rest byte for byte).

    >>> from schemas.codec import Codec  # doctest: +SKIP
    """
    length, pos = _read_varint(value, _HEADER_LEN)
    new = manifest_id.encode()
    return value[:_HEADER_LEN] + _varint(len(new)) + new + value[pos + length :]


def generate_pool(
    count: int, seed: int, ref: ReferenceData, codec: Codec | None = None
) -> list[BenchRecord]:
    """``count`` generated manifests (default risk and invalid rates), framed."""
    codec = codec or Codec()
    enc = msgspec.json.Encoder()
    out = []
    for record, _label in generate(count, seed, ref, GeneratorConfig()):
        key, value, framed = frame_line(enc.encode(record), codec)
        out.append(BenchRecord(key, value, framed))
    return out


def clone_to(pool: list[BenchRecord], count: int) -> list[BenchRecord]:
    """``count`` records: the pool, then copies whose manifest ids carry ``~<copy>``."""
    out = list(pool[:count])
    copy = 0
    while len(out) < count:
        copy += 1
        suffix = f"~{copy}"
        for rec in pool:
            if len(out) >= count:
                break
            if rec.framed and rec.key is not None:
                mid = rec.key.decode() + suffix
                out.append(BenchRecord(mid.encode(), with_manifest_id(rec.value, mid), True))
            else:
                out.append(rec)
    return out


def bench_records(
    count: int,
    ref: ReferenceData,
    *,
    pool_size: int = 10_000,
    seed: int = 2026,
    on_progress: Callable[[int], None] | None = None,
) -> list[BenchRecord]:
    """``count`` framed records from a generated pool of ``min(count, pool_size)``."""
    codec = Codec()
    enc = msgspec.json.Encoder()
    pool: list[BenchRecord] = []
    for record, _label in generate(min(count, pool_size), seed, ref, GeneratorConfig()):
        key, value, framed = frame_line(enc.encode(record), codec)
        pool.append(BenchRecord(key, value, framed))
        if on_progress and len(pool) % 500 == 0:
            on_progress(len(pool))
    return clone_to(pool, count)


# -- the watchlist ----------------------------------------------------------------------

_GIVEN = [
    "MOHAMMED",
    "AHMED",
    "ALI",
    "HASSAN",
    "OMAR",
    "YUSUF",
    "IBRAHIM",
    "KHALID",
    "SERGEI",
    "DMITRY",
    "ALEKSANDR",
    "IVAN",
    "VLADIMIR",
    "NIKOLAI",
    "KIM",
    "JONG",
    "LEE",
    "WEI",
    "ZHANG",
    "LIU",
    "CHEN",
    "WANG",
    "JOSE",
    "MARIA",
    "JUAN",
    "CARLOS",
    "LUIS",
    "ANA",
    "PEDRO",
    "FATIMA",
    "AISHA",
    "LAYLA",
    "REZA",
    "HOSSEIN",
    "ALI-REZA",
    "MAHMOUD",
    "SAID",
    "TARIQ",
    "NADIA",
    "OLGA",
    "ELENA",
    "IRINA",
    "PAVEL",
    "YURI",
    "ANTON",
    "GEORGE",
    "PETER",
    "JOHN",
    "DAVID",
    "MICHAEL",
    "ROBERT",
    "HANS",
    "KLAUS",
]
_FAMILY = [
    "AL-ASSAD",
    "HOSSEINI",
    "RAHMANI",
    "PETROV",
    "IVANOV",
    "SMIRNOV",
    "KUZNETSOV",
    "POPOV",
    "SOKOLOV",
    "CHOI",
    "PARK",
    "NGUYEN",
    "TRAN",
    "PHAM",
    "GARCIA",
    "RODRIGUEZ",
    "MARTINEZ",
    "LOPEZ",
    "GONZALEZ",
    "PEREZ",
    "SANCHEZ",
    "RAMIREZ",
    "TORRES",
    "FLORES",
    "RIVERA",
    "KHAN",
    "HUSSAIN",
    "MALIK",
    "QURESHI",
    "SIDDIQUI",
    "AZIZI",
    "KARIMI",
    "SADEGHI",
    "MOHAMMADI",
    "HASHEMI",
    "MORADI",
    "JAFARI",
    "NOVAK",
    "HORVAT",
    "KOVACS",
    "NAGY",
    "SZABO",
    "MUELLER",
    "SCHMIDT",
    "SCHNEIDER",
    "FISCHER",
    "WEBER",
    "MEYER",
    "WAGNER",
    "BECKER",
]
_ORG_WORDS = [
    "GLOBAL",
    "TRADING",
    "SHIPPING",
    "MARINE",
    "PETRO",
    "CHEMICAL",
    "INDUSTRIAL",
    "TECHNOLOGY",
    "ENERGY",
    "METALS",
    "LOGISTICS",
    "INTERNATIONAL",
    "EXPORT",
    "IMPORT",
    "GENERAL",
    "ADVANCED",
    "NATIONAL",
    "UNITED",
    "EASTERN",
    "WESTERN",
    "NORTHERN",
    "SOUTHERN",
    "PACIFIC",
    "ATLANTIC",
    "ORIENT",
    "STAR",
    "GOLDEN",
    "SILVER",
    "OCEAN",
    "SKY",
    "DELTA",
    "ALPHA",
    "NOVA",
    "PRIME",
    "TITAN",
    "PHOENIX",
    "CRESCENT",
    "ZENITH",
    "FALCON",
    "EAGLE",
    "LION",
    "DRAGON",
]
_LEGAL = ("LLC", "LTD", "CO LTD", "JSC", "GMBH", "SA", "FZE", "PJSC", "INC", "LIMITED")
_COUNTRIES = ("IR", "KP", "SY", "RU", "BY", "CU", "VE", "CN", "AE", "TR", "")


def write_synthetic_watchlist(path: Path, names: int, seed: int = 300) -> int:
    """A national-list CSV (contract §4 header) with about ``names`` names (primary names
    plus ``;``-separated aliases) of persons, organisations and vessels. Returns the
    number of names written."""
    rnd = random.Random(seed)
    written = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["list_id", "entry_id", "name", "aliases", "country", "kind"])
        entry = 0
        while written < names:
            entry += 1
            kind = rnd.choices(("person", "organization", "vessel"), (0.55, 0.4, 0.05))[0]
            if kind == "person":
                given, family = rnd.choice(_GIVEN), rnd.choice(_FAMILY)
                middle = rnd.choice(_GIVEN) if rnd.random() < 0.4 else ""
                name = " ".join(p for p in (given, middle, family) if p)
                aliases = [f"{family} {given}"] if rnd.random() < 0.5 else []
            elif kind == "organization":
                words = rnd.sample(_ORG_WORDS, rnd.randint(2, 3))
                name = f"{' '.join(words)} {rnd.choice(_LEGAL)} {entry % 997}"
                aliases = [f"{' '.join(words)} {entry % 997}"] if rnd.random() < 0.4 else []
            else:
                name = f"{rnd.choice(_ORG_WORDS)} {rnd.choice(_ORG_WORDS)} {entry % 89}"
                aliases = []
            w.writerow(
                [
                    "bench_synthetic",
                    f"S{entry:07d}",
                    name,
                    ";".join(aliases),
                    rnd.choice(_COUNTRIES),
                    kind,
                ]
            )
            written += 1 + len(aliases)
    return written


def relabel(records: Sequence[BenchRecord], tag: str) -> list[BenchRecord]:
    """The same records as new filings: every framed record's id gets ``tag`` appended."""
    out = []
    for rec in records:
        if rec.framed and rec.key is not None:
            mid = rec.key.decode() + tag
            out.append(BenchRecord(mid.encode(), with_manifest_id(rec.value, mid), True))
        else:
            out.append(rec)
    return out
