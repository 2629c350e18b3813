"""Every rejection code of contract §2: a valid and an invalid example each, with paths."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest
from manifest_builders import (
    NOW,
    codes_and_paths,
    make_air_manifest,
    make_goods,
    make_manifest,
    make_party,
    replace,
)

from schemas.model import Address, Container, Conveyance, Document, Route
from schemas.validation import ValidationConfig, validate, validate_batch
from schemas.validation.codes import ALL_CODES


def test_typical_manifests_are_valid(check) -> None:
    assert check(make_manifest()) == set()
    assert check(make_air_manifest()) == set()


# -- REQUIRED ------------------------------------------------------------------------------


def test_required_consignee_and_consignor(check) -> None:
    m = make_manifest(parties=[make_party("NOTIFY")])
    assert check(m) == {("REQUIRED", "parties")}
    only_consignee = make_manifest(parties=[make_party("CONSIGNEE")])
    errors = validate(only_consignee, *_ctx())
    assert [e.message for e in errors] == ["no CONSIGNOR party; add a party with role CONSIGNOR"]


def test_required_goods_not_empty(check) -> None:
    assert check(make_manifest(goods=[], total_packages=1, total_gross_weight_kg=1.0)) == {("REQUIRED", "goods")}


@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_required_blank_fields(check, blank: str) -> None:
    m = make_manifest(
        manifest_id=blank,
        filer=replace(make_manifest().filer, name=blank),
        document=Document(type="HOUSE_BL", number=blank, master_number=None),
    )
    m.parties[1] = make_party("CONSIGNEE", name=blank, address=Address(city=blank, country=blank))
    m.goods[0] = make_goods(1, description=blank, hs_code=blank, value_currency=blank, origin_country=blank)
    m.containers[0] = Container(number=blank)
    assert check(m) == {
        ("REQUIRED", "manifest_id"),
        ("REQUIRED", "filer.name"),
        ("REQUIRED", "document.number"),
        ("REQUIRED", "document.master_number"),
        ("REQUIRED", "parties[1].name"),
        ("REQUIRED", "parties[1].address.city"),
        ("REQUIRED", "parties[1].address.country"),
        ("REQUIRED", "goods[0].description"),
        ("REQUIRED", "goods[0].hs_code"),
        ("REQUIRED", "goods[0].value_currency"),
        ("REQUIRED", "goods[0].origin_country"),
        ("REQUIRED", "containers[0].number"),
    }


def test_master_number_optional_when_configured(ref) -> None:
    lenient = ValidationConfig.from_mapping({"required": {"house_master_number": False}})
    m = make_manifest(document=Document(type="HOUSE_BL", number="HBL1"))
    assert validate(m, ref, lenient, NOW) == []


def test_master_document_needs_no_master_number(check) -> None:
    assert check(make_manifest(document=Document(type="MASTER_BL", number="MAEU123456789"))) == set()


# -- check digits --------------------------------------------------------------------------


def test_container_check_digit(check) -> None:
    m = make_manifest()
    m.containers = [Container(number="CSQU3054383"), Container(number="CSQU3054384"), Container(number="CSQU 3054383")]
    assert check(m) == {
        ("CONTAINER_CHECK_DIGIT", "containers[1].number"),
        ("CONTAINER_CHECK_DIGIT", "containers[2].number"),
    }
    errors = {e.path: e.message for e in validate(m, *_ctx())}
    assert "expected 3" in errors["containers[1].number"]
    assert "not ISO 6346" in errors["containers[2].number"]


def test_container_remainder_ten_is_zero(check) -> None:
    m = make_manifest(containers=[Container(number="MSKU1234550")])
    assert check(m) == set()
    m = make_manifest(containers=[Container(number="MSKU1234551")])
    assert check(m) == {("CONTAINER_CHECK_DIGIT", "containers[0].number")}


@pytest.mark.parametrize("imo,ok", [("9321483", True), ("IMO 9074729", True), (None, True), ("", True),
                                    ("9321484", False), ("932148", False), ("IMO-9321483", False)])
def test_imo_check_digit(check, imo: str | None, ok: bool) -> None:
    m = make_manifest(conveyance=Conveyance(vessel_imo=imo))
    assert check(m) == (set() if ok else {("IMO_CHECK_DIGIT", "conveyance.vessel_imo")})


@pytest.mark.parametrize("number,ok", [("020-12345675", True), ("02012345675", True),
                                       ("020-12345676", False), ("02012345676", False),
                                       ("020-1234567", False), ("LH-12345675", False)])
def test_awb_check_digit_master(check, number: str, ok: bool) -> None:
    m = make_air_manifest(document=Document(type="MASTER_AWB", number=number))
    assert check(m) == (set() if ok else {("AWB_CHECK_DIGIT", "document.number")})


def test_awb_check_digit_house_checks_master_number(check) -> None:
    good = make_air_manifest(document=Document(type="HOUSE_AWB", number="HAWB-FRA-7781", master_number="020-12345675"))
    assert check(good) == set()
    bad = make_air_manifest(document=Document(type="HOUSE_AWB", number="HAWB-FRA-7781", master_number="020-12345670"))
    assert check(bad) == {("AWB_CHECK_DIGIT", "document.master_number")}


def test_bill_of_lading_number_is_not_an_awb(check) -> None:
    assert check(make_manifest(document=Document(type="MASTER_BL", number="020-12345670"))) == set()


# -- codes against reference data ----------------------------------------------------------


@pytest.mark.parametrize("hs,ok", [("851713", True), ("85171300", True), ("8517130000", True), ("040900", True),
                                   ("851799", False), ("85171", False), ("85171300001", False), ("8517.13", False),
                                   ("999999", False), ("ABCDEF", False), ("８５１７１３", False)])
def test_hs_code(check, hs: str, ok: bool) -> None:
    m = make_manifest()
    m.goods[2] = replace(m.goods[2], hs_code=hs)
    assert check(m) == (set() if ok else {("HS_CODE", "goods[2].hs_code")})


def test_country_everywhere(check) -> None:
    m = make_manifest()
    m.parties[0] = make_party("CONSIGNOR", address=Address(city="Shenzhen", country="CHN"))
    m.goods[1] = replace(m.goods[1], origin_country="XX")
    m.route = replace(m.route, routing_countries=["CN", "de", "NL"])
    assert check(m) == {
        ("COUNTRY", "parties[0].address.country"),
        ("COUNTRY", "goods[1].origin_country"),
        ("COUNTRY", "route.routing_countries[1]"),
    }


def test_locode(check) -> None:
    m = make_manifest()
    m.route = replace(m.route, loading_port="CNXXX", discharge_port="nlrtm", transshipment_ports=["SGSIN", "MYPKG", "ZZZZZ"])
    assert check(m) == {
        ("LOCODE", "route.loading_port"),
        ("LOCODE", "route.discharge_port"),
        ("LOCODE", "route.transshipment_ports[2]"),
    }


@pytest.mark.parametrize("currency,ok", [("EUR", True), ("USD", True), ("CNY", True), ("XOF", True),
                                         ("RMB", False), ("eur", False), ("XAU", False), ("XXX", False), ("DEM", False)])
def test_currency(check, currency: str, ok: bool) -> None:
    m = make_manifest()
    m.goods[0] = replace(m.goods[0], value_currency=currency)
    assert check(m) == (set() if ok else {("CURRENCY", "goods[0].value_currency")})


# -- descriptions and names ----------------------------------------------------------------


@pytest.mark.parametrize("description", ["General cargo", "FAK", "said to contain", "As per invoice", "Parts",
                                         "Marchandises diverses", "Stückgut", "Mercancía general", "1 x 40HC STC 20 CTNS GENERAL CARGO"])
def test_vague_description(check, description: str) -> None:
    m = make_manifest()
    m.goods[1] = replace(m.goods[1], description=description)
    assert check(m) == {("VAGUE_DESCRIPTION", "goods[1].description")}


@pytest.mark.parametrize("name", ["Unknown", "N/A", "-", "Same as consignee", "To be advised", "TBA", "to order"])
def test_placeholder_party_name(check, name: str) -> None:
    m = make_manifest()
    m.parties[1] = make_party("CONSIGNEE", name=name)
    assert check(m) == {("PARTY_NAME", "parties[1].name")}


def test_party_name_message_does_not_repeat_the_name() -> None:
    m = make_manifest()
    m.parties[1] = make_party("CONSIGNEE", name="Unknown")
    (error,) = validate(m, *_ctx())
    assert "Unknown" not in error.message and "legal name" in error.message


# -- quantities ----------------------------------------------------------------------------


def test_quantity_non_positive_lines(check) -> None:
    m = make_manifest()
    m.goods[0] = replace(m.goods[0], packages=0)
    m.goods[1] = replace(m.goods[1], gross_weight_kg=-3.0)
    m.goods[2] = replace(m.goods[2], value_amount=-1.0)
    assert check(m) == {
        ("QUANTITY", "goods[0].packages"),
        ("QUANTITY", "goods[1].gross_weight_kg"),
        ("QUANTITY", "goods[2].value_amount"),
    }


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_quantity_not_finite(check, bad: float) -> None:
    m = make_manifest(total_gross_weight_kg=bad)
    m.goods[0] = replace(m.goods[0], gross_weight_kg=bad, value_amount=bad)
    assert check(m) == {
        ("QUANTITY", "goods[0].gross_weight_kg"),
        ("QUANTITY", "goods[0].value_amount"),
        ("QUANTITY", "total_gross_weight_kg"),
    }


def test_weight_tolerance_is_larger_of_5_percent_and_1_kg(check) -> None:
    base = make_manifest()
    lines = sum(g.gross_weight_kg for g in base.goods)  # 1250.5 kg: 5 % = 62.5 kg
    assert check(make_manifest(total_gross_weight_kg=lines * 1.049)) == set()
    assert check(make_manifest(total_gross_weight_kg=lines * 0.951)) == set()
    assert check(make_manifest(total_gross_weight_kg=lines * 1.06)) == {("QUANTITY", "total_gross_weight_kg")}
    # Small consignments: 1 kg absolute tolerance.
    small = [make_goods(1, gross_weight_kg=2.0, packages=1)]
    assert check(make_manifest(goods=small, total_packages=1, total_gross_weight_kg=2.9)) == set()
    assert check(make_manifest(goods=small, total_packages=1, total_gross_weight_kg=3.2)) == {
        ("QUANTITY", "total_gross_weight_kg")
    }


def test_packages_must_add_up_exactly(check) -> None:
    total = sum(g.packages for g in make_manifest().goods)
    assert check(make_manifest(total_packages=total + 1)) == {("QUANTITY", "total_packages")}
    assert check(make_manifest(total_packages=0)) == {("QUANTITY", "total_packages")}


def test_totals_not_compared_when_a_line_is_already_wrong(check) -> None:
    m = make_manifest()
    m.goods[0] = replace(m.goods[0], packages=-40)
    assert check(m) == {("QUANTITY", "goods[0].packages")}


# -- dates ---------------------------------------------------------------------------------


def test_arrival_before_departure(check) -> None:
    m = make_manifest()
    m.route = replace(m.route, arrival_at=m.route.departure_at - timedelta(hours=1))
    assert check(m) == {("DATES", "route.arrival_at")}


def test_filed_in_the_future(check) -> None:
    assert check(make_manifest(filed_at=NOW + timedelta(minutes=30))) == set()
    assert check(make_manifest(filed_at=NOW + timedelta(hours=3))) == {("DATES", "filed_at")}


def test_absurd_years(check) -> None:
    m = make_manifest()
    m.route = replace(m.route, arrival_at=datetime(9999, 12, 31, 23, 59, tzinfo=NOW.tzinfo))
    assert check(m) == {("DATES", "route.arrival_at")}
    m = make_manifest(filed_at=datetime(1970, 1, 1, tzinfo=NOW.tzinfo))
    assert check(m) == {("DATES", "filed_at")}


def test_naive_timestamps_are_read_as_utc(check) -> None:
    m = make_manifest(filed_at=(NOW - timedelta(days=1)).replace(tzinfo=None))
    m.route = Route(
        loading_port="CNSHA",
        discharge_port="NLRTM",
        departure_at=(NOW + timedelta(days=1)).replace(tzinfo=None),
        arrival_at=(NOW + timedelta(days=20)).replace(tzinfo=None),
    )
    assert check(m) == set()


# -- SCHEMA from validation ----------------------------------------------------------------


def test_limits(check) -> None:
    goods = [make_goods(i, packages=1, gross_weight_kg=1.0) for i in range(1, 1001)]
    m = make_manifest(goods=goods, total_packages=1000, total_gross_weight_kg=1000.0, version=0)
    assert check(m) == {("SCHEMA", "goods"), ("SCHEMA", "version")}


def test_manifest_id_too_long(check) -> None:
    assert check(make_manifest(manifest_id="M" * 65)) == {("SCHEMA", "manifest_id")}
    assert check(make_manifest(manifest_id="M" * 64)) == set()


def test_text_too_long(check) -> None:
    m = make_manifest()
    m.goods[0] = replace(m.goods[0], description="cotton " * 1000)
    assert check(m) == {("SCHEMA", "goods[0].description")}


# -- all at once ---------------------------------------------------------------------------


def test_many_problems_reported_at_once_with_paths() -> None:
    m = make_manifest(
        filed_at=NOW + timedelta(days=2),
        conveyance=Conveyance(vessel_imo="9321480"),
        total_packages=7,
    )
    m.route = replace(m.route, loading_port="XXXXX", arrival_at=m.route.departure_at - timedelta(days=1))
    m.parties = [make_party("CONSIGNOR", name="n/a")]
    m.goods[0] = replace(m.goods[0], hs_code="12", description="General cargo", value_currency="ABC")
    m.goods[2] = replace(m.goods[2], origin_country="ZZ")
    m.containers[1] = Container(number="MSKU1234551")
    errors = validate(m, *_ctx())
    assert codes_and_paths(errors) == {
        ("DATES", "filed_at"),
        ("DATES", "route.arrival_at"),
        ("IMO_CHECK_DIGIT", "conveyance.vessel_imo"),
        ("LOCODE", "route.loading_port"),
        ("PARTY_NAME", "parties[0].name"),
        ("REQUIRED", "parties"),
        ("HS_CODE", "goods[0].hs_code"),
        ("VAGUE_DESCRIPTION", "goods[0].description"),
        ("CURRENCY", "goods[0].value_currency"),
        ("COUNTRY", "goods[2].origin_country"),
        ("QUANTITY", "total_packages"),
        ("CONTAINER_CHECK_DIGIT", "containers[1].number"),
    }
    assert {e.code for e in errors} <= set(ALL_CODES)
    assert all(e.message and not e.message.endswith(" ") for e in errors)


def test_error_list_is_bounded(ref) -> None:
    config = ValidationConfig.from_mapping({"limits": {"max_errors": 10, "max_goods_lines": 5000}})
    goods = [make_goods(i, hs_code="000000") for i in range(1, 101)]
    m = make_manifest(goods=goods, total_packages=4000, total_gross_weight_kg=40000.0)
    errors = validate(m, ref, config, NOW)
    assert len(errors) == 10
    assert errors[-1].path == "$" and "91 more errors" in errors[-1].message


def test_validate_batch_keeps_order() -> None:
    good, bad = make_manifest(), make_manifest(total_packages=-1)
    result = validate_batch([good, bad, good], *_ctx()[:2], NOW)
    assert [len(r) for r in result] == [0, 1, 0]


def test_validate_never_raises_on_wrong_types() -> None:
    m = make_manifest()
    m.goods[0].packages = "many"  # type: ignore[assignment]
    errors = validate(m, *_ctx())
    assert [(e.code, e.path) for e in errors] == [("SCHEMA", "$")]


def _ctx():
    from manifest_builders import REFDATA_DIR

    from enrichers.refdata import ReferenceData
    from schemas.validation import default_config

    return ReferenceData.load(REFDATA_DIR), default_config(), NOW
