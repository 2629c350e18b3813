"""Check digits of the identifiers on a manifest: ISO 6346 containers, IMO ships, air waybills.

>>> iso6346_check_digit("CSQU305438")
3
>>> is_valid_container("CSQU3054383")
True
>>> imo_check_digit("907472")
9
>>> is_valid_imo("IMO 9074729")
True
>>> is_valid_awb("020-12345675")
True
"""

from __future__ import annotations

import re
from operator import mul

_CONTAINER_RE = re.compile(r"^[A-Z]{3}[UJZR][0-9]{7}$")
_IMO_RE = re.compile(r"^(?:IMO ?)?([0-9]{7})$")
_AWB_RE = re.compile(r"^([0-9]{3})-?([0-9]{8})$")


def _iso6346_letter_values() -> dict[str, int]:
    # Letters count from 10 upward, skipping multiples of 11 (11, 22, 33).
    values, n = {}, 10
    for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        if n % 11 == 0:
            n += 1
        values[ch] = n
        n += 1
    return values


_LETTER = _iso6346_letter_values()
# Value of every character a container number may hold, and the weights 2**position.
_ISO6346_VALUE = {**_LETTER, **{str(d): d for d in range(10)}}
_ISO6346_WEIGHT = tuple(1 << i for i in range(10))


def iso6346_check_digit(owner_serial: str) -> int:
    """Check digit for the first 10 characters of a container number (owner code,
    category, 6-digit serial). A remainder of 10 gives 0.

    >>> iso6346_check_digit("MSKU123455")  # weighted sum mod 11 is 10
    0
    """
    values = map(_ISO6346_VALUE.__getitem__, owner_serial[:10])
    return sum(map(mul, values, _ISO6346_WEIGHT)) % 11 % 10


# The weighted sum of a serial's digits, three at a time: positions 4-6 and 7-9 of the
# number (weights 2**4..2**6 and 2**7..2**9), for every three-digit string.
_SERIAL_HEAD = {f"{n:03d}": sum(int(d) << (4 + i) for i, d in enumerate(f"{n:03d}")) for n in range(1000)}
_SERIAL_TAIL = {f"{n:03d}": sum(int(d) << (7 + i) for i, d in enumerate(f"{n:03d}")) for n in range(1000)}


def is_valid_container(number: str) -> bool:
    """True for a well-formed ISO 6346 number (``CSQU3054383``) with the right check digit.

    The check digit of :func:`iso6346_check_digit`, summed from look-ups once the shape
    is known (four letters, then digits): half the time, and every manifest has some.
    """
    if not _CONTAINER_RE.match(number):
        return False
    v = _LETTER
    total = (
        v[number[0]] + 2 * v[number[1]] + 4 * v[number[2]] + 8 * v[number[3]]
        + _SERIAL_HEAD[number[4:7]] + _SERIAL_TAIL[number[7:10]]
    )
    return total % 11 % 10 == int(number[10])


_IMO_WEIGHT = (7, 6, 5, 4, 3, 2)


def imo_check_digit(first_six: str) -> int:
    """IMO ship number check digit: digits weighted 7..2, sum mod 10."""
    if len(first_six) != 6:
        raise ValueError(f"an IMO check digit needs 6 digits, got {first_six!r}")
    return sum(map(mul, map(int, first_six), _IMO_WEIGHT)) % 10


def is_valid_imo(number: str) -> bool:
    """True for a 7-digit IMO number (optionally prefixed ``IMO``) with the right check digit."""
    m = _IMO_RE.match(number.strip())
    if not m:
        return False
    digits = m.group(1)
    return imo_check_digit(digits[:6]) == int(digits[6])


def awb_check_digit(serial_seven: str) -> int:
    """Air waybill check digit: the 7-digit serial modulo 7."""
    return int(serial_seven) % 7


def is_valid_awb(number: str) -> bool:
    """True for an air waybill number ``PPP-SSSSSSSC`` or 11 plain digits with a right mod-7 digit."""
    m = _AWB_RE.match(number.strip())
    if not m:
        return False
    serial = m.group(2)
    return awb_check_digit(serial[:7]) == int(serial[7])


def make_container(owner: str, serial: int, category: str = "U") -> str:
    """A valid container number from a 3-letter owner code and a serial (for generators)."""
    body = f"{owner}{category}{serial:06d}"
    return body + str(iso6346_check_digit(body))


def make_imo(six_digits: int) -> str:
    """A valid IMO number from its first six digits."""
    s = f"{six_digits:06d}"
    return s + str(imo_check_digit(s))


def make_awb(prefix: int, serial_seven: int) -> str:
    """A valid air waybill number ``PPP-SSSSSSSC``."""
    s = f"{serial_seven:07d}"
    return f"{prefix:03d}-{s}{awb_check_digit(s)}"
