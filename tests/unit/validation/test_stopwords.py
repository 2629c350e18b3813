"""Vague descriptions and placeholder party names: normalisation, languages, the qualification rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.validation import ValidationConfig, ValidationConfigError
from schemas.validation.config import DEFAULT_PATH
from schemas.validation.text import PhraseMatcher, normalise, words


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("  General   CARGO ", "general cargo"),
        ("F.A.K.", "fak"),
        ("Stückgut", "stuckgut"),
        ("MERCANCÍA GENERAL", "mercancia general"),
        ("Straße", "strasse"),
        ("said-to-contain: 20 ctns/plts", "said to contain 20 ctns plts"),
        ("Shipper’s load", "shippers load"),
        ("深圳电子有限公司", "深圳电子有限公司"),
        ("e\u0301chantillons", "echantillons"),
        ("\x00\x1f--", ""),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_words_fold_plurals_but_not_double_s() -> None:
    assert words("Parts, Glass, Gifts") == ("part", "glass", "gift")


VAGUE = {
    "en": ["General cargo", "GENERAL CARGO", "general-cargo", "Said to contain", "S.T.C.", "As per invoice",
           "FAK", "F.A.K.", "Freight all kinds", "freight of all kinds", "Gifts", "gift", "Parts", "spare parts",
           "Samples", "Consolidated", "consolidated cargo", "Various", "various goods", "STC", "goods",
           "1 X 40'HC STC 1200 CTNS GENERAL CARGO", "Parts for", "Misc.", "20 cartons", "...",
           "said to contain spare parts", "Electronic goods", "STC 20 CTNS GIFTS"],
    "fr": ["Marchandises diverses", "MARCHANDISES DIVERSES", "divers", "Échantillons", "cadeaux", "selon facture"],
    "de": ["Stückgut", "Stueckgut", "Sammelgut", "STÜCKGUT", "Ersatzteile", "Waren", "laut Rechnung"],
    "es": ["Diversos", "Mercancía general", "mercancias generales", "Repuestos", "muestras", "según factura"],
}

PRECISE = [
    "automotive parts for brake systems",
    "Brake pads for passenger cars",
    "Samples of cotton fabric, 150 g/m2",
    "STC: 100 cartons of ladies leather shoes",
    "Lithium-ion batteries for laptops",
    "Frozen shrimp, peeled",
    "Pièces détachées pour moteurs diesel marins",
    "Ersatzteile für Dieselmotoren",
    "Repuestos para frenos de camiones",
    "Glass bottles, 750 ml",
    "Spare parts for textile looms",
    "Clothing; parts of garments or of clothing accessories",  # HS 621790 text: categories narrow each other
]


@pytest.mark.parametrize("lang,description", [(lang, d) for lang, ds in VAGUE.items() for d in ds])
def test_vague_in_four_languages(config: ValidationConfig, lang: str, description: str) -> None:
    assert config.is_vague_description(description), f"{lang}: {description!r} should be vague"


@pytest.mark.parametrize("description", PRECISE)
def test_stop_phrase_with_qualification_is_not_vague(config: ValidationConfig, description: str) -> None:
    assert not config.is_vague_description(description)


PLACEHOLDERS = ["unknown", "UNKNOWN", "Unknown consignee", "n/a", "N/A", "N.A.", "NA", "-", "--", "...", "?",
                "same as consignee", "Same as Consignee", "same as above", "to be advised", "TBA", "to order",
                "TO THE ORDER OF SHIPPER", "to order of", "Inconnu", "Unbekannt", "Desconocido", "a la orden", "xxx"]
REAL_NAMES = ["Unknown Pleasures Records Ltd", "3M Deutschland GmbH", "A.N. Other & Sons", "Order Logistics GmbH & Co. KG",
              "Müller Elektronik Handels GmbH", "深圳电子有限公司", "Na Hoku Inc.", "X-Rite Europe GmbH", "7-Eleven Inc."]


@pytest.mark.parametrize("name", PLACEHOLDERS)
def test_placeholder_names(config: ValidationConfig, name: str) -> None:
    assert config.is_placeholder_name(name)


@pytest.mark.parametrize("name", REAL_NAMES)
def test_real_names(config: ValidationConfig, name: str) -> None:
    assert not config.is_placeholder_name(name)


def test_blank_name_is_not_a_placeholder(config: ValidationConfig) -> None:
    # Blank is REQUIRED, reported by the rules; PARTY_NAME is for text that names nobody.
    assert not config.is_placeholder_name("   ")


def test_phrase_matcher_splits_into_several_phrases() -> None:
    m = PhraseMatcher(["general cargo", "consolidated"], trivial=["of"], generic=["parts", "garments"])
    assert m.covers(words("consolidated general cargo"))
    assert not m.covers(words("general consolidated"))  # "general" alone is not a phrase
    assert m.covers(words("20 of 40hc"))  # nothing but trivial words and numbers
    assert m.covers(words("consolidated parts"))  # placeholders around one generic term
    assert not m.covers(words("parts of garments"))  # one category narrows the other


def test_shipped_file_has_four_languages_and_settings() -> None:
    import yaml

    data = yaml.safe_load(DEFAULT_PATH.read_text())
    for kind in ("placeholders", "generic_terms"):
        assert set(data["vague_descriptions"][kind]) >= {"en", "fr", "de", "es"}
    config = ValidationConfig.load()
    assert config.limits.max_record_bytes == 10 * 1024 * 1024
    assert config.quantities.weight_tolerance_pct == 5.0 and config.quantities.packages_tolerance == 0
    assert config.dates.max_future_filing_hours == 1
    assert config.version


def test_analyst_edits_take_effect(tmp_path: Path) -> None:
    path = tmp_path / "stopwords.yaml"
    path.write_text(
        "vague_descriptions:\n  placeholders: {en: [widgets]}\n"
        "placeholder_party_names:\n  phrases: [nobody]\n"
        "quantities: {weight_tolerance_pct: 1}\n"
    )
    config = ValidationConfig.load(path)
    assert config.is_vague_description("Widgets") and not config.is_vague_description("general cargo")
    assert config.is_placeholder_name("NOBODY")
    assert config.quantities.weight_tolerance_pct == 1.0


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("quantities: {weight_tolerance_pct: lots}", "weight_tolerance_pct"),
        ("quantities: {tolerance: 1}", "unknown key"),
        ("vague_descriptions: {phrases: [x]}", "unknown key `vague_descriptions.phrases`"),
        ("stop_words: [x]", "unknown key `stop_words`"),
        ("placeholder_party_names: {phrases: [null]}", "quote it"),
        ("- just a list", "mapping"),
        ("vague: [unclosed", "not valid YAML"),
    ],
)
def test_bad_config_says_what_is_wrong(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValidationConfigError, match=fragment):
        ValidationConfig.load(path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationConfigError, match="CARGOWATCH_STOPWORDS"):
        ValidationConfig.load(tmp_path / "nope.yaml")
