"""Intake: Kafka values and JSON lines to Manifest or Rejection, and hostile input that must
always become a Rejection (never an exception, never a stall)."""

# ruff: noqa: E402 - the shared manifest builders sit in tests/unit/validation
from __future__ import annotations

import os
import struct
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

sys.path.insert(0, str(Path(__file__).parent / "validation"))
from manifest_builders import NOW, REFDATA_DIR, make_goods, make_manifest, replace

from enrichers.refdata import ReferenceData
from schemas.codec import Codec
from schemas.intake import (
    DEFAULT_MAX_RECORD_BYTES,
    msgspec_path,
    read_json_line,
    read_kafka_value,
    schema_error_from_msgspec,
    validate_or_reject,
)
from schemas.model import Manifest, Rejection, Source, to_builtins
from schemas.validation import default_config

SRC = Source(kind="kafka", topic="manifests.raw", partition=0, offset=17)
FILE = Source(kind="file", file="in.jsonl", line=3)
RECEIVED = NOW


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec()


@pytest.fixture(scope="module")
def ref() -> ReferenceData:
    return ReferenceData.load(REFDATA_DIR)


def as_json(m: Manifest) -> bytes:
    return msgspec.json.encode(m)


def intake(item, ref) -> Manifest | Rejection:
    return validate_or_reject(item, ref, default_config(), NOW, SRC, RECEIVED)


def only_error(r) -> tuple[str, str]:
    assert isinstance(r, Rejection), r
    assert r.errors, r
    return r.errors[0].code, r.errors[0].path


# -- the good path ------------------------------------------------------------------------


def test_kafka_round_trip(codec: Codec) -> None:
    m = make_manifest()
    out = read_kafka_value(codec.encode("Manifest", m), codec, SRC, RECEIVED)
    assert out == m


def test_json_round_trip() -> None:
    m = make_manifest()
    assert read_json_line(as_json(m), FILE, RECEIVED) == m
    assert read_json_line(as_json(m).decode() + "\n", FILE, RECEIVED) == m


def test_json_timestamps_become_utc() -> None:
    obj = to_builtins(make_manifest())
    obj["filed_at"] = "2026-11-26T10:00:00"  # no zone: read as UTC
    obj["route"]["departure_at"] = "2026-11-29T10:00:00+02:00"
    m = read_json_line(msgspec.json.encode(obj), FILE, RECEIVED)
    assert isinstance(m, Manifest)
    assert m.filed_at == datetime(2026, 11, 26, 10, tzinfo=UTC)
    assert m.route.departure_at.tzinfo is UTC and m.route.departure_at.hour == 8


# -- schema errors and paths --------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,path",
    [("$.goods[0].hs_code", "goods[0].hs_code"), ("$", "$"), ("$.route.transshipment_ports[2]", "route.transshipment_ports[2]")],
)
def test_msgspec_path(raw: str, path: str) -> None:
    assert msgspec_path(raw) == path


def test_wrong_type_gives_path_and_keeps_ids() -> None:
    obj = to_builtins(make_manifest())
    obj["goods"][1]["hs_code"] = 851713
    r = read_json_line(msgspec.json.encode(obj), FILE, RECEIVED)
    assert only_error(r) == ("SCHEMA", "goods[1].hs_code")
    assert (r.manifest_id, r.version, r.source) == ("24NL0000000000001", 1, FILE)
    assert "Expected `str`, got `int`" in r.errors[0].message


def test_missing_field_path_names_the_field() -> None:
    obj = to_builtins(make_manifest())
    del obj["goods"][0]["description"]
    assert only_error(read_json_line(msgspec.json.encode(obj), FILE, RECEIVED)) == ("SCHEMA", "goods[0].description")
    obj = to_builtins(make_manifest())
    del obj["manifest_id"]
    r = read_json_line(msgspec.json.encode(obj), FILE, RECEIVED)
    assert only_error(r) == ("SCHEMA", "manifest_id") and r.manifest_id is None and r.version == 1


def test_unknown_enum() -> None:
    obj = to_builtins(make_manifest())
    obj["mode"] = "SHIP"
    assert only_error(read_json_line(msgspec.json.encode(obj), FILE, RECEIVED)) == ("SCHEMA", "mode")


def test_schema_error_from_msgspec_top_level() -> None:
    e = schema_error_from_msgspec(msgspec.ValidationError("Expected `object`, got `array`"))
    assert (e.code, e.path) == ("SCHEMA", "$")


# -- hostile Kafka values -----------------------------------------------------------------


def test_none_and_empty(codec: Codec) -> None:
    assert only_error(read_kafka_value(None, codec, SRC, RECEIVED)) == ("SCHEMA", "$")
    r = read_kafka_value(b"", codec, SRC, RECEIVED)
    assert only_error(r) == ("SCHEMA", "$") and "too short" in r.errors[0].message


def test_random_bytes(codec: Codec) -> None:
    rnd = __import__("random").Random(7)
    for _ in range(500):
        value = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 300)))
        assert isinstance(read_kafka_value(value, codec, SRC, RECEIVED), Rejection | Manifest)
    for _ in range(200):  # random bodies behind a valid frame
        value = b"\x00\x00\x00\x00\x01" + os.urandom(rnd.randrange(0, 400))
        assert isinstance(read_kafka_value(value, codec, SRC, RECEIVED), Rejection | Manifest)


def test_truncated_avro_keeps_ids(codec: Codec) -> None:
    value = codec.encode("Manifest", make_manifest(version=3))
    for cut in (len(value) - 1, len(value) // 2, 40):
        r = read_kafka_value(value[:cut], codec, SRC, RECEIVED)
        assert only_error(r) == ("SCHEMA", "$")
        assert (r.manifest_id, r.version) == ("24NL0000000000001", 3)
    assert only_error(read_kafka_value(value[:3], codec, SRC, RECEIVED)) == ("SCHEMA", "$")


def test_trailing_bytes(codec: Codec) -> None:
    value = codec.encode("Manifest", make_manifest())
    r = read_kafka_value(value + b"\x00", codec, SRC, RECEIVED)
    assert "trailing" in r.errors[0].message


def test_wrong_magic_byte(codec: Codec) -> None:
    value = codec.encode("Manifest", make_manifest())
    r = read_kafka_value(b"\x01" + value[1:], codec, SRC, RECEIVED)
    assert only_error(r) == ("SCHEMA", "$") and "magic byte" in r.errors[0].message


def test_unframed_json_on_the_topic_keeps_ids(codec: Codec) -> None:
    obj = to_builtins(make_manifest())
    obj["version"] = "2"
    r = read_kafka_value(msgspec.json.encode(obj), codec, SRC, RECEIVED)
    assert only_error(r) == ("SCHEMA", "$") and "cargowatch produce" in r.errors[0].message
    assert r.manifest_id == "24NL0000000000001" and r.version is None


def test_unknown_schema_id(codec: Codec) -> None:
    value = codec.encode("Manifest", make_manifest())
    r = read_kafka_value(b"\x00" + struct.pack(">I", 9999) + value[5:], codec, SRC, RECEIVED)
    assert only_error(r) == ("SCHEMA", "$") and "unknown schema id 9999" in r.errors[0].message
    assert r.manifest_id is None


def test_other_record_type_is_rejected_without_ids(codec: Codec) -> None:
    value = codec.encode("TraderProfile", {"trader_id": "T1", "name": "ACME", "country": "DE"})
    r = read_kafka_value(value, codec, SRC, RECEIVED)
    assert only_error(r) == ("SCHEMA", "$") and r.manifest_id is None


def test_record_over_10_mb(codec: Codec) -> None:
    value = codec.encode("Manifest", make_manifest())
    big = value + b"\x00" * (DEFAULT_MAX_RECORD_BYTES + 1 - len(value))
    t = time.perf_counter()
    r = read_kafka_value(big, codec, SRC, RECEIVED)
    assert only_error(r) == ("SCHEMA", "$") and "exceeds the limit" in r.errors[0].message
    assert r.manifest_id == "24NL0000000000001"
    line = b'{"manifest_id": "M", "x": "' + b"a" * DEFAULT_MAX_RECORD_BYTES + b'"}'
    assert "exceeds the limit" in read_json_line(line, FILE, RECEIVED).errors[0].message
    assert time.perf_counter() - t < 5


def test_a_10_mb_description_is_rejected(codec: Codec, ref) -> None:
    m = make_manifest()
    m.goods[0] = replace(m.goods[0], description="cotton shirts " * 700_000)  # ~9.8 MB
    value = codec.encode("Manifest", m)
    assert len(value) < DEFAULT_MAX_RECORD_BYTES
    assert only_error(intake(read_kafka_value(value, codec, SRC, RECEIVED), ref)) == ("SCHEMA", "goods[0].description")
    assert only_error(intake(read_json_line(as_json(m), FILE, RECEIVED), ref)) == ("SCHEMA", "goods[0].description")


def test_huge_strings_in_big_records_are_rejected(codec: Codec) -> None:
    m = make_manifest()
    m.parties[0].address.street = "Harbour Road " * 100_000  # 1.3 MB of address
    m.document.number = "X" * 5000
    for item in (read_kafka_value(codec.encode("Manifest", m), codec, SRC, RECEIVED), read_json_line(as_json(m), FILE, RECEIVED)):
        assert isinstance(item, Rejection)
        assert {(e.code, e.path) for e in item.errors} == {
            ("SCHEMA", "parties[0].address.street"),
            ("SCHEMA", "document.number"),
        }
        assert item.manifest_id == m.manifest_id


def test_10000_goods_lines(codec: Codec, ref) -> None:
    goods = [make_goods(i, packages=1, gross_weight_kg=1.0) for i in range(1, 10_001)]
    m = make_manifest(goods=goods, total_packages=10_000, total_gross_weight_kg=10_000.0)
    for item in (read_kafka_value(codec.encode("Manifest", m), codec, SRC, RECEIVED), read_json_line(as_json(m), FILE, RECEIVED)):
        r = intake(item, ref)
        assert isinstance(r, Rejection)
        assert ("SCHEMA", "goods") in {(e.code, e.path) for e in r.errors}
        assert r.manifest_id == m.manifest_id


def test_invalid_utf8_in_avro_string(codec: Codec) -> None:
    m = make_manifest(conveyance=replace(make_manifest().conveyance, vessel_name="ZZZZ"))
    value = codec.encode("Manifest", m).replace(b"ZZZZ", b"\xff\xfe\xc3\x28")
    r = read_kafka_value(value, codec, SRC, RECEIVED)
    assert only_error(r) == ("SCHEMA", "$")
    assert r.manifest_id == m.manifest_id


def test_invalid_utf8_in_json_string() -> None:
    line = as_json(make_manifest()).replace(b"Hamburg", b"Ham\xffurg")
    r = read_json_line(line, FILE, RECEIVED)
    assert only_error(r) == ("SCHEMA", "$") and "UTF-8" in r.errors[0].message
    # A str with a lone surrogate (e.g. from a lenient reader) is not UTF-8 either.
    r = read_json_line(as_json(make_manifest()).decode().replace("Hamburg", "Ham\udcffurg"), FILE, RECEIVED)
    assert only_error(r) == ("SCHEMA", "$")


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_literals_in_json(literal: bytes) -> None:
    line = as_json(make_manifest()).replace(b'"total_gross_weight_kg":1250.5', b'"total_gross_weight_kg":' + literal)
    r = read_json_line(line, FILE, RECEIVED)
    assert only_error(r) == ("SCHEMA", "$") and "finite number" in r.errors[0].message


def test_number_out_of_range_in_json() -> None:
    line = as_json(make_manifest()).replace(b'"total_gross_weight_kg":1250.5', b'"total_gross_weight_kg":1e999')
    assert only_error(read_json_line(line, FILE, RECEIVED)) == ("SCHEMA", "total_gross_weight_kg")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_in_avro_are_quantity(codec: Codec, ref, bad: float) -> None:
    m = make_manifest(total_gross_weight_kg=bad)
    r = intake(read_kafka_value(codec.encode("Manifest", m), codec, SRC, RECEIVED), ref)
    assert only_error(r) == ("QUANTITY", "total_gross_weight_kg")


def test_year_9999(codec: Codec, ref) -> None:
    m = make_manifest()
    m.route = replace(m.route, arrival_at=datetime(9999, 12, 31, tzinfo=UTC))
    for item in (read_kafka_value(codec.encode("Manifest", m), codec, SRC, RECEIVED), read_json_line(as_json(m), FILE, RECEIVED)):
        assert only_error(intake(item, ref)) == ("DATES", "route.arrival_at")


def test_timestamp_beyond_year_9999(codec: Codec) -> None:
    obj = to_builtins(make_manifest())
    obj["filed_at"] = 10**15  # milliseconds: year ~33658, not a datetime
    obj["route"]["departure_at"] = datetime(2026, 12, 1, tzinfo=UTC)
    obj["route"]["arrival_at"] = datetime(2026, 12, 20, tzinfo=UTC)
    r = read_kafka_value(codec.encode("Manifest", obj), codec, SRC, RECEIVED)
    assert only_error(r) == ("SCHEMA", "$")
    line = as_json(make_manifest()).replace(b'"filed_at":"2026', b'"filed_at":"12026')
    assert only_error(read_json_line(line, FILE, RECEIVED))[0] == "SCHEMA"


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_json(depth: int) -> None:
    arrays = b"[" * depth + b"]" * depth
    assert only_error(read_json_line(arrays, FILE, RECEIVED)) == ("SCHEMA", "$")
    in_field = b'{"manifest_id": ' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"
    assert only_error(read_json_line(in_field, FILE, RECEIVED)) == ("SCHEMA", "manifest_id")
    in_unknown_field = b'{"extra": ' + arrays + b', "manifest_id": "M1"}'
    assert only_error(read_json_line(in_unknown_field, FILE, RECEIVED))[0] == "SCHEMA"


@pytest.mark.parametrize("line", [b"", b"   ", b"{", b"null", b"[]", b"42", b'"manifest"', b"\xef\xbb\xbf{}", b"{}" * 3, b"\x00" * 10])
def test_garbage_json_lines(line: bytes) -> None:
    assert only_error(read_json_line(line, FILE, RECEIVED))[0] == "SCHEMA"


def test_validate_or_reject_passes_good_manifests_and_rejections(codec: Codec, ref) -> None:
    m = make_manifest()
    assert intake(m, ref) is m
    bad = make_manifest(total_packages=-1, filed_at=NOW + timedelta(days=3))
    r = intake(bad, ref)
    assert isinstance(r, Rejection) and (r.manifest_id, r.version, r.source) == (bad.manifest_id, 1, SRC)
    assert {e.code for e in r.errors} == {"QUANTITY", "DATES"}
    decode_failure = read_kafka_value(None, codec, SRC, RECEIVED)
    assert intake(decode_failure, ref) is decode_failure


def test_rejections_encode_for_the_rejected_topic(codec: Codec) -> None:
    r = read_kafka_value(b"\x05garbage", codec, SRC, RECEIVED)
    back = codec.decode("Rejection", codec.encode("Rejection", r))
    assert back["errors"][0]["code"] == "SCHEMA" and back["source"]["offset"] == 17
