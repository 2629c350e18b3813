"""Name normalisation: scripts, legal forms, initials, numbers, punctuation."""

from __future__ import annotations

import pytest

from enrichers.watchlist.normalize import Normalizer, fold, skeleton


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
