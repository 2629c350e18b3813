"""`cargowatch refdata fetch` against a local HTTP server serving the shared copies of the
official files (the machine has no internet): what it writes, ReferenceData reads."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import shutil
import socket
import threading
import zipfile
from pathlib import Path

import pytest

from cargowatch.refdata_fetch import FetchError, fetch, mirror_sources
from cargowatch.settings import Settings
from enrichers.refdata import ReferenceData


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture(scope="module")
def shared() -> Path:
    directory = Path(Settings.load().refdata)
    if not (directory / "hs" / "harmonized-system.csv").is_file():
        pytest.skip(f"no shared reference data in {directory}")
    return directory


@pytest.fixture(scope="module")
def mirror(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The official file names, as their publishers serve them."""
    root = tmp_path_factory.mktemp("mirror")
    shutil.copy(shared / "hs" / "harmonized-system.csv", root / "harmonized-system.csv")
    shutil.copy(shared / "hs" / "hs_sections.csv", root / "sections.csv")
    shutil.copy(shared / "unlocode" / "unlocode_country-codes.csv", root / "country-codes.csv")
    shutil.copy(shared / "currency" / "iso4217_codes-all.csv", root / "codes-all.csv")
    shutil.copy(shared / "currency" / "iso4217_table_a1.xml", root / "list-one.xml")
    # UNECE publishes the code list as a zip of three CSV parts in Windows-1252.
    lines = (shared / "unlocode" / "unlocode_code-list_2018-1_unece.csv").read_text(encoding="utf-8").splitlines(True)
    third = len(lines) // 3
    with zipfile.ZipFile(root / "loc242csv.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for n, chunk in enumerate((lines[:third], lines[third : 2 * third], lines[2 * third :]), start=1):
            zf.writestr(f"2024-2 UNLOCODE CodeListPart{n}.csv", "".join(chunk).encode("cp1252", errors="replace"))
    return root


@pytest.fixture(scope="module")
def server(mirror: Path):
    handler = functools.partial(_QuietHandler, directory=str(mirror))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_fetch_writes_the_layout_reference_data_reads(server: str, tmp_path: Path, shared: Path) -> None:
    results = fetch(tmp_path / "refdata", sources=mirror_sources(server))
    by_source = {r.source: r for r in results}
    assert set(by_source) == {"hs", "hs_sections", "unlocode", "unlocode_countries", "currency"}
    for r in results:
        data = Path(r.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == r.sha256 and len(data) == r.bytes
    assert by_source["hs"].rows == 6940
    assert by_source["unlocode"].rows == 110017
    assert Path(by_source["unlocode"].path).name == "unlocode_code-list_2024-2_unece.csv"

    ref = ReferenceData.load(tmp_path / "refdata")
    reference = ReferenceData.load(shared)
    assert ref.hs_descriptions == reference.hs_descriptions
    assert len(ref.ports) >= 100_000
    assert ref.ports["NLRTM"].is_seaport and ref.ports["DEFRA"].is_airport
    assert {"EUR", "USD", "CNY"} <= ref.currencies
    assert "GB" in ref.countries
    manifest = json.loads((tmp_path / "refdata" / "fetch-manifest.json").read_text())
    assert {f["source"] for f in manifest["files"]} == set(by_source)


def test_six_iso4217_xml_is_converted(server: str, tmp_path: Path) -> None:
    results = fetch(tmp_path, sources={"currency": f"{server}/list-one.xml"}, only=["currency"])
    assert results[0].rows > 200
    header = (tmp_path / "currency" / "iso4217_codes-all.csv").read_text().splitlines()[0]
    assert header == "Entity,Currency,AlphabeticCode,NumericCode,MinorUnit,WithdrawalDate"


def test_a_failed_required_source_changes_nothing(server: str, tmp_path: Path) -> None:
    hs = tmp_path / "hs" / "harmonized-system.csv"
    hs.parent.mkdir(parents=True)
    hs.write_text("old copy\n")
    sources = {**mirror_sources(server), "currency": f"{server}/missing.csv"}
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(tmp_path, sources=sources)
    assert hs.read_text() == "old copy\n"
    assert not list(tmp_path.rglob("*.part"))


def test_a_failed_optional_source_is_skipped(server: str, tmp_path: Path) -> None:
    sources = {**mirror_sources(server), "hs_sections": f"{server}/missing.csv"}
    results = fetch(tmp_path, sources=sources)
    assert "hs_sections" not in {r.source for r in results}
    assert (tmp_path / "hs" / "harmonized-system.csv").is_file()


def test_a_truncated_or_wrong_file_is_refused(server: str, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="lacks"):
        fetch(tmp_path, sources={"hs": f"{server}/codes-all.csv"}, only=["hs"])
    assert not (tmp_path / "hs" / "harmonized-system.csv").exists()


def test_offline_gives_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchError, match="cannot reach .* offline"):
        fetch(tmp_path, sources={"hs": f"http://127.0.0.1:{port}/harmonized-system.csv"}, only=["hs"], timeout=5)


def test_cli_fetch_from_a_mirror(server: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cargowatch.cli import _register, app

    _register()
    result = CliRunner().invoke(app, ["refdata", "fetch", "--into", str(tmp_path), "--mirror", server, "--only", "hs"])
    assert result.exit_code == 0, result.output
    assert "6,940" in result.output
    assert (tmp_path / "hs" / "harmonized-system.csv").is_file()
    bad = CliRunner().invoke(app, ["refdata", "fetch", "--into", str(tmp_path), "--source-url", "nope=http://x"])
    assert bad.exit_code == 2
