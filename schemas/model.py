"""Typed records of the contract (msgspec Structs).

These mirror the Avro schemas in ``schemas/avro/`` field for field (a unit test keeps them
in step). Records that cross a module boundary are these Structs, never loose dicts.

>>> m = decode_manifest_json(b'{"manifest_id": "M1", ...}')  # doctest: +SKIP
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec
from msgspec import Struct, field

Mode = Literal["SEA", "AIR", "ROAD", "RAIL"]
DocumentType = Literal["MASTER_BL", "HOUSE_BL", "MASTER_AWB", "HOUSE_AWB", "CMR", "CIM"]
PartyRole = Literal["CONSIGNOR", "CONSIGNEE", "NOTIFY", "MANUFACTURER", "SELLER", "BUYER"]
Lane = Literal["GREEN", "YELLOW", "RED", "BLUE"]
Referral = Literal["NONE", "RFI", "RFS", "DNL"]
DecisionOutcome = Literal["CONFIRMED", "NO_FINDING", "FALSE_POSITIVE"]

MODES: tuple[str, ...] = ("SEA", "AIR", "ROAD", "RAIL")
LANES: tuple[str, ...] = ("GREEN", "YELLOW", "RED", "BLUE")
REFERRALS: tuple[str, ...] = ("NONE", "RFI", "RFS", "DNL")

# The parts of a manifest hold only text, numbers, timestamps, lists of text and other
# parts, so they cannot be in a reference cycle: ``gc=False`` keeps them out of the cyclic
# collector (its young collections traverse every tracked object decoded since the last
# one; ~2.3 µs less per manifest decoded, of ~10.5). Manifest itself stays tracked.
# The same holds for what screening makes of a manifest (Source, ValidationError,
# Rejection, Hit, WatchlistMatch, ScreeningResult, Alert and its summary): none holds
# anything that could lead back to itself, so they are ``gc=False`` too.


class Filer(Struct, forbid_unknown_fields=False, gc=False):
    id: str
    name: str


class Document(Struct, gc=False):
    type: DocumentType
    number: str
    master_number: str | None = None


class Conveyance(Struct, gc=False):
    carrier_code: str | None = None
    vessel_imo: str | None = None
    vessel_name: str | None = None
    voyage: str | None = None
    flight_number: str | None = None


class Route(Struct, gc=False):
    loading_port: str
    discharge_port: str
    departure_at: datetime
    arrival_at: datetime
    transshipment_ports: list[str] = field(default_factory=list)
    routing_countries: list[str] = field(default_factory=list)


class Address(Struct, gc=False):
    city: str
    country: str
    street: str | None = None
    postcode: str | None = None


class Party(Struct, gc=False):
    role: PartyRole
    name: str
    address: Address
    identifier: str | None = None
    aeo_certificate: str | None = None


class GoodsItem(Struct, gc=False):
    line: int
    hs_code: str
    description: str
    packages: int
    gross_weight_kg: float
    value_amount: float
    value_currency: str
    origin_country: str
    package_type: str | None = None
    un_number: str | None = None


class Container(Struct, gc=False):
    number: str
    seal_numbers: list[str] = field(default_factory=list)
    size_type: str | None = None


class Manifest(Struct):
    """One advance cargo filing (contract §1)."""

    manifest_id: str
    version: int
    mode: Mode
    filed_at: datetime
    filer: Filer
    document: Document
    conveyance: Conveyance
    route: Route
    parties: list[Party]
    goods: list[GoodsItem]
    total_gross_weight_kg: float
    total_packages: int
    containers: list[Container] = field(default_factory=list)

    def party(self, role: str) -> Party | None:
        """The first party with this role, or None."""
        for p in self.parties:
            if p.role == role:
                return p
        return None


_fingerprint_encoder = msgspec.msgpack.Encoder()


class FilingFingerprint(Struct, frozen=True, gc=False):
    """What an amendment is compared with: the previous version's filing time and digests
    of its parties and goods (LATE_FILING judges an amendment by the original's filing
    time; LATE_AMENDMENT asks whether parties or goods changed). Tens of bytes, where the
    whole Manifest is ~4 KB, so the worker can remember many filings.

    >>> from datetime import UTC, datetime
    >>> m = Manifest("M1", 1, "SEA", datetime(2026, 1, 1, tzinfo=UTC), Filer("F", "F"), Document("CMR", "1"),
    ...              Conveyance(), Route("DEHAM", "NLRTM", datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC)),
    ...              [Party("CONSIGNEE", "Acme", Address("Hamburg", "DE"))], [], 1.0, 1)
    >>> fp = FilingFingerprint.of(m)
    >>> fp.changes_parties_or_goods(m)
    False
    >>> m.parties[0].name = "Other"
    >>> fp.changes_parties_or_goods(m)
    True
    """

    filed_at: datetime
    parties_digest: int
    goods_digest: int

    @classmethod
    def of(cls, manifest: Manifest) -> FilingFingerprint:
        enc = _fingerprint_encoder.encode
        return cls(manifest.filed_at, hash(enc(manifest.parties)), hash(enc(manifest.goods)))

    def changes_parties_or_goods(self, manifest: Manifest) -> bool:
        """Whether ``manifest`` (a later version) has other parties or goods than this one.
        Digests of the fields' encodings, so equal fields give equal digests (a different
        field colliding on a 64-bit hash is the only way to miss a change)."""
        enc = _fingerprint_encoder.encode
        return hash(enc(manifest.parties)) != self.parties_digest or hash(enc(manifest.goods)) != self.goods_digest


class ValidationError(Struct, gc=False):
    """One problem with a manifest: ``{code, path, message}`` (contract §2)."""

    code: str
    path: str
    message: str


class Source(Struct, gc=False):
    """Where an input came from: a Kafka record or a line of a file."""

    kind: Literal["kafka", "file", "http"]
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    file: str | None = None
    line: int | None = None

    def describe(self) -> str:
        if self.kind == "kafka":
            return f"{self.topic}/{self.partition}@{self.offset}"
        if self.kind == "file":
            return f"{self.file}:{self.line}"
        return self.kind


class Rejection(Struct, gc=False):
    manifest_id: str | None
    version: int | None
    errors: list[ValidationError]
    received_at: datetime
    source: Source


class Hit(Struct, gc=False):
    rule_id: str
    weight: float
    reason: str
    evidence: dict[str, str] = field(default_factory=dict)


class WatchlistMatch(Struct, gc=False):
    party_role: str
    party_name: str
    list_id: str
    entry_id: str
    matched_name: str
    score: float
    explanation: str = ""


class ScreeningResult(Struct, gc=False):
    manifest_id: str
    version: int
    score: float
    lane: Lane
    referral: Referral
    hits: list[Hit]
    watchlist_matches: list[WatchlistMatch]
    ruleset_version: str
    screened_at: datetime
    latency_ms: float
    list_versions: dict[str, str] = field(default_factory=dict)


class AlertSummary(Struct, gc=False):
    """What the board shows of a manifest without opening it (ids and codes, no addresses)."""

    mode: str
    filer_id: str
    loading_port: str
    discharge_port: str
    consignee_id: str | None
    consignee_name: str
    consignor_name: str
    hs_codes: list[str]
    departure_at: datetime


class Alert(Struct, gc=False):
    alert_id: str
    manifest_id: str
    version: int
    lane: Lane
    referral: Referral
    score: float
    hits: list[Hit]
    watchlist_matches: list[WatchlistMatch]
    ruleset_version: str
    raised_at: datetime
    summary: AlertSummary


class Decision(Struct):
    alert_id: str
    manifest_id: str
    version: int
    outcome: DecisionOutcome
    reason: str
    officer: str
    decided_at: datetime
    rule_ids: list[str] = field(default_factory=list)
    trader_ids: list[str] = field(default_factory=list)


class EntryName(Struct):
    name: str
    strength: Literal["PRIMARY", "STRONG", "WEAK"] = "PRIMARY"


class EntryIdentifier(Struct):
    type: str
    value: str


class WatchlistEntry(Struct):
    """One sanctions / watchlist entry, whatever format it came from."""

    list_id: str
    entry_id: str
    kind: Literal["person", "organization", "vessel", "aircraft", "unknown"]
    names: list[EntryName]
    countries: list[str] = field(default_factory=list)
    identifiers: list[EntryIdentifier] = field(default_factory=list)
    programmes: list[str] = field(default_factory=list)
    list_version: str = ""
    sanctions: bool = True

    @property
    def primary_name(self) -> str:
        return self.names[0].name if self.names else ""


class TraderProfile(Struct):
    trader_id: str
    name: str
    country: str
    aeo_certificate: str | None = None
    aeo_valid_until: str | None = None
    risk_notes: str | None = None


_manifest_decoder = msgspec.json.Decoder(Manifest)


def decode_manifest_json(data: bytes | str) -> Manifest:
    """Decode one manifest from its JSON form; raises ``msgspec.ValidationError`` /
    ``msgspec.DecodeError`` with a path when the shape is wrong."""
    return _manifest_decoder.decode(data)


def manifest_from_dict(obj: dict) -> Manifest:
    """Build a Manifest from a decoded Avro record or a JSON mapping."""
    return msgspec.convert(obj, Manifest, strict=False)


def to_builtins(record: Struct) -> dict:
    """A Struct as plain JSON-able builtins (timestamps as ISO-8601 strings)."""
    return msgspec.to_builtins(record)
