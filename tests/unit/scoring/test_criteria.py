"""The criteria parser: what analysts may write, and the errors they get otherwise."""

from __future__ import annotations

import polars as pl
import pytest

from streams.scoring.criteria import CriteriaError, compile_criterion, parse_criterion

LINES = pl.DataFrame(
    {
        "hs_code": ["840110", "851712", "930190", "840120"],
        "origin": ["IR", "CN", "US", "KP"],
        "mode": ["SEA", "AIR", "AIR", "SEA"],
        "value_per_kg": [5.0, 0.2, 100.0, None],
        "routing_countries": [["TR"], [], ["SY", "IQ"], None],
        "description": ["reactor parts", "smartphones", "rifle parts", "reactor vessel"],
        "new_trader": [True, False, None, False],
    }
)


def selected(text: str) -> list[int]:
    return LINES.with_row_index("r").filter(compile_criterion(text))["r"].to_list()


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        ('hs_code startswith "8401" and origin in [IR, KP]', [0, 3]),
        ("hs_code startswith 8401 and origin in [IR]", [0]),
        ('hs_code startswith ["93", "8517"]', [1, 2]),
        ("mode == AIR and value_per_kg < 0.5", [1]),
        ("mode == 'AIR' or origin == KP", [1, 2, 3]),
        ("not (origin in [IR, KP])", [1, 2]),
        ("origin not in [IR, KP]", [1, 2]),
        ("value_per_kg >= 5", [0, 2]),
        ('routing_countries contains "SY"', [2]),
        ("routing_countries in [TR, IQ]", [0, 2]),
        ('description contains "reactor"', [0, 3]),
        ('description matches "^r.*(parts|vessel)$"', [0, 2, 3]),
        ("new_trader", [0]),
        ("not new_trader and mode == SEA", [3]),
        ("hs_code endswith 20", [3]),
        ("mode != SEA", [1, 2]),
    ],
)
def test_criterion_selects(text, rows):
    assert selected(text) == rows


def test_precedence_and_binds_tighter_than_or():
    assert selected("origin == US or origin == IR and mode == AIR") == [2]


def test_fields_are_reported():
    assert parse_criterion("hs_code startswith 8401 and not new_trader").fields() == {"hs_code", "new_trader"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hs_cod startswith 8401", "unknown field 'hs_cod'"),
        ("origin == iran_code", "unknown field 'iran_code'"),
        ("value_per_kg < cheap", "unknown field 'cheap'"),
        ("value_per_kg < CHEAP", "is a number"),
        ("origin < 5", "not a number"),
        ("origin in [IR, KP", "expected ',' or ']'"),
        ("(origin == IR", "expected ')'"),
        ("origin == IR and", "expected a field name"),
        ("origin", "needs a comparison"),
        ("origin IR", "expected an operator"),
        ("__import__('os')", "unknown field '__import__'"),
        ("routing_countries == SY", "is a list"),
        ('description matches "("', "bad regular expression"),
        ("origin == IR; drop", "unexpected character"),
        ("", "empty criterion"),
        ("origin == IR origin == KP", "expected 'and', 'or'"),
    ],
)
def test_bad_criteria_are_refused(text, message):
    with pytest.raises(CriteriaError, match=None) as info:
        parse_criterion(text)
    assert message in str(info.value)
