"""The Parquet archive: layout, idempotency across crashes and replays, compaction."""

from __future__ import annotations

import os
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


def _crash_before_marker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next flushes die after their data files are in place, before their marker."""

    def crash(self, high_water):
        raise OSError(5, "Input/output error (the worker died here)")

    monkeypatch.setattr(ArchiveSink, "_write_marker", crash)


def test_crash_mid_flush_leaves_no_partial_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sink = ArchiveSink(tmp_path)
    sink.on_assign("manifests.raw", [0])
    sink.add(_batch(0, range(0, 4)))
    sink.flush()
    # a flush of offsets 4..7 that died after its files and before its commit marker
    with monkeypatch.context() as patch:
        _crash_before_marker(patch)
        sink.add(_batch(0, range(4, 8)))
        with pytest.raises(OSError):
            sink.flush()
    orphan = next(tmp_path.rglob("part-p0-000000000004-000000000007.parquet"))
    orphan.parent.joinpath(".part-p0-000000000008-000000000011.parquet.1234abcd.tmp").write_bytes(b"partial")
    half_marker = tmp_path / COMMITTED_DIR / ".m-00000000000000000001-1234abcd.json.tmp"
    half_marker.write_bytes(b'{"high_wa')
    being_written = tmp_path / COMMITTED_DIR / ".m-00000000000000000002-1234abcd.json.tmp"
    being_written.write_bytes(b'{"high_wa')
    os.utime(half_marker, (1, 1))  # a crash long ago; the other one may be a live worker's
    recovered = ArchiveSink(tmp_path)
    recovered.on_assign("manifests.raw", [0])
    assert recovered.high_water == {0: 3}
    assert not list(tmp_path.rglob("part-p0-000000000004-*.parquet"))
    assert list(tmp_path.rglob("*.tmp")) == [being_written]
    recovered.add(_batch(0, range(4, 8)))
    recovered.flush()
    assert sorted(_rows(tmp_path)["manifest_id"].to_list()) == sorted(f"M0-{o}" for o in range(8))


def test_other_partitions_are_left_alone_on_assign(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sink = ArchiveSink(tmp_path)
    sink.on_assign("manifests.raw", [0, 1])
    _crash_before_marker(monkeypatch)
    sink.add(_batch(1, range(0, 3)))
    with pytest.raises(OSError):
        sink.flush()  # uncommitted, but not ours
    other = ArchiveSink(tmp_path)
    other.on_assign("manifests.raw", [0])
    assert len(list(tmp_path.rglob("part-p1-*.parquet"))) == 1


def test_a_flush_writes_one_file_a_day_for_all_its_partitions(tmp_path: Path) -> None:
    """A Parquet file costs ~2 ms of CPU whatever its size: a flush writes one per day and
    directory, named after every partition's range, and a single marker; a flush over
    more than PARTITIONS_PER_FILE partitions writes a file per group of them."""
    sink = ArchiveSink(tmp_path)
    sink.on_assign("manifests.raw", list(range(8)))
    for partition in (2, 0, 1):
        sink.add(_batch(partition, range(10 * partition, 10 * partition + 3)))
    sink.flush()
    day = tmp_path / "screened" / "date=2026-11-28"
    assert [p.name for p in day.glob("*.parquet")] == [
        "part-p0-000000000000-000000000002_p1-000000000010-000000000012_p2-000000000020-000000000022.parquet"
    ]
    assert committed_offsets(tmp_path) == {0: 2, 1: 12, 2: 22}
    for partition in range(8):
        sink.add(_batch(partition, range(100, 102)))
    sink.flush()
    names = sorted(p.name for p in day.glob("*-000000000101.parquet"))
    assert [name.count("_p") + 1 for name in names] == [6, 2]
    assert all(len(name) < 255 for name in names)
    assert committed_offsets(tmp_path) == {p: 101 for p in range(8)}
    assert len(list((tmp_path / COMMITTED_DIR).iterdir())) == 1  # the earlier marker is superseded
    assert _rows(tmp_path).height == 9 + 16


def test_a_crashed_flush_over_several_partitions_is_removed_by_any_of_their_new_owners(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file holds several partitions' rows, and its marker commits all of them or none:
    the worker that takes one of them over removes it, and the replays of every partition
    archive each row once."""
    crashed = ArchiveSink(tmp_path)
    crashed.on_assign("manifests.raw", [0, 1, 2])
    for partition in (0, 1, 2):
        crashed.add(_batch(partition, range(0, 4)))
    crashed.flush()
    with monkeypatch.context() as patch:
        _crash_before_marker(patch)
        for partition in (0, 1, 2):
            crashed.add(_batch(partition, range(4, 8)))
        with pytest.raises(OSError):
            crashed.flush()
    assert _rows(tmp_path).height == 24  # the uncommitted file is there until someone recovers
    b, c = ArchiveSink(tmp_path), ArchiveSink(tmp_path)
    b.on_assign("manifests.raw", [1])
    assert _rows(tmp_path).height == 12
    c.on_assign("manifests.raw", [0, 2])
    assert b.high_water == c.high_water == {0: 3, 1: 3, 2: 3}
    b.add(_batch(1, range(0, 8)))  # replays from the last committed offsets
    b.flush()
    for partition in (0, 2):
        c.add(_batch(partition, range(0, 8)))
    c.flush()
    rows = _rows(tmp_path)
    assert rows.height == 24 and rows["manifest_id"].n_unique() == 24
    assert committed_offsets(tmp_path) == {0: 7, 1: 7, 2: 7}


def test_a_marker_keeps_the_offsets_of_partitions_its_flush_did_not_write(tmp_path: Path) -> None:
    """Each marker carries every partition's high-water the sink knows, so removing the
    markers it supersedes (another worker's too) never loses a partition's offset."""
    a = ArchiveSink(tmp_path)
    a.on_assign("manifests.raw", [0])
    a.add(_batch(0, range(0, 6)))
    a.flush()
    b = ArchiveSink(tmp_path)
    b.on_assign("manifests.raw", [1])
    b.add(_batch(1, range(0, 3)))
    b.flush()  # supersedes a's marker, which b read
    assert len(list((tmp_path / COMMITTED_DIR).iterdir())) == 1
    a.add(_batch(0, range(6, 9)))
    a.flush()  # a does not know b's marker: both stay
    assert committed_offsets(tmp_path) == {0: 8, 1: 2}
    assert ArchiveSink(tmp_path).high_water == {0: 8, 1: 2}


def test_markers_of_the_earlier_layout_are_read_and_superseded(tmp_path: Path) -> None:
    """Before 2026-11-29 a flush wrote a file per partition and an empty marker per
    partition (``p{p}-{last}``): both are read, and the first flush replaces the markers."""
    old = ArchiveSink(tmp_path)
    old.on_assign("manifests.raw", [0])
    old.add(_batch(0, range(0, 10)))
    old.flush()
    for marker in (tmp_path / COMMITTED_DIR).iterdir():
        marker.unlink()
    (tmp_path / COMMITTED_DIR / "p0-000000000004").touch()
    day = tmp_path / "screened" / "date=2026-11-28"
    (written,) = day.glob("*.parquet")
    frame = pl.read_parquet(written)
    written.unlink()
    frame.filter(pl.col("input_offset") <= 4).write_parquet(day / "part-p0-000000000000-000000000004.parquet")
    frame.filter(pl.col("input_offset") > 4).write_parquet(day / "part-p0-000000000005-000000000009.parquet")
    sink = ArchiveSink(tmp_path)
    sink.on_assign("manifests.raw", [0])
    assert sink.high_water == {0: 4}
    assert [p.name for p in day.glob("*.parquet")] == ["part-p0-000000000000-000000000004.parquet"]
    sink.add(_batch(0, range(0, 12)))
    sink.flush()
    assert _rows(tmp_path)["manifest_id"].n_unique() == _rows(tmp_path).height == 12
    assert [p.name.startswith("m-") for p in (tmp_path / COMMITTED_DIR).iterdir()] == [True]


def test_a_marker_replaced_while_it_is_read_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another worker may replace its marker while a worker recovers: the old one gone
    between the listing and the read means a newer one is in place, and it is found."""
    import sinks.archive as archive

    other = ArchiveSink(tmp_path)
    other.on_assign("manifests.raw", [0, 1])
    other.add(_batch(1, range(0, 5)))
    other.flush()
    real = archive._read_marker
    raced = []

    def racing(path: Path) -> dict[int, int]:
        if not raced:  # the other worker's next flush lands now
            raced.append(path)
            other.add(_batch(1, range(5, 7)))
            other.flush()
        return real(path)

    monkeypatch.setattr(archive, "_read_marker", racing)
    assert committed_offsets(tmp_path) == {1: 6}
    assert raced


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
    """The files of one flush (here two days) are written on several threads: one failing
    must fail the whole flush (the batch is not committed) with no marker, and the retry
    archives it once."""
    import sinks.archive as archive

    sink = ArchiveSink(tmp_path)
    sink.on_assign("manifests.raw", [0, 1, 2])
    real = archive._write_atomic

    def failing(df, path):
        if "date=2026-11-29" in str(path):
            raise OSError(28, "No space left on device")
        real(df, path)

    monkeypatch.setattr(archive, "_write_atomic", failing)
    for partition in (0, 1, 2):
        sink.add(_batch(partition, range(0, 6), day_shift=partition % 2))
    with pytest.raises(OSError, match="No space"):
        sink.flush()
    assert committed_offsets(tmp_path) == {}
    # The worker is restarted: recovery removes what the failed flush left, the batch is replayed.
    monkeypatch.setattr(archive, "_write_atomic", real)
    again = ArchiveSink(tmp_path)
    again.on_assign("manifests.raw", [0, 1, 2])
    for partition in (0, 1, 2):
        again.add(_batch(partition, range(0, 6), day_shift=partition % 2))
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
