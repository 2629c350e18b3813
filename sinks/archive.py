"""The Parquet archive: every screened manifest with its result, and every rejection,
hive-partitioned for analysts and backtests.

Layout under the archive directory::

    screened/date=YYYY-MM-DD/part-p{partition}-{first:012d}-{last:012d}[_p{partition}-…].parquet
    rejected/date=YYYY-MM-DD/part-p{partition}-{first:012d}-{last:012d}[_p{partition}-…].parquet
    _committed/m-{id}.json          (commit markers: {"high_water": {partition: last}})

``date`` is the UTC day of ``screened_at`` (``received_at`` for rejections). A file holds
the rows of one flush for one day, from every input partition of the flush (at most
``PARTITIONS_PER_FILE`` of them; a flush over more writes a file per group): its name
lists each input partition of ``manifests.raw`` with the offset range of the flush. The
lane is a column, not a directory level. One file per flush and day, not one per
partition: writing a Parquet file costs ~1.5-2 ms of CPU whatever its size, and at half
load, where a batch is a few hundred records, the files were most of the flush
(2026-11-29: ~14 ms of CPU a flush for 25 records over six partitions). Archives written
before 2026-11-28 have ``lane=`` directories under ``date=``; before 2026-11-29 a file
per partition (``part-p{p}-{first}-{last}``) and a marker per partition
(``_committed/p{p}-{last}``, empty); ``scan_screened`` and the recovery read all of them.

Exactly-once for the archive, even across crashes and replays:

1. The pipeline flushes the sink *before* it commits the batch's Kafka transaction, so an
   archived row is never behind a committed offset (at-least-once).
2. A flush writes every file under a temporary name and renames it into place
   (``os.replace`` is atomic), then writes one commit marker, atomically too, with the
   high-water offset of every partition the sink knows (the flush's partitions raised).
   A flush is in the archive exactly when a marker says so, for all its partitions at
   once; the markers the new one supersedes are removed after it is in place.
3. ``on_assign`` reads the markers: the high-water offset of each partition is the
   largest any marker gives. Data files of the assigned partitions past the high-water
   belong to a flush that crashed before its marker and are removed; they will be
   written again.
4. A batch replayed after a crash (its transaction aborted, so Kafka hands it out again)
   brings the same offsets: rows at or below the high-water are skipped, the rest written.

So each input offset lands in the archive once; since the pipeline's ledger turns a
second copy of the same (manifest_id, version) into a replay that never reaches the sinks,
each (manifest_id, version) does too. ``compact_archive`` keeps it so (it dedupes on
``manifest_id`` + ``version``). The guarantee is per archive directory: workers that
share partitions must share the directory.

>>> sink = ArchiveSink("var/archive")          # doctest: +SKIP
>>> pl.scan_parquet("var/archive/screened/**/*.parquet", hive_partitioning=True)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import polars as pl
import pyarrow as pa

from schemas.model import Manifest, ScreeningResult
from sinks.base import RejectedRecord, ScreenedRecord, SinkBatch

log = logging.getLogger("cargowatch.archive")

SCREENED_DIR = "screened"
REJECTED_DIR = "rejected"
COMMITTED_DIR = "_committed"
_RANGE = r"p(\d+)-(\d{12})-(\d{12})"
_PART = re.compile(rf"^part-({_RANGE}(?:_{_RANGE})*)\.parquet$")
_RANGES = re.compile(_RANGE)
_LEGACY_MARKER = re.compile(r"^p(\d+)-(\d{12})$")
_MARKER_PREFIX, _MARKER_SUFFIX = "m-", ".json"
PARTITIONS_PER_FILE = 6
"""At most this many input partitions in one file (its name lists each one's range, and
names stay under 255 bytes)."""
_TMP_SUFFIX = ".tmp"
STALE_MARKER_S = 600.0  # a half-written marker this old was left by a crash
_JOURNAL = "_compaction.json"
WRITE_THREADS = 4
"""Files of one flush written and fsynced at once when it has several (a flush over days,
or over more than PARTITIONS_PER_FILE partitions); a flush of one file writes it on the
calling thread. Parquet writing and fsync release the GIL (2026-11-28, a file per
partition and lane: 30 fsyncs took 118 ms in a row, 21 ms on 8 threads)."""

SCREENED_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "manifest_id": pl.String,
    "version": pl.Int32,
    "lane": pl.String,
    "referral": pl.String,
    "score": pl.Float64,
    "ruleset_version": pl.String,
    "screened_at": pl.Datetime("us", "UTC"),
    "latency_ms": pl.Float64,
    "mode": pl.String,
    "filed_at": pl.Datetime("us", "UTC"),
    "loading_port": pl.String,
    "discharge_port": pl.String,
    "transshipment_ports": pl.List(pl.String),
    "filer_id": pl.String,
    "consignee_id": pl.String,
    "consignor_id": pl.String,
    "hs_codes": pl.List(pl.String),
    "hit_rule_ids": pl.List(pl.String),
    "watchlist_entry_ids": pl.List(pl.String),
    "manifest_json": pl.String,
    "input_partition": pl.Int32,
    "input_offset": pl.Int64,
}
"""Columns of ``screened/`` files (plus ``date`` from the path when read with hive partitioning)."""

REJECTED_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "manifest_id": pl.String,
    "version": pl.Int32,
    "received_at": pl.Datetime("us", "UTC"),
    "source": pl.String,
    "error_codes": pl.List(pl.String),
    "errors_json": pl.String,
    "raw": pl.Binary,
    "input_partition": pl.Int32,
    "input_offset": pl.Int64,
}
"""Columns of ``rejected/`` files."""

_json = msgspec.json.Encoder()


class ArchiveError(RuntimeError):
    """The archive directory cannot be used; the message says which path and why."""


def _consignee_consignor(m: Manifest) -> tuple[str | None, str | None]:
    """The identifiers of the manifest's first CONSIGNEE and first CONSIGNOR (one pass)."""
    consignee = consignor = None
    for p in m.parties:
        if p.role == "CONSIGNEE":
            if consignee is None:
                consignee = p
        elif p.role == "CONSIGNOR" and consignor is None:
            consignor = p
    return (
        consignee.identifier if consignee else None,
        consignor.identifier if consignor else None,
    )


def _screened_columns(recs: list[ScreenedRecord]) -> list[list]:
    """The columns of a ``screened/`` file for these records, in the order of
    SCREENED_SCHEMA. Built a column at a time: a row of tuples per record, transposed,
    cost ~2 µs a record more."""
    ms: list[Manifest] = [rec.manifest for rec in recs]
    rs: list[ScreeningResult] = [rec.result for rec in recs]
    routes = [m.route for m in ms]
    parties = [_consignee_consignor(m) for m in ms]
    encode = _json.encode
    return [
        [r.manifest_id for r in rs],
        [r.version for r in rs],
        [r.lane for r in rs],
        [r.referral for r in rs],
        [float(r.score) for r in rs],
        [r.ruleset_version for r in rs],
        [r.screened_at for r in rs],
        [float(r.latency_ms) for r in rs],
        [m.mode for m in ms],
        [m.filed_at for m in ms],
        [route.loading_port for route in routes],
        [route.discharge_port for route in routes],
        [list(route.transshipment_ports) for route in routes],
        [m.filer.id for m in ms],
        [consignee for consignee, _ in parties],
        [consignor for _, consignor in parties],
        [sorted({g.hs_code for g in m.goods}) for m in ms],
        [[h.rule_id for h in r.hits] for r in rs],
        [[f"{w.list_id}/{w.entry_id}" for w in r.watchlist_matches] for r in rs],
        # the contract JSON of the manifest, so a backtest can re-score it unchanged
        [encode(m).decode() for m in ms],
        [rec.partition for rec in recs],
        [rec.offset for rec in recs],
    ]


def _rejected_columns(recs: list[RejectedRecord]) -> list[list]:
    """The columns of a ``rejected/`` file for these records, in the order of REJECTED_SCHEMA."""
    rjs = [rec.rejection for rec in recs]
    return [
        [rj.manifest_id for rj in rjs],
        [rj.version for rj in rjs],
        [rj.received_at for rj in rjs],
        [rj.source.describe() for rj in rjs],
        [sorted({e.code for e in rj.errors}) for rj in rjs],
        [_json.encode(rj.errors).decode() for rj in rjs],
        [rec.raw for rec in recs],
        [rec.partition for rec in recs],
        [rec.offset for rec in recs],
    ]


def _day(ts: datetime) -> str:
    """The UTC day of a timestamp, as the ``date=`` partition value."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC)
    return ts.date().isoformat()


@functools.cache
def _arrow_schema(kind: str) -> pa.Schema:
    schema = SCREENED_SCHEMA if kind == "screened" else REJECTED_SCHEMA
    return pl.DataFrame(schema=schema).to_arrow().schema


def _table(columns: list[list], kind: str) -> pa.Table:
    """Columns as an Arrow table with the archive's exact column types (polars' types for
    the schema, so ``pl.scan_parquet`` reads back what it would have written).

    Built column-wise: polars' row constructor makes one Series per list cell, which made
    a 2,000-row flush several times slower.
    """
    arrow = _arrow_schema(kind)
    arrays = [pa.array(values, type=f.type) for f, values in zip(arrow, columns, strict=True)]
    return pa.Table.from_arrays(arrays, schema=arrow)


def _sliced_tables(
    groups: dict[str, dict[int, list[Any]]], columns: Callable[[list[Any]], list[list]], kind: str
) -> dict[tuple[str, int], pa.Table]:
    """One table per (directory, input partition): built once per directory and sliced
    (zero-copy) per partition, as building a table costs something per column whatever
    its length, and a batch spans every partition."""
    tables: dict[tuple[str, int], pa.Table] = {}
    for subdir, parts in groups.items():
        table = _table(columns([rec for recs in parts.values() for rec in recs]), kind)
        start = 0
        for partition, recs in parts.items():
            tables[(subdir, partition)] = table.slice(start, len(recs))
            start += len(recs)
    return tables


def _write_atomic(tables: list[pa.Table], path: Path) -> None:
    """The tables as one Parquet file at ``path``: written under a temporary name, fsynced,
    renamed into place. Written by polars: pyarrow's own writer, tried, left the worker
    ~50 MB larger after a few thousand flushes (its allocator keeps memory per thread)."""
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{_TMP_SUFFIX}")
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    frame.write_parquet(tmp, compression="zstd", statistics=True)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _wait_all(jobs: list) -> None:
    """Wait for every job, then raise the first failure (none is left running)."""
    errors = [job.exception() for job in jobs]
    for error in errors:
        if error is not None:
            raise error


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class PartFile:
    """A data file written by one flush: its path and the input range of each partition
    it holds rows of (its name says them)."""

    path: Path
    ranges: dict[int, tuple[int, int]]

    @classmethod
    def parse(cls, path: Path) -> PartFile | None:
        m = _PART.match(path.name)
        if m is None:
            return None
        ranges = {int(p): (int(first), int(last)) for p, first, last in _RANGES.findall(m.group(1))}
        return cls(path, ranges)

    def committed(self, high_water: dict[int, int]) -> bool:
        """Whether a commit marker covers the file (a marker covers all of a flush's
        partitions or none, so one uncovered range means the flush never committed)."""
        return all(last <= high_water.get(p, -1) for p, (_, last) in self.ranges.items())


@dataclass(slots=True)
class ArchiveRows:
    """A chunk's archive rows as Arrow tables, built ahead of the commit (``prepare``, on
    the screening thread) so the flush at commit time only writes: per (directory under
    the archive, input partition) a table, and each input partition's offset range."""

    tables: dict[tuple[str, int], pa.Table]
    ranges: dict[int, tuple[int, int]]


def part_name(ranges: dict[int, tuple[int, int]]) -> str:
    """The file name of a flush's data for these input partitions and offset ranges.

    >>> part_name({3: (10, 19), 0: (0, 4)})
    'part-p0-000000000000-000000000004_p3-000000000010-000000000019.parquet'
    """
    body = "_".join(f"p{p}-{first:012d}-{last:012d}" for p, (first, last) in sorted(ranges.items()))
    return f"part-{body}.parquet"


def _read_marker(path: Path) -> dict[int, int]:
    """A commit marker's high-water offsets (FileNotFoundError when it is gone: a newer
    one superseded it meanwhile)."""
    legacy = _LEGACY_MARKER.match(path.name)
    if legacy:
        return {int(legacy.group(1)): int(legacy.group(2))}
    try:
        body = msgspec.json.decode(path.read_bytes(), type=dict[str, dict[int, int]])
        return body["high_water"]
    except FileNotFoundError:
        raise
    except (OSError, msgspec.DecodeError, KeyError) as exc:
        raise ArchiveError(
            f"archive commit marker {path} is unreadable ({exc}); it is written atomically, so "
            "the disk or someone else changed it: restore it or move the archive aside"
        ) from None


def _markers(root: Path) -> tuple[dict[int, int], list[Path]]:
    """The high-water offset per input partition (the largest any marker gives) and the
    marker files read.

    A worker sharing the directory may replace its marker while this reads: it removes
    the old one only once the new one is in place, so a marker gone between the listing
    and the read means a newer one is there, and the directory is read again."""
    directory = root / COMMITTED_DIR
    while True:
        marks: dict[int, int] = {}
        paths: list[Path] = []
        try:
            entries = list(directory.iterdir())
        except FileNotFoundError:
            return marks, paths
        try:
            for entry in entries:
                name = entry.name
                if not (_LEGACY_MARKER.match(name) or (name.startswith(_MARKER_PREFIX) and name.endswith(_MARKER_SUFFIX))):
                    continue
                for p, last in _read_marker(entry).items():
                    marks[p] = max(marks.get(p, -1), last)
                paths.append(entry)
        except FileNotFoundError:
            continue
        return marks, paths


def committed_offsets(directory: str | Path) -> dict[int, int]:
    """The high-water offset per input partition: the last offset of a committed flush."""
    return _markers(Path(directory))[0]


def _data_files(root: Path) -> Iterable[Path]:
    for sub in (SCREENED_DIR, REJECTED_DIR):
        base = root / sub
        if base.is_dir():
            yield from base.rglob("*.parquet")


class ArchiveSink:
    """A BatchSink (sinks/base.py) writing the Parquet archive described above.

    Rows are buffered by ``add`` and written by ``flush``, which the pipeline calls before
    committing the batch's offsets. Errors writing the archive propagate to the pipeline
    so the batch is not committed and is retried; they are never swallowed.
    """

    def __init__(self, directory: str | Path):
        self.root = Path(directory)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / COMMITTED_DIR).mkdir(exist_ok=True)
        except OSError as exc:
            raise ArchiveError(
                f"archive directory {self.root}: cannot create ({exc.strerror or exc})"
            ) from None
        self._high_water, self._known_markers = _markers(self.root)
        self._tables: defaultdict[tuple[str, int], list[pa.Table]] = defaultdict(list)
        self._range: dict[int, tuple[int, int]] = {}
        self.rows_written = 0
        self.rows_skipped = 0
        self._pool: ThreadPoolExecutor | None = None
        # The pipeline flushes in a worker thread while a rebalance may call on_assign on
        # the event loop: recovery must never remove the files of a flush in progress.
        self._lock = threading.Lock()

    # -- BatchSink ---------------------------------------------------------------
    def on_assign(self, topic: str, partitions: list[int], end_offsets: dict[int, int] | None = None) -> None:
        """Recover the high-water offsets from the commit markers and remove files of
        flushes that crashed before their marker (they are rewritten by the replay).

        Raises :class:`ArchiveError` when the archive holds offsets the topic's log does
        not have (``end_offsets``): it was written from another topic, or from this one
        before it was recreated, and its high-water would silently skip the new records."""
        with self._lock:
            self._recover(topic, partitions)
            for partition, end in (end_offsets or {}).items():
                high = self._high_water.get(partition)
                if high is not None and high >= end:
                    raise ArchiveError(
                        f"archive {self.root} has offsets of {topic} partition {partition} up to {high}, "
                        f"but the topic ends at {end - 1}: it was written from another topic or from this "
                        "one before it was recreated, and would skip the new records. Point "
                        "CARGOWATCH_ARCHIVE_DIR at a new directory (or move this one aside)."
                    )

    def _recover(self, topic: str, partitions: list[int]) -> None:
        finish_compactions(self.root)
        self._high_water, self._known_markers = _markers(self.root)
        assigned = set(partitions)
        removed = 0
        for path in list(_data_files(self.root)):
            part = PartFile.parse(path)
            if part is None or assigned.isdisjoint(part.ranges):
                continue
            if not part.committed(self._high_water):
                path.unlink(missing_ok=True)
                removed += 1
        # Half-written files of these partitions only: workers may share the directory, and
        # another's file of a partition it still owns may be being written right now.
        for path in self.root.rglob(f".part-*{_TMP_SUFFIX}"):
            # ".part-p{p}-{first}-{last}.parquet.{random}.tmp" is being written as "part-..."
            part = PartFile.parse(path.with_name(path.name[1:].rsplit(".", 2)[0]))
            if part is not None and not assigned.isdisjoint(part.ranges):
                path.unlink(missing_ok=True)
        # A marker half-written by a crash names no partition; one another worker is
        # writing now is younger than any flush takes.
        stale = time.time() - STALE_MARKER_S
        for path in (self.root / COMMITTED_DIR).glob(f".{_MARKER_PREFIX}*{_TMP_SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < stale:
                    path.unlink()
        log.info(
            "archive %s: partitions %s of %s recovered (high-water %s), %d uncommitted files removed",
            self.root,
            sorted(assigned),
            topic,
            {p: self._high_water.get(p) for p in sorted(assigned)},
            removed,
        )

    def add(self, batch: SinkBatch) -> None:
        """Buffer the batch's rows, skipping offsets already archived."""
        self.add_prepared(self.prepare(batch))

    def prepare(self, batch: SinkBatch) -> ArchiveRows:
        """The batch's rows as Arrow tables. Reads no state of the sink, so the pipeline
        calls it on its screening thread and the commit's flush only writes."""
        days: dict[datetime, str] = {}  # a batch has one screening time, and few receipt times

        def day(ts: datetime) -> str:
            d = days.get(ts)
            if d is None:
                d = days[ts] = _day(ts)
            return d

        # directory -> input partition -> records
        screened: dict[str, dict[int, list[ScreenedRecord]]] = defaultdict(lambda: defaultdict(list))
        for rec in batch.screened:
            screened[f"{SCREENED_DIR}/date={day(rec.result.screened_at)}"][rec.partition].append(rec)
        rejected: dict[str, dict[int, list[RejectedRecord]]] = defaultdict(lambda: defaultdict(list))
        for rj in batch.rejected:
            rejected[f"{REJECTED_DIR}/date={day(rj.rejection.received_at)}"][rj.partition].append(rj)
        tables = _sliced_tables(screened, _screened_columns, "screened")
        tables.update(_sliced_tables(rejected, _rejected_columns, "rejected"))
        ranges: dict[int, tuple[int, int]] = {}
        directories: list[dict[int, list[Any]]] = [*screened.values(), *rejected.values()]
        for parts in directories:
            for partition, recs in parts.items():
                offsets = [rec.offset for rec in recs]
                first, last = min(offsets), max(offsets)
                if partition in ranges:
                    first, last = min(first, ranges[partition][0]), max(last, ranges[partition][1])
                ranges[partition] = (first, last)
        return ArchiveRows(tables, ranges)

    def add_prepared(self, rows: ArchiveRows) -> None:
        """Buffer rows from ``prepare``, skipping offsets already archived (a batch
        replayed after a crash)."""
        for (subdir, partition), table in rows.tables.items():
            high = self._high_water.get(partition, -1)
            first, last = rows.ranges[partition]
            if first <= high:
                import pyarrow.compute as pc  # only for a replay: ~8 MB a process otherwise

                kept = table.filter(pc.greater(table["input_offset"], high))
                self.rows_skipped += table.num_rows - kept.num_rows
                if kept.num_rows == 0:
                    continue
                table = kept
                first = pc.min(table["input_offset"]).as_py()
                last = pc.max(table["input_offset"]).as_py()
            self._tables[(subdir, partition)].append(table)
            lo, hi = self._range.get(partition, (first, last))
            self._range[partition] = (min(lo, first), max(hi, last))

    def flush(self) -> None:
        """Write the buffered rows (temp file + rename each), then the commit markers."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if not self._range:
            return
        ranges = self._range
        by_dir: defaultdict[str, dict[int, list[pa.Table]]] = defaultdict(dict)
        for (subdir, partition), tables in self._tables.items():
            by_dir[subdir][partition] = tables
        files: list[tuple[list[pa.Table], Path]] = []
        rows = 0
        for subdir, parts in by_dir.items():
            order = sorted(parts)
            for i in range(0, len(order), PARTITIONS_PER_FILE):
                group = order[i : i + PARTITIONS_PER_FILE]
                tables = [t for p in group for t in parts[p]]
                name = part_name({p: ranges[p] for p in group})
                files.append((tables, self.root / subdir / name))
                rows += sum(t.num_rows for t in tables)
        if len(files) == 1:
            _write_atomic(*files[0])
            _fsync_dir(files[0][1].parent)
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(WRITE_THREADS, thread_name_prefix="archive-write")
            _wait_all([self._pool.submit(_write_atomic, tables, path) for tables, path in files])
            parents = {path.parent for _, path in files}
            _wait_all([self._pool.submit(_fsync_dir, parent) for parent in parents])
        # Every data file is durable and in place before the marker says so.
        high_water = {**self._high_water, **{p: last for p, (_, last) in ranges.items()}}
        marker = self._write_marker(high_water)
        self._high_water = high_water
        # The markers read or written before carry no offset the new one does not.
        for old in self._known_markers:
            if old != marker:
                old.unlink(missing_ok=True)
        self._known_markers = [marker]
        self.rows_written += rows
        self._tables = defaultdict(list)
        self._range = {}

    def _write_marker(self, high_water: dict[int, int]) -> Path:
        """The commit marker of a flush, in place atomically (temporary name, fsync,
        rename, directory fsync)."""
        markers = self.root / COMMITTED_DIR
        name = f"{_MARKER_PREFIX}{time.time_ns():020d}-{uuid.uuid4().hex[:8]}{_MARKER_SUFFIX}"
        tmp = markers / f".{name}{_TMP_SUFFIX}"
        with open(tmp, "wb") as fh:
            fh.write(msgspec.json.encode({"high_water": high_water}))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, markers / name)
        _fsync_dir(markers)
        return markers / name

    def close(self) -> None:
        """Flush what is buffered (nothing, when the pipeline flushed every batch)."""
        try:
            self.flush()
        finally:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None

    @property
    def high_water(self) -> dict[int, int]:
        """The last archived input offset per partition."""
        return dict(self._high_water)


# -- compaction -------------------------------------------------------------------


@dataclass
class CompactionReport:
    """What ``compact_archive`` did."""

    directories: int = 0
    files_in: int = 0
    files_out: int = 0
    rows_in: int = 0
    rows_out: int = 0
    seconds: float = 0.0


def _journal_write(directory: Path, new_file: str, replaced: list[str]) -> None:
    tmp = directory / f"{_JOURNAL}{_TMP_SUFFIX}"
    tmp.write_text(json.dumps({"new": new_file, "replaced": replaced}))
    os.replace(tmp, directory / _JOURNAL)


def finish_compactions(root: str | Path) -> int:
    """Complete or roll back compactions interrupted by a crash (journal in the directory).

    If the merged file made it into place the files it replaces are removed; otherwise its
    temporary file is, and the originals stay. Returns how many journals were handled.
    """
    handled = 0
    for journal in Path(root).rglob(_JOURNAL):
        directory = journal.parent
        try:
            entry = json.loads(journal.read_text())
        except (OSError, ValueError):
            journal.unlink(missing_ok=True)
            continue
        if (directory / entry["new"]).exists():
            for name in entry["replaced"]:
                (directory / name).unlink(missing_ok=True)
        for tmp in directory.glob(f".compact-*{_TMP_SUFFIX}"):
            tmp.unlink(missing_ok=True)
        journal.unlink(missing_ok=True)
        handled += 1
    return handled


def compact_archive(directory: str | Path, min_files: int = 2) -> CompactionReport:
    """Merge the small files of each leaf directory (``date=…``) into one, keeping
    one row per (manifest_id, version): the one from the earliest input offset.

    Only committed files take part (a running worker's flush in progress is left alone),
    so it is safe to run next to the workers. Each directory is swapped atomically:
    merged file written under a temporary name, a journal naming the replaced files,
    rename, remove the replaced files, remove the journal; ``finish_compactions``
    completes an interrupted swap. Rejections without a manifest id are kept as they are.

    >>> compact_archive("var/archive").files_out   # doctest: +SKIP
    3
    """
    t0 = time.monotonic()
    root = Path(directory)
    if not root.is_dir():
        raise ArchiveError(f"archive directory {root} does not exist")
    finish_compactions(root)
    high_water = committed_offsets(root)
    report = CompactionReport()
    leaves: dict[Path, list[Path]] = defaultdict(list)
    for path in _data_files(root):
        part = PartFile.parse(path)
        if part is not None and not part.committed(high_water):
            continue  # written by a flush that has not committed yet
        leaves[path.parent].append(path)
    for leaf, files in sorted(leaves.items()):
        if len(files) < min_files:
            continue
        files.sort()
        frames = [pl.read_parquet(f) for f in files]
        merged = pl.concat(frames, how="diagonal_relaxed")
        rows_in = merged.height
        merged = merged.sort(["input_partition", "input_offset"], nulls_last=True)
        keyed = merged.filter(pl.col("manifest_id").is_not_null())
        unkeyed = merged.filter(pl.col("manifest_id").is_null())
        keyed = keyed.unique(["manifest_id", "version"], keep="first", maintain_order=True)
        merged = pl.concat([keyed, unkeyed], how="vertical_relaxed")
        name = f"compact-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = leaf / f".{name}{_TMP_SUFFIX}"
        merged.write_parquet(tmp, compression="zstd", statistics=True)
        _journal_write(leaf, name, [f.name for f in files])
        os.replace(tmp, leaf / name)
        for f in files:
            f.unlink(missing_ok=True)
        (leaf / _JOURNAL).unlink(missing_ok=True)
        _fsync_dir(leaf)
        report.directories += 1
        report.files_in += len(files)
        report.files_out += 1
        report.rows_in += rows_in
        report.rows_out += merged.height
    report.seconds = time.monotonic() - t0
    return report


def scan_layouts(base: str | Path) -> pl.LazyFrame | None:
    """Every Parquet file under ``base`` (the ``screened/`` directory) as one lazy frame,
    with ``date`` from the paths; None when there is none. Files directly under
    ``date=…`` (the layout since 2026-11-28) and under ``date=…/lane=…`` (before) are read
    together: each layout is scanned with its own hive levels."""
    base = Path(base)
    frames = [
        pl.scan_parquet(base / pattern, hive_partitioning=True)
        for pattern in ("*/*.parquet", "*/*/*.parquet")
        if next(base.glob(pattern), None) is not None
    ]
    if not frames:
        return None
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")


def scan_screened(directory: str | Path) -> pl.LazyFrame:
    """The screened archive as one lazy frame (``date`` from the paths, ``lane`` a column);
    an empty frame with the archive's columns when nothing was archived yet.

    >>> scan_screened("var/archive").filter(pl.col("lane") == "RED").collect()  # doctest: +SKIP
    """
    frame = scan_layouts(Path(directory) / SCREENED_DIR)
    if frame is None:
        return pl.LazyFrame(schema={**SCREENED_SCHEMA, "date": pl.Date})
    return frame
