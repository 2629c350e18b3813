"""The list loaders read the real published files and our small layout fixtures."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from enrichers.watchlist.loaders import (
    WatchlistFormatError,
    country_code,
    detect_format,
    load_watchlist,
    ofac_person_name,
)


def test_ofac_full_2021_counts(refdata: Path) -> None:
    v = load_watchlist(refdata / "sanctions" / "ofac_full_2021")
    assert v.list_id == "us_ofac_sdn"
    assert len(v.entries) == 8976
    kinds = Counter(e.kind for e in v.entries)
    assert kinds == {"person": 4620, "organization": 3673, "vessel": 406, "aircraft": 277}
    by_id = {e.entry_id: e for e in v.entries}
    bnc = by_id["306"]
    assert bnc.names[0].name == "BANCO NACIONAL DE CUBA"
    assert ("NATIONAL BANK OF CUBA", "STRONG") in [(n.name, n.strength) for n in bnc.names]
    assert ("BNC", "WEAK") in [(n.name, n.strength) for n in bnc.names]
    assert "CH" in bnc.countries and bnc.programmes == ["CUBA"]
    vessels_with_imo = [
        e for e in v.entries if e.kind == "vessel" and any(i.type == "IMO" for i in e.identifiers)
    ]
    assert len(vessels_with_imo) > 300
    # people are stored "First LAST", not OFAC's "LAST, First"
    assert sum(len(e.names) for e in v.entries) > 20000


def test_ofac_file_path_and_directory_agree(refdata: Path) -> None:
    d = load_watchlist(refdata / "sanctions" / "ofac_sample", fmt="ofac")
    f = load_watchlist(refdata / "sanctions" / "ofac_sample" / "sdn.csv")
    assert d.version == f.version and len(d.entries) == len(f.entries) == 17


def test_un_consolidated_counts(refdata: Path) -> None:
    v = load_watchlist(refdata / "sanctions" / "un" / "UN_consolidated_2026-02-27.xml")
    kinds = Counter(e.kind for e in v.entries)
    assert kinds == {"person": 730, "organization": 273}
    assert v.version.startswith("2026-02-27/")
    by_id = {e.entry_id: e for e in v.entries}
    adf = by_id["CDe.001"]
    assert adf.names[0].name == "ADF"
    assert "Allied Democratic Forces" in [n.name for n in adf.names]
    assert adf.countries == ["CD"]
    assert by_id["CDi.001"].names[0].name == "ERIC BADEGE"
    assert any(n.strength == "WEAK" for e in v.entries for n in e.names)  # quality "Low"


def test_contract_csv(fixtures_dir: Path) -> None:
    v = load_watchlist(fixtures_dir / "national.csv")
    assert v.list_id == "nl_national" and len(v.entries) == 4
    vessel = next(e for e in v.entries if e.entry_id == "NL-003")
    assert vessel.kind == "vessel"
    assert [(i.type, i.value) for i in vessel.identifiers] == [("IMO", "9187629")]
    assert [n.name for n in vessel.names] == ["NORDIC STAR"]
    assert (
        load_watchlist(fixtures_dir / "national.csv", list_id="other").entries[0].list_id == "other"
    )


def test_contract_csv_rejects_bad_kind(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text("list_id,entry_id,name,aliases,country,kind\nx,1,ACME,,DE,robot\n")
    with pytest.raises(WatchlistFormatError, match="kind"):
        load_watchlist(p)


@pytest.mark.parametrize("name", ["eu_fsf_sample.xml", "eu_fsf_sample.csv"])
def test_eu_layouts(fixtures_dir: Path, name: str) -> None:
    v = load_watchlist(fixtures_dir / name)
    assert detect_format(fixtures_dir / name) == "eu"
    assert v.list_id == "eu_fsf" and v.version.startswith("2026-03-02/")
    by_id = {e.entry_id: e for e in v.entries}
    saddam = by_id["EU.27.28"]
    assert saddam.kind == "person" and saddam.countries == ["IQ"] and saddam.programmes == ["TAQA"]
    assert saddam.names[0].name == "Saddam Hussein Al-Tikriti"
    scf = by_id["EU.5512.11"]
    assert scf.kind == "organization" and scf.countries == ["RU"]
    assert scf.identifiers[0].value == "1027739028712"
    if name.endswith(".xml"):
        assert ("Abu Ali", "WEAK") in [(n.name, n.strength) for n in saddam.names]


@pytest.mark.parametrize("name", ["opensanctions_entities.ftm.json", "targets.simple.csv"])
def test_opensanctions_layouts(fixtures_dir: Path, name: str) -> None:
    v = load_watchlist(fixtures_dir / name)
    assert detect_format(fixtures_dir / name) == "ftm"
    by_id = {e.entry_id: e for e in v.entries}
    assert set(by_id) == {"NK-2vXkq7Lz9Rk5tHqP3aYw8m", "Q7747", "ru-inn-7702070139"}
    vessel = by_id["NK-2vXkq7Lz9Rk5tHqP3aYw8m"]
    assert vessel.kind == "vessel" and ("IMO", "9187629") in [
        (i.type, i.value) for i in vessel.identifiers
    ]
    assert vessel.countries == ["KP"]
    assert "Владимир Владимирович Путин" in [n.name for n in by_id["Q7747"].names]


def test_helpers() -> None:
    assert ofac_person_name("BIN LADIN, Usama") == "Usama BIN LADIN"
    assert country_code("Democratic Republic of the Congo") == "CD"
    assert country_code("Iran (Islamic Republic of)") == "IR"
    assert country_code("nowhere land") is None
