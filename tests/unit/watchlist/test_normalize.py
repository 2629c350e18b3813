"""Name normalisation: scripts, legal forms, initials, numbers, punctuation."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from enrichers.watchlist.loaders import load_watchlist
from enrichers.watchlist.normalize import Normalizer, fold, load_rigour_org_types, skeleton


@pytest.fixture(scope="module")
def norm() -> Normalizer:
    return Normalizer.default()


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Siemens Aktiengesellschaft", "Siemens AG"),
        ("Apple Incorporated", "Apple Inc."),
        ("OAO Gazprom", "Open Joint Stock Company Gazprom"),
        ("Lloyds Banking Group Public Limited Company", "Lloyds Banking Group plc"),
        ("Procter & Gamble Co.", "Procter and Gamble Co."),
        ("Владимир Путин", "Vladimir Putin"),
    ],
)
def test_equivalent_spellings_normalise_alike(norm: Normalizer, a: str, b: str) -> None:
    na, nb = norm.normalize(a), norm.normalize(b)
    assert na.tokens == nb.tokens
    assert set(na.legal_forms) == set(nb.legal_forms)


def test_legal_forms_kept_apart_not_deleted(norm: Normalizer) -> None:
    n = norm.normalize("Deutsche Bank GmbH")
    assert n.tokens == ("deutsche", "bank") and n.legal_forms
    assert norm.normalize("Deutsche Bank AG").legal_forms != n.legal_forms
    # a name that is only a legal-form word is not emptied
    assert norm.normalize("Limited").tokens


def test_short_legal_forms_only_at_the_ends(norm: Normalizer) -> None:
    assert norm.normalize("Al-Qaida in Iraq").tokens == ("al", "qaida", "in", "iraq")
    assert norm.normalize("SA Trading").tokens == ("trading",)


def test_initials_numbers_and_punctuation(norm: Normalizer) -> None:
    assert norm.normalize("A.B.C. Company").tokens == ("abc",)
    assert norm.normalize("V. Putin").tokens == ("v", "putin")
    assert norm.normalize("1st International Bank").tokens == ("1", "international", "bank")
    assert norm.normalize("KKR Asian Fund III L.P.").numbers == ("3",)
    assert norm.normalize("Sheikh Isa Bin Tarif").tokens == ("isa", "bin", "tarif")
    assert norm.normalize("SiemensAG").joined == norm.normalize("Siemens AG").joined


def test_scripts(norm: Normalizer) -> None:
    assert norm.normalize("محمد علي").script == "abjad"
    assert norm.normalize("习近平").script == "cjk"
    assert fold("Müller") == "muller"
    assert skeleton("mohammed") == skeleton("mhmd") == "mhmd"
    assert skeleton("yasin") == "ysn"


def test_compiled_word_steps_equal_the_python_ones(refdata: Path) -> None:
    """The compiled core's word-level steps (``NativeNormalizer``) give the same
    ``NormalizedName`` as the Python reference on the UN list, the labelled name pairs
    and the negatives, and on the corner cases of each step."""
    forms = load_rigour_org_types(refdata / "name_matching" / "rigour_org_types.yml")
    compiled, reference = Normalizer(forms), Normalizer(forms, compiled=False)
    assert compiled._native is not None and reference._native is None
    un = load_watchlist(refdata / "sanctions" / "un" / "UN_consolidated_2026-02-27.xml")
    names = [n.name for e in un.entries for n in e.names]
    for file, columns in [
        ("nomenklatura_name_cases.csv", ("name1", "name2")),
        ("yente_negatives_global.csv", ("full_name",)),
        ("yente_negatives_us.csv", ("full_name",)),
    ]:
        with (refdata / "matching" / file).open(encoding="utf-8") as fh:
            names += [r[c] for r in csv.DictReader(fh) for c in columns if r.get(c)]
    names += [
        "", "   ", "!!!", "The Company", "Mr. and Mrs.", "Limited", "Co Ltd", "SA Trading",
        "Acme Intl. Trading Co.", "intl_x Natl-Mfg", "Int'l Bank", "O'Brien's Shipping",
        "A.B.C. Company", "J. R. R. Tolkien", "1st 2nd 003rd 0 007 4x 21th", "KKR Fund III L.P.",
        "Open Joint Stock Company Gazprom", "Gazprom OAO Ltd", "Procter & Gamble",
        "Владимир Путин", "习近平", "محمد علي", "Straße ½ Ⅻ", "ＡＢＣ Ｃｏ",
    ]  # fmt: skip
    assert len(names) > 50_000
    assert [compiled.normalize(n) for n in names] == [reference.normalize(n) for n in names]
