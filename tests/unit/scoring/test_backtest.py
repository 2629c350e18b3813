"""Backtest on an archive written by the archive sink: side-by-side lane rates, lane
changes, the plot; and the command line."""

from __future__ import annotations

import json

import msgspec
import pytest
import yaml

from cargowatch.generator import GeneratorConfig, RiskRates, generate
from cargowatch.settings import Settings
from schemas.model import Source, manifest_from_dict
from sinks.archive import ArchiveSink
from sinks.base import ScreenedRecord, SinkBatch
from streams.context import build_context
from streams.scoring import DEFAULT_RULESET, ScoringReference
from streams.scoring.backtest import BacktestError, run_backtest
from streams.screening import Inbound, screen_batch


@pytest.fixture(scope="module")
def archive(tmp_path_factory, refdata_dir):
    """400 generated manifests screened by the core with the default ruleset and archived."""
    settings = Settings.load(env={"CARGOWATCH_REFDATA": str(refdata_dir)})
    ctx = build_context(settings)
    records = [r for r, label in generate(400, 5, ctx.ref, GeneratorConfig(rates=RiskRates().replace(watchlist=0.0)))
               if label.valid and not label.replay]
    manifests = [manifest_from_dict(r) for r in records]
    inbound = [Inbound(i, m, m.filed_at, Source(kind="file", file="gen", line=i)) for i, m in enumerate(manifests)]
    now = sorted(m.filed_at for m in manifests)[int(len(manifests) * 0.95)]
    outcome = screen_batch(inbound, ctx, now)
    directory = tmp_path_factory.mktemp("archive")
    sink = ArchiveSink(directory)
    sink.on_assign("raw", [0])
    by_index = dict(outcome.screened)
    sink.add(SinkBatch(topic="raw", screened=[
        ScreenedRecord(0, i, by_index[i], r) for i, r in outcome.results
    ]))
    sink.flush()
    return directory, outcome


@pytest.fixture
def candidate(tmp_path):
    data = yaml.safe_load(DEFAULT_RULESET.read_text())
    data["version"] = "candidate-1"
    data["lanes"]["thresholds"] = {"YELLOW": 12, "RED": 50}
    data["rules"]["NEW_TRADER"]["weight"] = 30
    path = tmp_path / "candidate.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_backtest_reports_side_by_side(archive, candidate, tmp_path, ref):
    directory, outcome = archive
    out = tmp_path / "report"
    report = run_backtest(directory, candidate, DEFAULT_RULESET, ScoringReference.load(None, ref), out=out)
    assert report.manifests == len(outcome.results)
    names = [s.name for s in report.sides]
    assert names == ["archived", "baseline", "candidate"]
    archived, baseline, cand = report.sides
    assert cand.ruleset_version == "candidate-1"
    assert cand.selected_rate > baseline.selected_rate  # lower thresholds select more
    assert report.changed and all(c["baseline_lane"] != c["new_lane"] for c in report.changed)
    assert sum(report.transitions.values()) == len(report.changed)
    # same ruleset, same manifests: the re-scored baseline lands where the worker did
    # (up to trader-history timing), so archived and baseline rates are close
    assert abs(archived.selected_rate - baseline.selected_rate) < 0.05
    png = (out / "scores.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    saved = json.loads((out / "report.json").read_text())
    assert saved["changed_lane"] == len(report.changed)
    assert (out / "changes.csv").read_text().startswith("manifest_id,version,archived_lane")


def test_backtest_counts_officer_hit_rate_when_decisions_present(tmp_path, ref, candidate, archive):
    import polars as pl

    directory, _ = archive
    rows = pl.scan_parquet(directory / "screened" / "**" / "*.parquet", hive_partitioning=True).collect()
    rows = rows.with_columns(pl.when(pl.col("lane").is_in(["RED", "YELLOW"])).then(pl.lit("CONFIRMED"))
                             .otherwise(None).alias("outcome"))
    flat = tmp_path / "flat"
    flat.mkdir()
    rows.drop("date", "lane").with_columns(rows["lane"]).write_parquet(flat / "part.parquet")
    report = run_backtest(flat, candidate, DEFAULT_RULESET, ScoringReference.load(None, ref))
    baseline = next(s for s in report.sides if s.name == "baseline")
    assert baseline.decided > 0 and baseline.hit_rate is not None


def test_backtest_refuses_a_directory_without_archive(tmp_path, ref, candidate):
    with pytest.raises(BacktestError, match="no Parquet files"):
        run_backtest(tmp_path, candidate, DEFAULT_RULESET, ScoringReference.load(None, ref))


def test_backtest_command(archive, candidate, tmp_path):
    from typer.testing import CliRunner

    from cargowatch.cli import _register, app

    _register()

    directory, _ = archive
    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["backtest", "--archive", str(directory), "--rules", str(candidate),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "manifests change lane" in result.output
    assert (out / "scores.png").is_file()
    assert msgspec.json.decode((out / "report.json").read_bytes())["sides"][2]["ruleset_version"] == "candidate-1"
