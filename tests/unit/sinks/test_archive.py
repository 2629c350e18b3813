"""The Parquet archive: layout, idempotency across crashes and replays, compaction."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import msgspec
import polars as pl
import pytest
from sink_samples import NOW, make_manifest, make_rejection, make_result

from schemas.model import Manifest
from sinks.archive import (
    COMMITTED_DIR,
    ArchiveError,
    ArchiveSink,
    committed_offsets,
    compact_archive,
    finish_compactions,
    scan_screened,
)
from sinks.base import RejectedRecord, ScreenedRecord, SinkBatch


def _batch(
    partition: int, offsets: range, lane_of=lambda o: "RED" if o % 2 else "GREEN", day_shift=0
) -> SinkBatch:
    batch = SinkBatch(topic="manifests.raw")
    for o in offsets:
        m = make_manifest(f"M{partition}-{o}", 1)
        r = make_result(m, lane_of(o), screened_at=NOW + timedelta(days=day_shift))
        batch.screened.append(ScreenedRecord(partition, o, m, r))
    return batch


def _rows(root: Path) -> pl.DataFrame:
    return scan_screened(root).collect()


def test_layout_columns_and_manifest_json_round_trip(tmp_path: Path) -> None:
    sink = ArchiveSink(tmp_path)
    sink.on_assign("manifests.raw", [0])
    batch = _batch(0, range(0, 4))
    batch.rejected.append(RejectedRecord(0, 4, make_rejection(offset=4), b"\x00bad"))
    sink.add(batch)
    sink.flush()
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet"))
    assert files == [
        "rejected/date=2026-11-28/part-p0-000000000000-000000000004.parquet",
        "screened/date=2026-11-28/part-p0-000000000000-000000000004.parquet",
    ]
    df = _rows(tmp_path)
    assert df.height == 4
    assert {
        "manifest_id",
        "version",
        "lane",
        "referral",
        "score",
        "ruleset_version",
        "screened_at",
        "mode",
        "loading_port",
        "discharge_port",
        "filer_id",
        "consignee_id",
        "hit_rule_ids",
        "manifest_json",
        "date",
    } <= set(df.columns)
    row = df.filter(pl.col("manifest_id") == "M0-1").row(0, named=True)
    assert row["lane"] == "RED" and row["consignee_id"] == "DE123456789"
    assert row["hit_rule_ids"] == ["DUAL_USE_GOODS", "WATCHLIST_PARTY"]
    # the contract JSON re-reads as the same manifest, so a backtest can re-score it
    assert msgspec.json.decode(row["manifest_json"], type=Manifest) == make_manifest("M0-1", 1)
    rejected = pl.read_parquet(tmp_path / "rejected" / "date=2026-11-28")
    assert rejected["error_codes"].to_list() == [["COUNTRY", "HS_CODE"]]
    assert rejected["raw"].to_list() == [b"\x00bad"]
    assert committed_offsets(tmp_path) == {0: 4}


def test_replayed_batch_adds_nothing_twice(tmp_path: Path) -> None:
    sink = ArchiveSink(tmp_path)
    sink.on_assign("manifests.raw", [0, 1])
    sink.add(_batch(0, range(0, 10)))
    sink.flush()
    # the worker crashed after the flush, before its commit: a new worker gets the batch again
    again = ArchiveSink(tmp_path)
    again.on_assign("manifests.raw", [0, 1])
    again.add(_batch(0, range(0, 15)))  # the replay plus five new records
    again.flush()
    df = _rows(tmp_path)
    assert df.height == 15
    assert df.select(pl.struct("manifest_id", "version").is_unique().all()).item()
    assert again.rows_skipped == 10


def test_crash_mid_flush_leaves_no_partial_batch(tmp_path: Path) -> None:
    sink = ArchiveSink(tmp_path)
    sink.on_assign("manifests.raw", [0])
    sink.add(_batch(0, range(0, 4)))
    sink.flush()
    # a flush of offsets 4..7 that died after one file and before its commit marker
    sink.add(_batch(0, range(4, 8)))
    sink.flush()
    (tmp_path / COMMITTED_DIR / "p0-000000000007").unlink()
    (tmp_path / COMMITTED_DIR / "p0-000000000003").touch()
    orphan = next(tmp_path.rglob("part-p0-000000000004-000000000007.parquet"))
    orphan.parent.joinpath(".part-p0-000000000008-000000000011.parquet.1234abcd.tmp").write_bytes(b"partial")
    for other in tmp_path.rglob("part-p0-000000000004-000000000007.parquet"):
        if other != orphan:
            other.unlink()
    recovered = ArchiveSink(tmp_path)
    recovered.on_assign("manifests.raw", [0])
    assert recovered.high_water == {0: 3}
    assert not list(tmp_path.rglob("part-p0-000000000004-*.parquet"))
    assert not list(tmp_path.rglob("*.tmp"))
    recovered.add(_batch(0, range(4, 8)))
    recovered.flush()
    assert sorted(_rows(tmp_path)["manifest_id"].to_list()) == sorted(f"M0-{o}" for o in range(8))


def test_other_partitions_are_left_alone_on_assign(tmp_path: Path) -> None:
    sink = ArchiveSink(tmp_path)
    sink.on_assign("manifests.raw", [0, 1])
    sink.add(_batch(1, range(0, 3)))
    sink.flush()
    (tmp_path / COMMITTED_DIR / "p1-000000000002").unlink()  # uncommitted, but not ours
    other = ArchiveSink(tmp_path)
    other.on_assign("manifests.raw", [0])
    assert len(list(tmp_path.rglob("part-p1-*.parquet"))) == 1


def test_compaction_merges_dedupes_and_keeps_idempotency(tmp_path: Path) -> None:
    sink = ArchiveSink(tmp_path)
    sink.on_assign("manifests.raw", [0, 1])
    for start in range(0, 30, 5):
        sink.add(_batch(0, range(start, start + 5), lane_of=lambda o: "RED"))
        sink.flush()
    sink.add(_batch(1, range(0, 5), lane_of=lambda o: "RED", day_shift=1))
    sink.flush()
    red = tmp_path / "screened" / "date=2026-11-28"
    # a duplicate of one row in a second file (e.g. two workers with one archive)
    dup = pl.read_parquet(next(red.glob("part-p0-000000000000-*.parquet"))).head(1)
    dup.with_columns(input_offset=pl.lit(999, pl.Int64)).write_parquet(
        red / "part-p0-000000000900-000000000999.parquet"
    )
    (tmp_path / COMMITTED_DIR / "p0-000000000999").touch()
    report = compact_archive(tmp_path)
    assert report.directories == 1 and report.files_in == 7 and report.files_out == 1
    assert report.rows_in == 31 and report.rows_out == 30
    assert [p.name.startswith("compact-") for p in red.glob("*.parquet")] == [True]
    assert _rows(tmp_path).height == 35
    # the high-water survives compaction: a replay of compacted offsets adds nothing
    after = ArchiveSink(tmp_path)
    after.on_assign("manifests.raw", [0, 1])
    after.add(_batch(0, range(20, 30), lane_of=lambda o: "RED"))
    after.flush()
    assert _rows(tmp_path).height == 35


def test_interrupted_compaction_is_completed(tmp_path: Path) -> None:
    sink = ArchiveSink(tmp_path)
    sink.on_assign("manifests.raw", [0])
    for start in range(0, 6, 2):
        sink.add(_batch(0, range(start, start + 2), lane_of=lambda o: "RED"))
        sink.flush()
    red = tmp_path / "screened" / "date=2026-11-28"
    originals = sorted(p.name for p in red.glob("*.parquet"))
    merged = pl.concat([pl.read_parquet(red / n) for n in originals])
    merged.write_parquet(red / "compact-x.parquet")
    (red / "_compaction.json").write_text(
        msgspec.json.encode({"new": "compact-x.parquet", "replaced": originals}).decode()
    )
    assert finish_compactions(tmp_path) == 1
    assert [p.name for p in red.glob("*.parquet")] == ["compact-x.parquet"]
    assert _rows(tmp_path).height == 6


def test_unwritable_archive_says_where(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(Exception, match="archive directory"):
        ArchiveSink(blocker / "archive")


def test_compact_command(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cargowatch.cli import _register, app

    _register()
    sink = ArchiveSink(tmp_path)
    sink.on_assign("manifests.raw", [0])
    for start in range(0, 9, 3):
        sink.add(_batch(0, range(start, start + 3), lane_of=lambda o: "RED"))
        sink.flush()
    result = CliRunner().invoke(app, ["archive", "compact", "--archive", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "3 files → 1" in result.output
    assert _rows(tmp_path).height == 9
    missing = CliRunner().invoke(app, ["archive", "compact", "--archive", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_a_failed_file_of_a_flush_fails_the_flush_and_writes_no_marker(tmp_path: Path, monkeypatch) -> None:
    """Files of one flush are written on several threads: one failing must fail the whole
    flush (the batch is not committed) with no marker, and the retry archives it once."""
    import sinks.archive as archive

    sink = ArchiveSink(tmp_path)
    sink.on_assign("manifests.raw", [0, 1, 2])
    real = archive._write_atomic

    def failing(df, path):
        if "screened" in str(path) and "part-p1-" in path.name:
            raise OSError(28, "No space left on device")
        real(df, path)

    monkeypatch.setattr(archive, "_write_atomic", failing)
    for partition in (0, 1, 2):
        sink.add(_batch(partition, range(0, 6)))
    with pytest.raises(OSError, match="No space"):
        sink.flush()
    assert committed_offsets(tmp_path) == {}
    # The worker is restarted: recovery removes what the failed flush left, the batch is replayed.
    monkeypatch.setattr(archive, "_write_atomic", real)
    again = ArchiveSink(tmp_path)
    again.on_assign("manifests.raw", [0, 1, 2])
    for partition in (0, 1, 2):
        again.add(_batch(partition, range(0, 6)))
    again.flush()
    df = _rows(tmp_path)
    assert df.height == 18 and df.select(pl.col("manifest_id").n_unique()).item() == 18
    assert committed_offsets(tmp_path) == {0: 5, 1: 5, 2: 5}
    again.close()
    sink.close()


def test_archives_of_the_earlier_layout_read_with_the_new(tmp_path: Path) -> None:
    """Files under date=…/lane=… (written before the lane became a column only) and under
    date=… read together, with the same columns."""
    sink = ArchiveSink(tmp_path)
    sink.on_assign("manifests.raw", [0])
    sink.add(_batch(0, range(0, 4)))
    sink.flush()
    day = tmp_path / "screened" / "date=2026-11-28"
    (new,) = day.glob("*.parquet")
    old = pl.read_parquet(new).with_columns(manifest_id=pl.col("manifest_id") + "-old")
    (day / "lane=RED").mkdir()
    old.filter(pl.col("lane") == "RED").write_parquet(day / "lane=RED" / "part-p9-000000000000-000000000001.parquet")
    rows = _rows(tmp_path)
    assert rows.height == 4 + old.filter(pl.col("lane") == "RED").height
    assert set(rows["lane"]) == {"GREEN", "RED"} and rows["date"].null_count() == 0


def test_an_archive_past_the_topics_end_is_refused(tmp_path: Path) -> None:
    sink = ArchiveSink(tmp_path)
    sink.on_assign("manifests.raw", [0])
    sink.add(_batch(0, range(0, 5)))
    sink.flush()  # high-water 4
    ArchiveSink(tmp_path).on_assign("manifests.raw", [0], {0: 5})  # the log has offsets 0-4: fine
    ArchiveSink(tmp_path).on_assign("manifests.raw", [0, 1], {0: 900, 1: 0})
    with pytest.raises(ArchiveError, match="CARGOWATCH_ARCHIVE_DIR"):
        ArchiveSink(tmp_path).on_assign("manifests.raw", [0], {0: 3})  # recreated: ends at 2


def test_taking_partitions_over_removes_only_their_half_written_files(tmp_path: Path) -> None:
    """Workers may share the archive directory: a worker taking partition 1 over removes
    partition 1's half-written files, never those of a partition another worker is
    writing at that moment (that worker's flush failed, and it crashed)."""
    day = tmp_path / "screened" / "date=2026-11-28"
    day.mkdir(parents=True)
    mine = day / ".part-p1-000000000010-000000000019.parquet.0a1b2c3d.tmp"
    theirs = day / ".part-p0-000000000000-000000000000.parquet.31aa1d87.tmp"
    mine.write_bytes(b"half")
    theirs.write_bytes(b"being written")
    ArchiveSink(tmp_path).on_assign("manifests.raw", [1])
    assert not mine.exists()
    assert theirs.exists()
