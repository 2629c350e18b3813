"""Clean generated traffic is valid, realistic and consistent with the reference data."""

from __future__ import annotations

from collections import Counter

import msgspec
import pytest

from cargowatch.generator import generate, is_late_filing
from cargowatch.generator.config import GeneratorConfig, RiskRates
from cargowatch.generator.engine import _epoch
from cargowatch.generator.tables import port_fits
from schemas.model import Manifest, decode_manifest_json
from schemas.validation.checkdigits import is_valid_awb, is_valid_container, is_valid_imo

DOCUMENTS = {"SEA": {"MASTER_BL", "HOUSE_BL"}, "AIR": {"MASTER_AWB", "HOUSE_AWB"}, "ROAD": {"CMR"}, "RAIL": {"CIM"}}


def _encode(record: dict) -> bytes:
    return msgspec.json.encode(record)


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(ref):
    config = GeneratorConfig(traders=200, suppliers=300)
    first = b"".join(_encode(m) + _encode(lb) for m, lb in generate(400, 5, ref, config))
    second = b"".join(_encode(m) + _encode(lb) for m, lb in generate(400, 5, ref, config))
    other = b"".join(_encode(m) + _encode(lb) for m, lb in generate(400, 6, ref, config))
    assert first == second
    assert first != other


def test_every_clean_record_decodes_into_the_manifest_struct(clean_run):
    for manifest, label in clean_run:
        decoded = decode_manifest_json(_encode(manifest))
        assert isinstance(decoded, Manifest)
        assert label.invalid_code is None and label.risks == []
        assert manifest["filed_at"].endswith("Z")
        assert manifest["route"]["departure_at"].endswith("Z")


def test_identifiers_carry_valid_check_digits(clean_run):
    counts = Counter()
    for manifest, _ in clean_run:
        for container in manifest["containers"]:
            assert is_valid_container(container["number"]), container
            counts["containers"] += 1
        imo = manifest["conveyance"]["vessel_imo"]
        if imo:
            assert is_valid_imo(imo)
            counts["imo"] += 1
        document = manifest["document"]
        if document["type"] == "MASTER_AWB":
            assert is_valid_awb(document["number"])
            counts["awb"] += 1
        if document["type"] == "HOUSE_AWB":
            assert is_valid_awb(document["master_number"])
            counts["awb"] += 1
    assert counts["containers"] > 100 and counts["imo"] > 100 and counts["awb"] > 50


def test_ports_exist_and_fit_the_mode(clean_run, ref):
    modes = Counter()
    for manifest, _ in clean_run:
        mode = manifest["mode"]
        modes[mode] += 1
        route = manifest["route"]
        for code in (route["loading_port"], route["discharge_port"]):
            assert code in ref.ports, code
            assert port_fits(ref.ports[code], mode), (mode, code, ref.ports[code])
        for hub in route["transshipment_ports"]:
            assert port_fits(ref.ports[hub], mode), (mode, hub)
        for country in route["routing_countries"]:
            assert ref.is_country(country)
        assert route["routing_countries"][0] == manifest["goods"][0]["origin_country"]
        assert route["routing_countries"][-1] == route["discharge_port"][:2]
        assert manifest["document"]["type"] in DOCUMENTS[mode]
        if mode in ("AIR", "ROAD"):
            assert manifest["containers"] == []
        if mode == "SEA":
            assert manifest["containers"] and manifest["conveyance"]["vessel_imo"]
        if mode == "AIR":
            assert manifest["conveyance"]["flight_number"]
    assert set(modes) == {"SEA", "AIR", "ROAD", "RAIL"}
    assert modes["SEA"] > modes["AIR"] > modes["RAIL"]


def test_goods_are_real_subheadings_with_plausible_values(clean_run, ref, clean_generator):
    catalogue = clean_generator.catalogue
    for manifest, _ in clean_run:
        for g in manifest["goods"]:
            assert 6 <= len(g["hs_code"]) <= 10 and g["hs_code"].isdigit()
            assert ref.is_hs_subheading(g["hs_code"]), g["hs_code"]
            assert ref.is_currency(g["value_currency"])
            assert ref.is_country(g["origin_country"])
            assert g["packages"] >= 1 and g["gross_weight_kg"] > 0 and g["value_amount"] > 0
            assert len(g["description"].split()) >= 2
            lo, hi = catalogue.profile(g["hs_code"]).usd_per_kg
            usd_per_kg = g["value_amount"] / catalogue.amount(1.0, g["value_currency"]) / g["gross_weight_kg"]
            # Rounding of small amounts aside, the unit value sits in the chapter's range.
            if g["value_amount"] > 50:
                assert lo * 0.9 <= usd_per_kg <= hi * 1.1, (g, lo, hi)
        assert manifest["total_packages"] == sum(g["packages"] for g in manifest["goods"])
        assert abs(manifest["total_gross_weight_kg"] - sum(g["gross_weight_kg"] for g in manifest["goods"])) < 0.5


def test_filing_times_precede_departure_as_the_mode_requires(clean_run):
    leads = {"SEA": [], "AIR": []}
    for manifest, _ in clean_run:
        filed = _epoch(manifest["filed_at"])
        departure = _epoch(manifest["route"]["departure_at"])
        arrival = _epoch(manifest["route"]["arrival_at"])
        assert filed < departure < arrival
        assert not is_late_filing(manifest["mode"], filed, departure)
        if manifest["mode"] in leads and manifest["version"] == 1:
            leads[manifest["mode"]].append((departure - filed) / 3600)
    assert min(leads["SEA"]) >= 48 and max(leads["SEA"]) <= 240
    assert max(leads["AIR"]) <= 30


def test_parties_are_multilingual_with_legal_forms(clean_run):
    roles = Counter()
    countries = Counter()
    non_ascii = 0
    for manifest, _ in clean_run:
        for party in manifest["parties"]:
            roles[party["role"]] += 1
            countries[party["address"]["country"]] += 1
            assert party["name"].strip() and party["address"]["city"].strip()
            non_ascii += not party["name"].isascii()
    assert roles["CONSIGNOR"] == roles["CONSIGNEE"] == len(clean_run)
    assert roles["NOTIFY"] > len(clean_run) * 0.3
    assert roles["MANUFACTURER"] > 0 and roles["SELLER"] > 0 and roles["BUYER"] > 0
    assert len(countries) >= 25
    assert non_ascii > len(clean_run) * 0.05  # Chinese, Cyrillic, Thai, Turkish, German...


def test_returning_traders_carry_most_traffic(clean_run, clean_generator):
    per_consignee = Counter(label.consignee_id for _, label in clean_run)
    ranked = sorted(per_consignee.values(), reverse=True)
    top = ranked[: max(1, len(ranked) // 5)]
    assert sum(top) / sum(ranked) > 0.5
    # Every consignee of ordinary traffic is a registered trader with a stable id.
    registered = {row["trader_id"] for row in clean_generator.register()}
    assert set(per_consignee) <= registered
    # A returning trader keeps its name and country.
    seen: dict[str, tuple[str, str]] = {}
    for manifest, _ in clean_run:
        party = next(p for p in manifest["parties"] if p["role"] == "CONSIGNEE")
        key = (party["name"], party["address"]["country"])
        assert seen.setdefault(party["identifier"], key) == key


def test_clean_traffic_has_no_embargoed_or_strategic_content(clean_run, clean_generator):
    tables = clean_generator.tables
    embargoed = set(tables.embargoed_countries)
    for manifest, _ in clean_run:
        route = manifest["route"]
        touched = {route["loading_port"][:2], *(p[:2] for p in route["transshipment_ports"]), *route["routing_countries"]}
        touched |= {g["origin_country"] for g in manifest["goods"]}
        assert not touched & embargoed, manifest["manifest_id"]
        assert not any(g["hs_code"].startswith(tables.dual_use) for g in manifest["goods"])


@pytest.mark.parametrize("field", ["traders", "suppliers"])
def test_config_rejects_tiny_pools(field):
    from cargowatch.generator import GeneratorConfigError

    with pytest.raises(GeneratorConfigError):
        GeneratorConfig.from_mapping({field: 1})


def test_config_reads_flat_rates_and_rejects_unknown_keys():
    from cargowatch.generator import GeneratorConfigError

    cfg = GeneratorConfig.from_mapping({"undervaluation": 0.2, "start": "2026-05-01T00:00:00Z"})
    assert cfg.rates.undervaluation == 0.2 and cfg.start.year == 2026
    both = GeneratorConfig.from_mapping({"watchlist": "lists/national.csv", "rates": {"watchlist": 0.1}})
    assert both.watchlist == "lists/national.csv" and both.rates.watchlist == 0.1
    assert GeneratorConfig.from_mapping({"watchlist": 0.07}).rates.watchlist == 0.07
    with pytest.raises(GeneratorConfigError, match="unknown"):
        GeneratorConfig.from_mapping({"undervalution": 0.2})
    with pytest.raises(GeneratorConfigError):
        RiskRates(watchlist=1.5)
