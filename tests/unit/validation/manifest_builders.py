"""Builders of test manifests shared by validation, intake, codec and fuzz tests.

``make_manifest(**overrides)`` returns a Manifest that passes every rule with the
shared reference data (real UN/LOCODEs, HS 2022 subheadings, ISO codes, valid check
digits). Override top-level fields by name; nested pieces are plain Structs, so tests
replace them with ``msgspec.structs.replace``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from cargowatch.settings import Settings
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
    ValidationError,
)

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
REFDATA_DIR = Settings().refdata


def make_goods(line: int = 1, **overrides: Any) -> GoodsItem:
    """A valid goods line (mobile phones from China, 40 cartons, 400 kg)."""
    values: dict[str, Any] = dict(
        line=line,
        hs_code="851713",
        description="Smartphones, 5G, with chargers",
        packages=40,
        gross_weight_kg=400.0,
        value_amount=120000.0,
        value_currency="USD",
        origin_country="CN",
        package_type="CT",
    )
    values.update(overrides)
    return GoodsItem(**values)


def make_party(role: str = "CONSIGNEE", **overrides: Any) -> Party:
    """A valid party of the given role."""
    names = {
        "CONSIGNOR": ("Shenzhen Bright Star Electronics Co., Ltd.", "Shenzhen", "CN"),
        "CONSIGNEE": ("Müller Elektronik Handels GmbH", "Hamburg", "DE"),
        "NOTIFY": ("Rotterdam Forwarding B.V.", "Rotterdam", "NL"),
    }
    name, city, country = names.get(role, ("Acme Trading Ltd", "London", "GB"))
    values: dict[str, Any] = dict(
        role=role,
        name=name,
        address=Address(city=city, country=country, street="1 Harbour Road", postcode="20457"),
        identifier=f"{country}123456789",
    )
    values.update(overrides)
    return Party(**values)


def make_manifest(**overrides: Any) -> Manifest:
    """A fully valid typical sea manifest (house B/L, 3 goods lines, 2 containers).

    >>> make_manifest(total_packages=5).total_packages
    5
    """
    goods = [
        make_goods(1),
        make_goods(2, hs_code="870830", description="Brake pads for passenger cars", packages=10,
                   gross_weight_kg=250.5, value_amount=8000.0, value_currency="EUR", origin_country="DE"),
        make_goods(3, hs_code="64039900", description="Leather shoes for men", packages=50,
                   gross_weight_kg=600.0, value_amount=15000.0, origin_country="VN"),
    ]
    values: dict[str, Any] = dict(
        manifest_id="24NL0000000000001",
        version=1,
        mode="SEA",
        filed_at=NOW - timedelta(days=2),
        filer=Filer(id="NL123456789", name="Ocean Carrier B.V."),
        document=Document(type="HOUSE_BL", number="HBL-2026-000123", master_number="MAEU123456789"),
        conveyance=Conveyance(carrier_code="MAEU", vessel_imo="9321483", vessel_name="EMMA MAERSK", voyage="248W"),
        route=Route(
            loading_port="CNSHA",
            discharge_port="NLRTM",
            departure_at=NOW + timedelta(days=1),
            arrival_at=NOW + timedelta(days=30),
            transshipment_ports=["SGSIN"],
            routing_countries=["CN", "SG", "NL"],
        ),
        parties=[make_party("CONSIGNOR"), make_party("CONSIGNEE"), make_party("NOTIFY")],
        goods=goods,
        containers=[
            Container(number="CSQU3054383", seal_numbers=["SL123456"], size_type="45G1"),
            Container(number="MSKU1234550", seal_numbers=["SL123457"], size_type="22G1"),
        ],
        total_gross_weight_kg=sum(g.gross_weight_kg for g in goods),
        total_packages=sum(g.packages for g in goods),
    )
    values.update(overrides)
    return Manifest(**values)


def make_air_manifest(**overrides: Any) -> Manifest:
    """A valid master air waybill manifest (Frankfurt from Shanghai Pudong)."""
    values: dict[str, Any] = dict(
        mode="AIR",
        document=Document(type="MASTER_AWB", number="020-12345675"),
        conveyance=Conveyance(carrier_code="LH", flight_number="LH8405"),
        route=Route(
            loading_port="CNPVG",
            discharge_port="DEFRA",
            departure_at=NOW + timedelta(hours=6),
            arrival_at=NOW + timedelta(hours=20),
        ),
        containers=[],
    )
    values.update(overrides)
    return make_manifest(**values)


def replace(struct: Any, **changes: Any) -> Any:
    """A copy of a Struct with some fields changed."""
    return msgspec.structs.replace(struct, **changes)


def codes_and_paths(errors: list[ValidationError]) -> set[tuple[str, str]]:
    return {(e.code, e.path) for e in errors}
