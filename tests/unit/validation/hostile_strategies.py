"""Hypothesis strategies for hostile input: shared by the property tests and the fuzz run."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from hypothesis import strategies as st
from manifest_builders import make_air_manifest, make_manifest

from schemas.codec import Codec
from schemas.model import (
    Address,
    Container,
    Conveyance,
    Document,
    Filer,
    GoodsItem,
    Manifest,
    Party,
    Route,
)

_codes = st.one_of(
    st.sampled_from(["", " ", "CNSHA", "NLRTM", "XXXXX", "DE", "UK", "EUR", "RMB", "851713", "8517.13", "999999",
                     "CSQU3054383", "CSQU3054384", "9321483", "020-12345675", "n/a", "General cargo", "unknown"]),
    st.text(max_size=20),
)
_floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
_ints = st.integers(min_value=-(2**31), max_value=2**31 - 1)
_datetimes = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),  # naive
)

goods_items = st.builds(
    GoodsItem,
    line=_ints,
    hs_code=_codes,
    description=_codes,
    packages=_ints,
    gross_weight_kg=_floats,
    value_amount=_floats,
    value_currency=_codes,
    origin_country=_codes,
    package_type=st.none() | _codes,
    un_number=st.none() | _codes,
)
parties = st.builds(
    Party,
    role=st.sampled_from(["CONSIGNOR", "CONSIGNEE", "NOTIFY", "MANUFACTURER", "SELLER", "BUYER"]),
    name=_codes,
    address=st.builds(Address, city=_codes, country=_codes, street=st.none() | _codes, postcode=st.none() | _codes),
    identifier=st.none() | _codes,
    aeo_certificate=st.none() | _codes,
)
manifests = st.builds(
    Manifest,
    manifest_id=_codes,
    version=_ints,
    mode=st.sampled_from(["SEA", "AIR", "ROAD", "RAIL"]),
    filed_at=_datetimes,
    filer=st.builds(Filer, id=_codes, name=_codes),
    document=st.builds(
        Document,
        type=st.sampled_from(["MASTER_BL", "HOUSE_BL", "MASTER_AWB", "HOUSE_AWB", "CMR", "CIM"]),
        number=_codes,
        master_number=st.none() | _codes,
    ),
    conveyance=st.builds(Conveyance, vessel_imo=st.none() | _codes, flight_number=st.none() | _codes),
    route=st.builds(
        Route,
        loading_port=_codes,
        discharge_port=_codes,
        departure_at=_datetimes,
        arrival_at=_datetimes,
        transshipment_ports=st.lists(_codes, max_size=4),
        routing_countries=st.lists(_codes, max_size=4),
    ),
    parties=st.lists(parties, max_size=5),
    goods=st.lists(goods_items, max_size=5),
    total_gross_weight_kg=_floats,
    total_packages=_ints,
    containers=st.lists(st.builds(Container, number=_codes), max_size=3),
)

_json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30))
json_values = st.recursive(
    _json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)),
    max_leaves=30,
)


def _valid_json() -> bytes:
    return msgspec.json.encode(make_manifest())


_VALID_JSON = _valid_json()
_VALID_AVRO = [Codec().encode("Manifest", make_manifest()), Codec().encode("Manifest", make_air_manifest())]


@st.composite
def mutated(draw, base: bytes) -> bytes:
    """``base`` with a few bytes flipped, cut, inserted or deleted."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[i:]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[i : i + draw(st.integers(1, 16))]
    return bytes(data)


@st.composite
def json_manifest_variants(draw) -> bytes:
    """The valid manifest's JSON with one field replaced by an arbitrary JSON value."""
    obj = msgspec.json.decode(_VALID_JSON)
    target = obj
    path = draw(st.sampled_from([("manifest_id",), ("version",), ("filed_at",), ("route", "departure_at"),
                                 ("goods",), ("goods", 0, "packages"), ("goods", 0, "gross_weight_kg"),
                                 ("parties", 0, "name"), ("containers", 0), ("document", "type"), ("total_packages",)]))
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = draw(json_values)
    return msgspec.json.encode(obj)


kafka_values = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=300).map(lambda b: b"\x00\x00\x00\x00\x01" + b),
    st.sampled_from(_VALID_AVRO).flatmap(mutated),
    json_manifest_variants(),
)
json_lines = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300),
    json_values.map(msgspec.json.encode),
    st.just(_VALID_JSON).flatmap(mutated),
    json_manifest_variants(),
)
