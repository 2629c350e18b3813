"""Planted risks and invalid records: at the configured rates, labelled one-to-one, and
each one really present in its manifest."""

from __future__ import annotations

from collections import Counter

import msgspec
import pytest

from cargowatch.generator import (
    INVALID_CODES,
    GeneratorConfig,
    ManifestGenerator,
    RiskRates,
    is_late_filing,
)
from cargowatch.generator.engine import _epoch

RATE_FIELD = {
    "WATCHLIST_PARTY": "watchlist",
    "EMBARGO_ROUTE": "embargo_route",
    "ROUTE_ANOMALY": "route_anomaly",
    "DUAL_USE_GOODS": "dual_use",
    "UNDERVALUATION": "undervaluation",
    "DESCRIPTION_MISMATCH": "description_mismatch",
    "WEIGHT_ANOMALY": "weight_anomaly",
    "TRUSTED_TRADER": "trusted_trader",
}


def _new_valid(run):
    return [(m, lb) for m, lb in run if lb.invalid_code is None and lb.version == 1 and not lb.replay]


def test_labels_line_up_one_to_one_with_records(risky_run):
    for i, (manifest, label) in enumerate(risky_run):
        assert label.record == i
        assert label.manifest_id == manifest["manifest_id"]
        assert label.version == manifest["version"]
        assert label.mode == manifest["mode"] or label.invalid_path == "mode"
    ids = Counter((m["manifest_id"], m["version"]) for m, lb in risky_run if not lb.replay)
    assert max(ids.values()) == 1  # only replays repeat an (id, version)


@pytest.mark.parametrize("risk", sorted(RATE_FIELD))
def test_risks_appear_at_roughly_the_configured_rate(risky_run, risky_generator, risk):
    rate = getattr(risky_generator.rates, RATE_FIELD[risk])
    fresh = _new_valid(risky_run)
    share = sum(risk in lb.risks for _, lb in fresh) / len(fresh)
    assert abs(share - rate) < max(0.02, rate * 0.4), share


def test_late_filing_and_new_trader_are_planted_and_true(risky_run):
    fresh = _new_valid(risky_run)
    late = [(m, lb) for m, lb in fresh if "LATE_FILING" in lb.risks]
    assert 0.03 < len(late) / len(fresh) < 0.08
    for m in (m for m, lb in fresh):
        planted = any(m is x for x, _ in late)
        assert is_late_filing(m["mode"], _epoch(m["filed_at"]), _epoch(m["route"]["departure_at"])) == planted
    new = [lb for _, lb in fresh if "NEW_TRADER" in lb.risks]
    assert len(new) / len(fresh) > 0.04
    assert all(lb.consignee_first_seen or lb.consignor_first_seen for lb in new)


def test_every_rejection_code_is_planted(risky_run):
    codes = Counter(lb.invalid_code for _, lb in risky_run if lb.invalid_code)
    assert set(codes) == set(INVALID_CODES)
    assert all(not lb.risks for _, lb in risky_run if lb.invalid_code)


def test_validator_reports_exactly_the_planted_code(risky_run, ref):
    """The rejection code the validation stage reports is the planted one, and records
    without a planted fault pass."""
    from datetime import UTC, datetime

    rules = pytest.importorskip("schemas.validation.rules")
    config = pytest.importorskip("schemas.validation.config")
    from schemas.model import decode_manifest_json

    validator = rules.validator_for(ref, config.ValidationConfig.load())
    now = datetime(2026, 11, 28, tzinfo=UTC)
    mismatches = []
    for manifest, label in risky_run:
        try:
            got = {e.code for e in validator.validate(decode_manifest_json(msgspec.json.encode(manifest)), now)}
        except msgspec.ValidationError:
            got = {"SCHEMA"}
        want = {label.invalid_code} if label.invalid_code else set()
        if got != want:
            mismatches.append((label.record, want, got, label.invalid_path))
    assert not mismatches, mismatches[:5]


def test_planted_risks_are_in_the_manifest(risky_run, risky_generator, ref):
    tables = risky_generator.tables
    catalogue = risky_generator.catalogue
    embargoed = set(tables.embargoed_countries)
    seen = Counter()
    for manifest, label in _new_valid(risky_run):
        goods = manifest["goods"]
        route = manifest["route"]
        if "DUAL_USE_GOODS" in label.risks:
            assert any(g["hs_code"].startswith(tables.dual_use) for g in goods)
            seen["dual"] += 1
        if "EMBARGO_ROUTE" in label.risks:
            touched = {route["loading_port"][:2], *(p[:2] for p in route["transshipment_ports"])}
            touched |= set(route["routing_countries"]) | {g["origin_country"] for g in goods}
            assert touched & embargoed
            assert label.details["embargo_country"] in touched
            seen["embargo"] += 1
        if "ROUTE_ANOMALY" in label.risks:
            hubs = route["transshipment_ports"]
            origin = route["routing_countries"][0]
            usual = set(tables.origins[origin].hubs) if origin in tables.origins else set()
            assert len(hubs) >= 2 and not set(hubs) & usual
            assert all(ref.ports[h].is_seaport for h in hubs)
            seen["route"] += 1
        if "UNDERVALUATION" in label.risks:
            for g in goods:
                usd = g["value_amount"] / catalogue.amount(1.0, g["value_currency"])
                low = catalogue.profile(g["hs_code"]).usd_per_kg[0]
                assert usd / g["gross_weight_kg"] < low * 0.2 or usd <= 1.5
            seen["under"] += 1
        if "DESCRIPTION_MISMATCH" in label.risks:
            line = goods[int(label.details["mismatch_line"]) - 1]
            other = label.details["described_as_hs"]
            assert ref.hs_sections[other] != ref.hs_sections[line["hs_code"][:6]]
            seen["mismatch"] += 1
        if "WEIGHT_ANOMALY" in label.risks:
            variant = label.details["weight_variant"]
            total = manifest["total_gross_weight_kg"]
            if variant == "underweight_containers":
                assert total < 50 * len(manifest["containers"])
            elif variant == "overweight_containers":
                assert total > 26000 * len(manifest["containers"])
            else:
                assert any(g["packages"] == 1 and g["gross_weight_kg"] >= 25000 for g in goods)
            seen["weight"] += 1
        if "TRUSTED_TRADER" in label.risks:
            assert any(p["aeo_certificate"] for p in manifest["parties"])
        if "WATCHLIST_PARTY" in label.risks:
            entry = label.watchlist_entry
            assert entry is not None
            party = [p for p in manifest["parties"] if p["role"] == entry.party_role and p["name"] == entry.variant]
            assert party, entry
            seen["watch"] += 1
    assert min(seen.values()) > 20, seen


def test_watchlisted_names_are_real_entries_spelled_differently(risky_run, ref):
    from enrichers.watchlist.loaders import load_watchlist

    listed = load_watchlist(ref.directory / "sanctions" / "un" / "UN_consolidated_2026-02-27.xml")
    by_id = {e.entry_id: e for e in listed.entries}
    kinds = Counter()
    for _, label in risky_run:
        entry = label.watchlist_entry
        if entry is None:
            continue
        assert entry.list_id == listed.list_id
        assert entry.entry_id in by_id
        kinds[entry.variant_kind] += 1
        if entry.variant_kind != "exact":
            assert entry.variant.upper() != entry.name.upper()
    assert {"transliteration", "typo", "word_order", "legal_form"} <= set(kinds), kinds


def test_amendments_and_replays_refer_to_earlier_records(risky_run):
    earlier: dict[tuple[str, int], bytes] = {}
    amendments = late = replays = 0
    for manifest, label in risky_run:
        key = (manifest["manifest_id"], manifest["version"])
        if label.replay:
            assert earlier[key] == msgspec.json.encode(manifest)
            replays += 1
            continue
        if label.amends_version is not None:
            original = (manifest["manifest_id"], label.amends_version)
            assert original in earlier and manifest["version"] == label.amends_version + 1
            amendments += 1
            if "LATE_AMENDMENT" in label.risks:
                assert _epoch(manifest["filed_at"]) > _epoch(manifest["route"]["departure_at"])
                late += 1
        if label.invalid_code is None:
            earlier[key] = msgspec.json.encode(manifest)
    assert amendments > 100 and late > 30 and replays > 30


def test_a_plain_csv_watchlist_can_be_the_source(ref, tmp_path):
    path = tmp_path / "national.csv"
    path.write_text(
        "list_id,entry_id,name,aliases,country,kind\n"
        "nat_list,N-1,Golden Crescent Trading LLC,GCT LLC,AE,organization\n"
        "nat_list,N-2,Viktor Pavlovich Orlov,,RU,person\n",
        encoding="utf-8",
    )
    rates = RiskRates.none().replace(watchlist=0.5)
    gen = ManifestGenerator(ref, GeneratorConfig(rates=rates, watchlist=str(path), traders=100, suppliers=200), seed=3)
    entries = [lb.watchlist_entry for _, lb in gen.records(300) if lb.watchlist_entry]
    assert len(entries) > 100
    assert {e.entry_id for e in entries} == {"N-1", "N-2"}
    assert {e.list_id for e in entries} == {"nat_list"}
