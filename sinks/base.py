"""The small surface every in-pipeline sink has (quixstreams style): ``add`` a batch,
``flush`` at commit time. The pipeline splits ``add`` in two: ``prepare`` (build what is
to be written, on its screening thread, ahead of the commit) and ``add_prepared`` (take it
in at commit time), so the commit's flush only writes. The pipeline flushes every sink *before* it commits the batch's
Kafka transaction, so an effect is never behind its committed offset; sinks are
idempotent on (manifest_id, version) so a batch replayed after a crash adds nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from schemas.model import Manifest, Rejection, ScreeningResult


@dataclass(frozen=True, slots=True)
class ScreenedRecord:
    partition: int
    offset: int
    manifest: Manifest
    result: ScreeningResult


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    partition: int
    offset: int
    rejection: Rejection
    raw: bytes | None


@dataclass(slots=True)
class SinkBatch:
    topic: str
    screened: list[ScreenedRecord] = field(default_factory=list)
    rejected: list[RejectedRecord] = field(default_factory=list)


class BatchSink(Protocol):
    def on_assign(self, topic: str, partitions: list[int], end_offsets: dict[int, int] | None = None) -> None:
        """Partitions given to this worker: recover what was already written for them
        (``end_offsets``: each partition's log end offset, when the caller knows it)."""

    def add(self, batch: SinkBatch) -> None:
        """Take one batch's records (buffer or write; skip ones already written)."""

    def prepare(self, batch: SinkBatch) -> Any:
        """What ``add_prepared`` takes for this batch; must not read or change the sink's
        state (it runs on another thread, while the previous batch commits)."""

    def add_prepared(self, prepared: Any) -> None:
        """``add`` of a batch ``prepare`` built: buffer it, skipping records already written."""

    def flush(self) -> None:
        """Make everything added durable. Called before the batch's offsets are committed."""

    def close(self) -> None:
        """Flush and release resources."""
