"""The compiled Avro reader (native/src/avro.rs + msgspec) against fastavro, the reference.

``read_kafka_value`` takes records of the latest Manifest schema through the compiled
reader and everything else through fastavro. Whatever a record is (generated, replayed,
invalid, cut short, flipped, padded), the outcome must be the one the fastavro path
gives: the same Manifest (timestamps aware UTC), or the same Rejection word for word.
"""

# ruff: noqa: E402 - the shared manifest builders sit in tests/unit/validation
from __future__ import annotations

import io
import random
import sys
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import fastavro
import msgspec
import pytest

sys.path.insert(0, str(Path(__file__).parent / "validation"))
from cargowatch_native import AvroTranscoder
from manifest_builders import NOW, REFDATA_DIR, make_air_manifest, make_goods, make_manifest

from cargowatch.generator import GeneratorConfig, RiskRates, generate
from cargowatch.ingest import frame_line
from enrichers.refdata import ReferenceData
from schemas.codec import Codec, CodecError, CompiledReader
from schemas.intake import read_kafka_value
from schemas.model import Manifest, Rejection, Source

SRC = Source(kind="kafka", topic="manifests.raw", partition=3, offset=41)
FAST = Codec()
FASTAVRO = Codec(compiled=False)

# Every kind of record the generator makes, invalid ones, amendments and replays
# well represented.
RATES = RiskRates(invalid=0.15, amendment=0.05, late_amendment=0.03, replay=0.05, watchlist=0.05, trusted_trader=0.2)


def both(value: bytes) -> tuple[Manifest | Rejection, Manifest | Rejection]:
    return read_kafka_value(value, FAST, SRC, NOW), read_kafka_value(value, FASTAVRO, SRC, NOW)


def assert_same(value: bytes) -> Manifest | Rejection:
    """The outcome of both paths, which must be equal down to the encoded bytes."""
    fast, reference = both(value)
    assert type(fast) is type(reference)
    if isinstance(fast, Rejection) and isinstance(reference, Rejection):
        # In full: a clean-clone run saw the two differ once (2026-11-29), in a part the
        # truncated comparison did not show, and it has not been seen again.
        assert fast.errors == reference.errors, f"compiled: {fast.errors!r}\nfastavro: {reference.errors!r}\nvalue: {value!r}"
    assert fast == reference, f"compiled: {fast!r}\nfastavro: {reference!r}\nvalue: {value!r}"
    assert msgspec.json.encode(fast) == msgspec.json.encode(reference)
    if isinstance(fast, Manifest):
        for ts in (fast.filed_at, fast.route.departure_at, fast.route.arrival_at):
            assert ts.tzinfo is UTC
    return fast


def taken(value: bytes) -> bool:
    """Whether the compiled reader (not fastavro) read this record."""
    return FAST.decode_struct("Manifest", value, Manifest) is not None


def varint(n: int) -> bytes:
    """``n`` as Avro writes a long (fastavro's writer)."""
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, "long", n)
    return buf.getvalue()


@pytest.fixture(scope="module")
def generated() -> list[tuple[bytes, bool]]:
    ref = ReferenceData.load(REFDATA_DIR)
    enc = msgspec.json.Encoder()
    out = []
    for record, _label in generate(3000, 20261128, ref, GeneratorConfig(rates=RATES)):
        _key, value, framed = frame_line(enc.encode(record), FAST)
        out.append((value, framed))
    return out


@pytest.fixture(scope="module")
def samples() -> list[bytes]:
    """Real records: a sea manifest with containers and optional fields, an air one."""
    sea = make_manifest(goods=[make_goods(1), make_goods(2, description="Lithium batteries", un_number="UN3480")])
    return [FAST.encode("Manifest", sea), FAST.encode("Manifest", make_air_manifest())]


# -- the generator's traffic ----------------------------------------------------------------


def test_generated_records_decode_the_same(generated) -> None:
    outcomes = [assert_same(value) for value, _framed in generated]
    framed = [value for value, is_framed in generated if is_framed]
    assert len(framed) > 2500 and len(generated) - len(framed) > 20  # both kinds are there
    assert all(taken(value) for value in framed)
    assert sum(isinstance(o, Manifest) for o in outcomes) == len(framed)
    ids = [(o.manifest_id, o.version) for o in outcomes if isinstance(o, Manifest)]
    assert len(ids) - len(set(ids)) > 50  # replays were among them
    assert any(v > 1 for _mid, v in ids)  # and amendments


def test_every_optional_field_and_default(samples) -> None:
    for value in samples:
        m = assert_same(value)
        assert taken(value) and isinstance(m, Manifest)
    # All optional fields null, empty arrays: the defaults fastavro gives.
    bare = make_manifest(containers=[])
    bare.route.transshipment_ports = []
    bare.goods = [make_goods(1, package_type=None)]
    value = FAST.encode("Manifest", bare)
    assert taken(value) and assert_same(value) == bare


# -- malformed input: the same Rejection as before -------------------------------------------


def test_truncated_at_every_byte(samples) -> None:
    for value in samples:
        for cut in range(len(value)):
            r = assert_same(value[:cut])
            assert isinstance(r, Rejection) and not taken(value[:cut])


def test_trailing_bytes(samples) -> None:
    for value in samples:
        for tail in (b"\x00", b"\x02", b"\x01\x02\x03", bytes(range(256))):
            r = assert_same(value + tail)
            assert isinstance(r, Rejection) and "trailing bytes" in r.errors[0].message


def test_flipped_bytes(samples) -> None:
    rnd = random.Random(7)
    read = 0
    for value in samples:
        for pos in range(5, len(value)):
            flipped = bytearray(value)
            flipped[pos] ^= 1 << rnd.randrange(8)
            read += isinstance(assert_same(bytes(flipped)), Manifest)
    assert read > 100  # flips inside text and numbers still read: both paths agree on those too


def test_invalid_utf8(samples) -> None:
    value = samples[0]
    n, pos = value[5] // 2, 6  # the manifest_id: its length, then its bytes
    for bad in (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"):
        text = (bad + b"A" * n)[:n]
        r = assert_same(value[:pos] + text + value[pos + n :])
        assert isinstance(r, Rejection) and "UnicodeDecodeError" in r.errors[0].message
    name = "Müller Elektronik Handels GmbH".encode()
    at = value.index(name)
    r = assert_same(value[:at] + b"\xc3" + value[at + 1 :])  # a party name, deep in the record
    assert isinstance(r, Rejection)


@pytest.mark.parametrize("length", [-1, -2, -(2**40), 2**31, 2**62, 2**63 - 1, 10**6])
def test_absurd_length_prefixes(samples, length: int) -> None:
    value = samples[0]
    n = value[5] // 2
    r = assert_same(value[:5] + varint(length) + value[6 + n :])
    assert isinstance(r, Rejection)


def test_over_long_varint(samples) -> None:
    value = samples[0]
    assert isinstance(assert_same(value[:5] + b"\xff" * 11 + value[6:]), Rejection)


def test_what_fastavro_reads_leniently_goes_the_fastavro_way(samples) -> None:
    # A negative enum index (fastavro takes the last symbol) and a version beyond 32 bits
    # (fastavro reads it): the compiled reader refuses both, so the outcome is fastavro's.
    value = samples[0]
    n = value[5] // 2
    head, version_at = value[: 6 + n], 6 + n
    mode_at = version_at + 1  # version 1 is one byte
    assert value[version_at] == 2 and value[mode_at] == 0  # version 1, mode SEA
    lenient = [
        head + b"\x02" + varint(-1) + value[mode_at + 1 :],
        head + varint(2**40) + value[mode_at:],
    ]
    for v in lenient:
        assert not taken(v)
        assert_same(v)
    for index in (4, 99):  # beyond the 4 modes: a Rejection either way
        assert isinstance(assert_same(head + b"\x02" + varint(index) + value[mode_at + 1 :]), Rejection)


def test_big_record_with_huge_text_is_scanned(samples) -> None:
    long_goods = [make_goods(i, description="x" * 5000) for i in range(1, 16)]
    value = FAST.encode("Manifest", make_manifest(goods=long_goods))
    assert len(value) > 64 * 1024
    r = assert_same(value)
    assert isinstance(r, Rejection) and r.errors[0].path == "goods[0].description"


def test_random_bodies_behind_the_frame() -> None:
    rnd = random.Random(11)
    for _ in range(2000):
        assert_same(b"\x00\x00\x00\x00\x01" + rnd.randbytes(rnd.randrange(0, 300)))


# -- the reader itself -------------------------------------------------------------------------


def test_other_schema_ids_are_not_taken(samples) -> None:
    value = samples[0]
    reader = CompiledReader(1, FAST.registry.latest("Manifest")[1], Manifest)
    assert reader.read(value) is not None
    assert reader.read(b"\x00\x00\x00\x00\x08" + value[5:]) is None
    assert reader.read(b"\x01" + value[1:]) is None
    assert FASTAVRO.decode_struct("Manifest", value, Manifest) is None


def test_unsupported_schema_is_refused_at_compile_time() -> None:
    with pytest.raises(ValueError):
        AvroTranscoder('{"type": "record", "name": "R", "fields": [{"name": "a", "type": "Undefined"}]}')


# Logical types the Manifest does not use (yet): each through the compiled reader into a
# Struct of the Python types fastavro gives, against fastavro + msgspec.convert.

LOGICAL_SCHEMA = {
    "type": "record",
    "name": "Logical",
    "namespace": "org.cargowatch.test",
    "fields": [
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 3}},
        {"name": "fixed_amount", "type": {"type": "fixed", "name": "Amount", "size": 8, "logicalType": "decimal", "precision": 18, "scale": 2}},
        {"name": "at_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "local_ms", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
        {"name": "clock_ms", "type": {"type": "int", "logicalType": "time-millis"}},
        {"name": "clock_us", "type": {"type": "long", "logicalType": "time-micros"}},
        {"name": "ref", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "ratio", "type": "float"},
        {"name": "flag", "type": "boolean"},
        {"name": "blob", "type": "bytes"},
        {"name": "tags", "type": {"type": "map", "values": ["null", "long"]}},
        {"name": "other", "type": ["null", "int", "string"]},
    ],
}


class Logical(msgspec.Struct):
    day: date
    amount: Decimal
    fixed_amount: Decimal
    at_us: datetime
    local_ms: datetime
    clock_ms: time
    clock_us: time
    ref: UUID
    ratio: float
    flag: bool
    blob: bytes
    tags: dict[str, int | None]
    other: int | str | None


def _logical_records(rnd: random.Random) -> list[dict]:
    out = []
    edges = [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC)]
    for i in range(400):
        at = edges[i] if i < len(edges) else datetime.fromtimestamp(rnd.uniform(-6e10, 2e11), UTC)
        out.append(
            {
                "day": date.fromordinal(rnd.randrange(1, 3652060)) if i else date(1, 1, 1),
                "amount": Decimal(rnd.randrange(-(10**12) + 1, 10**12)).scaleb(-3),
                "fixed_amount": Decimal(rnd.randrange(-(10**17), 10**17)).scaleb(-2),
                "at_us": at,
                "local_ms": at.replace(tzinfo=None, microsecond=at.microsecond // 1000 * 1000),
                "clock_ms": time(rnd.randrange(24), rnd.randrange(60), rnd.randrange(60), rnd.randrange(1000) * 1000),
                "clock_us": time(rnd.randrange(24), rnd.randrange(60), rnd.randrange(60), rnd.randrange(10**6)),
                "ref": UUID(int=rnd.getrandbits(128)),
                "ratio": rnd.choice([0.1, -2.5, 3.4e38, float("inf"), 1e-45]),
                "flag": rnd.random() < 0.5,
                "blob": rnd.randbytes(rnd.randrange(0, 40)),
                "tags": {f"k{j}": rnd.choice([None, rnd.randrange(-(2**63), 2**63)]) for j in range(rnd.randrange(0, 20))},
                "other": rnd.choice([None, rnd.randrange(-(2**31), 2**31), "text ünïcode"]),
            }
        )
    return out


def test_logical_types_match_fastavro() -> None:
    schema = fastavro.parse_schema(LOGICAL_SCHEMA, named_schemas={})
    reader = CompiledReader(1, schema, Logical)
    rnd = random.Random(5)
    for record in _logical_records(rnd):
        buf = io.BytesIO()
        buf.write(b"\x00\x00\x00\x00\x01")
        fastavro.schemaless_writer(buf, schema, record)
        value = buf.getvalue()
        body = io.BytesIO(value[5:])
        expected = msgspec.convert(fastavro.schemaless_reader(body, schema, None), Logical, strict=False)
        got = reader.read(value)
        assert got == expected
        assert got is not None and str(got.amount) == str(expected.amount) and str(got.fixed_amount) == str(expected.fixed_amount)
        assert got.at_us.tzinfo is UTC and got.local_ms.tzinfo is None
        for cut in (1, len(value) // 2, len(value) - 1):
            assert reader.read(value[:cut]) is None


class PanicException(BaseException):
    """Stands in for pyo3's (a BaseException, so `except Exception` would let it through)."""


def test_a_panic_in_the_compiled_code_goes_the_fastavro_way(samples, monkeypatch) -> None:
    def panics(*_args):
        raise PanicException("index out of bounds")

    codec = Codec()
    value = samples[0]
    assert codec.decode_struct("Manifest", value, Manifest) is not None
    reader = codec._readers[("Manifest", Manifest)]
    assert reader is not None
    monkeypatch.setattr(reader, "_transcode", panics)
    assert read_kafka_value(value, codec, SRC, NOW) == read_kafka_value(value, FASTAVRO, SRC, NOW)

    def interrupted(*_args):
        raise KeyboardInterrupt

    monkeypatch.setattr(reader, "_transcode", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reader.read(value)


class _DownRegistry:
    """A schema registry that cannot be reached."""

    def latest(self, subject: str):
        raise OSError("registry unreachable")

    def by_id(self, schema_id: int):
        raise CodecError(f"unknown schema id {schema_id} (registry unreachable)")


def test_an_unreachable_registry_gives_the_rejection_it_gave(samples) -> None:
    value = samples[0]
    down, reference = Codec(_DownRegistry()), Codec(_DownRegistry(), compiled=False)
    r = read_kafka_value(value, down, SRC, NOW)
    assert r == read_kafka_value(value, reference, SRC, NOW)
    assert isinstance(r, Rejection) and "unknown schema id 1" in r.errors[0].message
