"""ISO 6346, IMO and air waybill check digits."""

from __future__ import annotations

import pytest

from schemas.validation.checkdigits import (
    _LETTER,
    awb_check_digit,
    imo_check_digit,
    is_valid_awb,
    is_valid_container,
    is_valid_imo,
    iso6346_check_digit,
    make_awb,
    make_container,
    make_imo,
)


def _iso6346_sum(owner_serial: str) -> int:
    return sum((_LETTER[c] if c.isalpha() else int(c)) * 2**i for i, c in enumerate(owner_serial))


@pytest.mark.parametrize("number", ["CSQU3054383", "MSKU1234550", "TGHU8765400", "HLXU0000050"])
def test_valid_containers(number: str) -> None:
    assert is_valid_container(number)


def test_letter_values_skip_multiples_of_eleven() -> None:
    assert _LETTER["A"] == 10 and _LETTER["K"] == 21 and _LETTER["L"] == 23 and _LETTER["V"] == 34
    assert all(v % 11 for v in _LETTER.values())


def test_remainder_ten_gives_check_digit_zero() -> None:
    # MSKU123455: weighted sum mod 11 is 10, and ISO 6346 writes that as 0.
    assert _iso6346_sum("MSKU123455") % 11 == 10
    assert iso6346_check_digit("MSKU123455") == 0
    assert is_valid_container("MSKU1234550")
    assert not is_valid_container("MSKU123455A")


@pytest.mark.parametrize(
    "number",
    [
        "CSQU3054384",  # wrong check digit
        "CSQU305438",  # too short
        "CSQA3054383",  # category must be U, J, Z or R
        "csqu3054383",  # lower case
        "CSQU 305438 3",  # spaces
        "",
        "C5QU3054383",
    ],
)
def test_invalid_containers(number: str) -> None:
    assert not is_valid_container(number)


def test_iso6346_matches_reference_sum() -> None:
    for body in ["CSQU305438", "MSKU123455", "TGHU876540", "HLXU000005", "ABCZ999999"]:
        assert iso6346_check_digit(body) == _iso6346_sum(body) % 11 % 10
    for serial in range(0, 10_000, 97):
        assert is_valid_container(make_container("TRL", serial))


@pytest.mark.parametrize("number", ["9074729", "IMO 9074729", "IMO9074729", "9321483", " 9321483 "])
def test_valid_imo(number: str) -> None:
    assert is_valid_imo(number)


@pytest.mark.parametrize("number", ["9074728", "907472", "90747290", "IMO-9074729", "abcdefg", "", "٩٠٧٤٧٢٩"])
def test_invalid_imo(number: str) -> None:
    assert not is_valid_imo(number)


def test_imo_weights() -> None:
    # 9*7 + 0*6 + 7*5 + 4*4 + 7*3 + 2*2 = 139 -> 9
    assert imo_check_digit("907472") == 9
    assert is_valid_imo(make_imo(123456))
    with pytest.raises(ValueError):
        imo_check_digit("12345")


@pytest.mark.parametrize("number", ["020-12345675", "02012345675", "176-98765435", " 020-12345675 "])
def test_valid_awb(number: str) -> None:
    assert is_valid_awb(number)


@pytest.mark.parametrize("number", ["020-12345674", "02012345674", "020-1234567", "20-12345675", "020 12345675", "ABC-12345675", ""])
def test_invalid_awb(number: str) -> None:
    assert not is_valid_awb(number)


def test_awb_mod7() -> None:
    assert awb_check_digit("1234567") == 1234567 % 7 == 5
    assert is_valid_awb(make_awb(157, 7654321))
