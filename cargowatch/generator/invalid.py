"""Planting exactly one rejection code (contract §2) into an otherwise valid manifest.

Each planter edits the manifest's JSON mapping in place and returns the path of the
planted fault (as the validator reports paths: ``goods[0].hs_code``). The mistakes are
the ones filers make: ``UK`` for GB, ``RMB`` for CNY, a mistyped check digit, "as per
invoice" for a description, "same as consignee" for a notify party, a wrong type.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from cargowatch.generator import draws
from enrichers.refdata import ReferenceData
from schemas.validation.checkdigits import awb_check_digit, imo_check_digit, iso6346_check_digit

Manifest = dict[str, Any]

#: Modes a code can be planted in (the fault needs a container, a vessel or a waybill).
MODES_FOR_CODE: dict[str, tuple[str, ...]] = {
    "CONTAINER_CHECK_DIGIT": ("SEA",),
    "IMO_CHECK_DIGIT": ("SEA",),
    "AWB_CHECK_DIGIT": ("AIR",),
}
_BAD_COUNTRIES = ("UK", "EN", "XX", "CHN", "GER", "EU", "U.S.", "Holland")
_BAD_CURRENCIES = ("RMB", "EURO", "US$", "NTD", "YEN", "STG", "USDT", "EUR0")
_VAGUE = ("General cargo", "AS PER INVOICE", "FAK", "Gifts", "said to contain general cargo", "Consolidated cargo")
_PLACEHOLDERS = ("UNKNOWN", "n/a", "-", "SAME AS CONSIGNEE", "Unknown consignee", "N/A")


def _wrong_digit(right: int, rng: random.Random) -> str:
    return str((right + draws.randrange(rng, 1, 10)) % 10)


def _container(m: Manifest, rng: random.Random, ref: ReferenceData) -> str:
    i = rng.randrange(len(m["containers"]))
    number = m["containers"][i]["number"]
    if rng.random() < 0.75:
        number = number[:10] + _wrong_digit(iso6346_check_digit(number[:10]), rng)
    else:  # malformed: a digit lost, or a space typed in
        number = number[:4] + number[5:] if rng.random() < 0.5 else f"{number[:4]} {number[4:]}"
    m["containers"][i]["number"] = number
    return f"containers[{i}].number"


def _imo(m: Manifest, rng: random.Random, ref: ReferenceData) -> str:
    imo = m["conveyance"]["vessel_imo"]
    m["conveyance"]["vessel_imo"] = imo[:6] + _wrong_digit(imo_check_digit(imo[:6]), rng)
    return "conveyance.vessel_imo"


def _awb(m: Manifest, rng: random.Random, ref: ReferenceData) -> str:
    doc = m["document"]
    key = "number" if doc["type"] == "MASTER_AWB" else "master_number"
    awb = doc[key]
    serial = awb[4:11]
    if rng.random() < 0.8:
        doc[key] = f"{awb[:4]}{serial}{_wrong_digit(awb_check_digit(serial), rng)}"
    else:
        doc[key] = awb[:-1]  # a digit short
    return f"document.{key}"


def _hs(m: Manifest, rng: random.Random, ref: ReferenceData) -> str:
    i = rng.randrange(len(m["goods"]))
    code = m["goods"][i]["hs_code"]
    r = rng.random()
    if r < 0.4:
        bad = code[:5]  # a digit short
    elif r < 0.6:
        bad = f"{code[:4]}.{code[4:6]}"
    else:  # six digits that are no subheading: a made-up suffix in the right chapter
        bad = code[:6]
        for _ in range(200):
            candidate = code[:4] + f"{rng.randrange(100):02d}"
            if candidate not in ref.hs_descriptions:
                bad = candidate
                break
        if bad == code[:6]:
            bad = code[:5]
    m["goods"][i]["hs_code"] = bad
    return f"goods[{i}].hs_code"


def _country(m: Manifest, rng: random.Random, ref: ReferenceData) -> str:
    bad = draws.choice(rng, [c for c in _BAD_COUNTRIES if c not in ref.countries])
    if rng.random() < 0.6:
        i = rng.randrange(len(m["goods"]))
        m["goods"][i]["origin_country"] = bad
        return f"goods[{i}].origin_country"
    i = rng.randrange(len(m["parties"]))
    m["parties"][i]["address"]["country"] = bad
    return f"parties[{i}].address.country"


def _locode(m: Manifest, rng: random.Random, ref: ReferenceData) -> str:
    field = draws.choice(rng, ("loading_port", "discharge_port"))
    code = m["route"][field]
    for _ in range(200):
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        candidate = code[:2] + "".join(draws.choice(rng, letters) for _ in range(3))
        if candidate not in ref.ports:
            m["route"][field] = candidate
            return f"route.{field}"
    m["route"][field] = code[:2] + "9Q9"
    return f"route.{field}"


def _currency(m: Manifest, rng: random.Random, ref: ReferenceData) -> str:
    i = rng.randrange(len(m["goods"]))
    m["goods"][i]["value_currency"] = draws.choice(rng, [c for c in _BAD_CURRENCIES if c not in ref.currencies])
    return f"goods[{i}].value_currency"


def _vague(m: Manifest, rng: random.Random, ref: ReferenceData) -> str:
    i = rng.randrange(len(m["goods"]))
    m["goods"][i]["description"] = draws.choice(rng, _VAGUE)
    return f"goods[{i}].description"


def _party_name(m: Manifest, rng: random.Random, ref: ReferenceData) -> str:
    parties = m["parties"]
    notify = [i for i, p in enumerate(parties) if p["role"] == "NOTIFY"]
    if notify and rng.random() < 0.6:
        i = notify[0]
        parties[i]["name"] = draws.choice(rng, ("SAME AS CONSIGNEE", "same as consignee"))
        return f"parties[{i}].name"
    roles = [i for i, p in enumerate(parties) if p["role"] in ("CONSIGNEE", "CONSIGNOR")]
    i = draws.choice(rng, roles)
    parties[i]["name"] = draws.choice(rng, _PLACEHOLDERS[:3] + _PLACEHOLDERS[4:])
    return f"parties[{i}].name"


def _required(m: Manifest, rng: random.Random, ref: ReferenceData) -> str:
    parties = m["parties"]
    r = rng.random()
    if r < 0.4:
        m["parties"] = [p for p in parties if p["role"] != "CONSIGNEE"]
        return "parties"
    role = "CONSIGNEE" if r < 0.7 else "CONSIGNOR"
    i = next(i for i, p in enumerate(parties) if p["role"] == role)
    parties[i]["name"] = draws.choice(rng, ("", "   "))
    return f"parties[{i}].name"


def _quantity(m: Manifest, rng: random.Random, ref: ReferenceData) -> str:
    goods = m["goods"]
    i = rng.randrange(len(goods))
    r = rng.random()
    if r < 0.35:
        goods[i]["packages"] = 0
        m["total_packages"] = sum(g["packages"] for g in goods) or 1
        return f"goods[{i}].packages"
    if r < 0.6:
        goods[i]["gross_weight_kg"] = draws.choice(rng, (0.0, -goods[i]["gross_weight_kg"]))
        return f"goods[{i}].gross_weight_kg"
    m["total_gross_weight_kg"] = round(m["total_gross_weight_kg"] * rng.uniform(1.5, 3.0) + 10, 1)
    return "total_gross_weight_kg"


def _dates(m: Manifest, rng: random.Random, ref: ReferenceData) -> str:
    from datetime import datetime, timedelta

    route = m["route"]
    if rng.random() < 0.7:
        dep = datetime.fromisoformat(route["departure_at"].replace("Z", "+00:00"))
        arr = dep - timedelta(hours=rng.uniform(6, 120))
        route["arrival_at"] = arr.strftime("%Y-%m-%dT%H:%M:%SZ")
        return "route.arrival_at"
    filed = datetime.fromisoformat(m["filed_at"].replace("Z", "+00:00"))
    m["filed_at"] = filed.replace(year=filed.year + 5).strftime("%Y-%m-%dT%H:%M:%SZ")
    return "filed_at"


def _schema(m: Manifest, rng: random.Random, ref: ReferenceData) -> str:
    r = rng.random()
    if r < 0.3:
        del m["route"]
        return "route"
    if r < 0.5:
        m["mode"] = draws.choice(rng, ("VESSEL", "OCEAN", "TRUCK"))
        return "mode"
    if r < 0.75:
        i = rng.randrange(len(m["goods"]))
        m["goods"][i]["packages"] = f"{m['goods'][i]['packages']} cartons"
        return f"goods[{i}].packages"
    if r < 0.9:
        m["filed_at"] = draws.choice(rng, ("28/02/2026 14:00", "yesterday", "2026-13-45T25:00:00Z"))
        return "filed_at"
    del m["goods"]
    return "goods"


PLANTERS: dict[str, Callable[[Manifest, random.Random, ReferenceData], str]] = {
    "SCHEMA": _schema,
    "REQUIRED": _required,
    "CONTAINER_CHECK_DIGIT": _container,
    "IMO_CHECK_DIGIT": _imo,
    "AWB_CHECK_DIGIT": _awb,
    "HS_CODE": _hs,
    "COUNTRY": _country,
    "LOCODE": _locode,
    "CURRENCY": _currency,
    "VAGUE_DESCRIPTION": _vague,
    "PARTY_NAME": _party_name,
    "QUANTITY": _quantity,
    "DATES": _dates,
}


def plant_invalid(manifest: Manifest, code: str, rng: random.Random, ref: ReferenceData) -> str:
    """Make ``manifest`` fail with ``code`` (and nothing else); returns the fault's path."""
    return PLANTERS[code](manifest, rng, ref)
