"""Reference data read from the shared directory in its official layouts."""

from pathlib import Path

import pytest

from enrichers.refdata import RefDataError, ReferenceData


def test_loads_hs_locode_currency_country(refdata_path: Path) -> None:
    ref = ReferenceData.load(refdata_path)
    assert len(ref.hs_subheadings) == 5612  # 5,613 rows less Comtrade's 999999
    assert ref.is_hs_subheading("851713") and ref.is_hs_subheading("8517130000")
    assert not ref.is_hs_subheading("851712")  # HS 2017 code, split in HS 2022
    assert not ref.is_hs_subheading("999999")
    assert ref.is_locode("NLRTM") and ref.ports["NLRTM"].is_seaport
    assert ref.ports["DEFRA"].is_airport
    assert not ref.is_locode("XXZZZ")
    assert ref.is_currency("EUR") and not ref.is_currency("XEU")  # withdrawn codes are not current
    assert ref.is_country("DE") and not ref.is_country("XX")


def test_missing_directory_says_how_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(RefDataError, match="refdata fetch"):
        ReferenceData.load(tmp_path / "nowhere")
