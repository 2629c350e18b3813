"""`cargowatch generate`: files, labels, register, determinism, rate options."""

from __future__ import annotations

import msgspec
from typer.testing import CliRunner

from cargowatch.cli import _register, app
from cargowatch.generator import decode_labels

_register()


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, ["generate", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_generate_writes_manifests_labels_and_register(tmp_path, ref):
    from enrichers.traders import read_register_file
    from schemas.model import decode_manifest_json

    rates = tmp_path / "rates.yaml"
    rates.write_text("invalid: 0\nundervaluation: 0.5\ntraders: 100\nsuppliers: 150\n")
    out, labels, register = tmp_path / "m.jsonl", tmp_path / "l.jsonl", tmp_path / "t.jsonl"
    output = _run(
        "--count", "300", "--seed", "9", "--out", str(out), "--labels", str(labels),
        "--traders", str(register), "--rates", str(rates), "--rate-weight-anomaly", "0.25",
    )
    assert "wrote 300 manifests" in output
    lines = out.read_bytes().splitlines()
    decoded = decode_labels(labels.read_bytes())
    assert len(lines) == len(decoded) == 300
    for line, label in zip(lines, decoded, strict=True):
        manifest = decode_manifest_json(line)
        assert (manifest.manifest_id, manifest.version) == (label.manifest_id, label.version)
    fresh = [lb for lb in decoded if lb.version == 1 and not lb.replay]
    assert sum("UNDERVALUATION" in lb.risks for lb in fresh) > len(fresh) * 0.35
    assert sum("WEIGHT_ANOMALY" in lb.risks for lb in fresh) > len(fresh) * 0.12
    profiles = read_register_file(register)
    assert len(profiles) >= 250
    assert any(p.aeo_certificate and p.aeo_valid_until for p in profiles)
    assert {lb.consignee_id for lb in fresh if "NEW_TRADER" not in lb.risks} <= {p.trader_id for p in profiles}


def test_same_seed_same_bytes_from_the_command_line(tmp_path):
    args = ["--count", "150", "--seed", "4", "--rates"]
    rates = tmp_path / "small.yaml"
    rates.write_text("traders: 60\nsuppliers: 80\n")
    _run(*args, str(rates), "--out", str(tmp_path / "a.jsonl"), "--labels", str(tmp_path / "a.labels"))
    _run(*args, str(rates), "--out", str(tmp_path / "b.jsonl"), "--labels", str(tmp_path / "b.labels"))
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert (tmp_path / "a.labels").read_bytes() == (tmp_path / "b.labels").read_bytes()
    first = msgspec.json.decode((tmp_path / "a.jsonl").read_bytes().splitlines()[0])
    assert first["filed_at"].endswith("Z")


def test_bad_settings_exit_with_a_clear_message(tmp_path):
    rates = tmp_path / "bad.yaml"
    rates.write_text("undervalution: 0.2\n")
    result = CliRunner().invoke(app, ["generate", "--count", "5", "--out", str(tmp_path / "x"), "--rates", str(rates)])
    assert result.exit_code == 2
    assert "unknown generator setting" in result.output
    assert not (tmp_path / "x").exists()
