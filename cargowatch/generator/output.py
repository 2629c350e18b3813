"""Writing generated records to JSON-lines files (manifests, labels, trader register)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import msgspec

from cargowatch.generator.labels import Label

_encoder = msgspec.json.Encoder()


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def write_jsonl(
    records: Iterable[tuple[dict[str, Any], Label]],
    out: str | Path,
    labels: str | Path | None = None,
    on_record: Callable[[int], None] | None = None,
    batch: int = 1000,
) -> int:
    """Write manifests to ``out`` (and labels to ``labels``), one JSON object per line.

    Files are written next to their target and renamed into place at the end, so a
    reader never sees half a file. ``on_record(n)`` is called every ``batch`` records
    with the number written so far (for a progress bar). Returns the number of records.
    """
    out_path = Path(out)
    label_path = Path(labels) if labels else None
    out_path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with _tmp(out_path).open("wb") as fm:
        fl = _tmp(label_path).open("wb") if label_path else None
        try:
            buf: list[bytes] = []
            lbuf: list[bytes] = []
            for manifest, label in records:
                buf.append(_encoder.encode(manifest))
                if fl is not None:
                    lbuf.append(_encoder.encode(label))
                n += 1
                if n % batch == 0:
                    fm.write(b"\n".join(buf) + b"\n")
                    buf.clear()
                    if fl is not None:
                        fl.write(b"\n".join(lbuf) + b"\n")
                        lbuf.clear()
                    if on_record:
                        on_record(n)
            if buf:
                fm.write(b"\n".join(buf) + b"\n")
            if fl is not None and lbuf:
                fl.write(b"\n".join(lbuf) + b"\n")
        finally:
            if fl is not None:
                fl.close()
    os.replace(_tmp(out_path), out_path)
    if label_path:
        os.replace(_tmp(label_path), label_path)
    if on_record:
        on_record(n)
    return n


def write_register(rows: Iterable[dict[str, Any]], path: str | Path) -> int:
    """The trader register as JSON lines (contract §4), atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with _tmp(target).open("wb") as fh:
        for row in rows:
            fh.write(_encoder.encode({k: v for k, v in row.items() if v is not None}) + b"\n")
            n += 1
    os.replace(_tmp(target), target)
    return n
