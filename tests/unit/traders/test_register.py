"""Trader register files (CSV with the contract header, JSON lines) and AEO validity."""

from __future__ import annotations

from datetime import date

import pytest

from enrichers.traders import TraderRegister, TraderRegisterError, certificate_valid
from schemas.model import TraderProfile

CSV = """trader_id,name,country,aeo_certificate,aeo_valid_until,risk_notes
DE123,Acme Import GmbH,DE,DEAEOF00001,2027-06-30,
NL9,Rotterdam Trading BV,NL,,,
CN7,Shenzhen Bright Ltd,CN,CNAEO77,2024-01-31,late filings in 2023
"""


def test_load_csv(tmp_path):
    path = tmp_path / "traders.csv"
    path.write_text(CSV)
    register = TraderRegister.load(path)
    assert len(register) == 3
    acme = register.get("DE123")
    assert acme == TraderProfile("DE123", "Acme Import GmbH", "DE", "DEAEOF00001", "2027-06-30", None)
    assert register.get("NL9").aeo_certificate is None
    assert register.get("CN7").risk_notes == "late filings in 2023"
    assert register.get("nobody") is None


def test_load_jsonl(tmp_path):
    path = tmp_path / "traders.jsonl"
    path.write_text(
        '{"trader_id": "DE123", "name": "Acme", "country": "DE", "aeo_certificate": "X", "aeo_valid_until": "2027-06-30"}\n'
        "\n"
        '{"trader_id": "US1", "name": "Yankee Corp", "country": "us"}\n'
    )
    register = TraderRegister.load(path)
    assert register.get("US1").country == "US"
    assert register.get("DE123").aeo_valid_until == "2027-06-30"


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("id,name,country\nX,Y,DE\n", ".csv", "header lacks trader_id"),
        ("trader_id,name,country,colour\nX,Y,DE,red\n", ".csv", "unknown column(s) colour"),
        ("trader_id,name,country\nX,,DE\n", ".csv", ":2: name is empty"),
        ("trader_id,name,country\nX,Y,Germany\n", ".csv", "not an ISO alpha-2"),
        ("trader_id,name,country,aeo_certificate,aeo_valid_until\nX,Y,DE,C,31/12/2027\n", ".csv", "not an ISO date"),
        ('{"trader_id": "X"\n', ".jsonl", ":1: not JSON"),
        ('{"trader_id": "X", "name": "Y", "country": "DE", "vip": true}\n', ".jsonl", "unknown field(s) vip"),
    ],
)
def test_bad_register_is_refused(tmp_path, content, suffix, message):
    path = tmp_path / f"traders{suffix}"
    path.write_text(content)
    with pytest.raises(TraderRegisterError) as info:
        TraderRegister.load(path)
    assert message in str(info.value)


def test_certificate_validity():
    on = date(2026, 11, 28)
    mk = lambda cert, until: TraderProfile("T", "N", "DE", cert, until)  # noqa: E731
    assert certificate_valid(mk("C", "2026-11-28"), on)
    assert certificate_valid(mk("C", "2030-01-01"), on)
    assert not certificate_valid(mk("C", "2026-11-27"), on)  # expired
    assert not certificate_valid(mk("C", None), on)  # no validity date
    assert not certificate_valid(mk(None, "2030-01-01"), on)  # no certificate
    assert not certificate_valid(None, on)
