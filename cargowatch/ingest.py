"""Publishing manifests to ``manifests.raw`` (the filer's side of the pipeline).

Each JSON line is checked against the Manifest shape and framed as Confluent Avro. A line
that cannot be framed (wrong type, missing field, not JSON) is still published, as its
original bytes: the worker then rejects it with code SCHEMA, so nothing a filer sends is
lost on the way in and every rejection reaches the filer through the same topics.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import msgspec

from cargowatch.kafka import make_producer
from cargowatch.settings import Settings
from schemas.codec import Codec
from schemas.model import decode_manifest_json

_id_decoder = msgspec.json.Decoder(dict)


@dataclass
class ProduceSummary:
    sent: int = 0
    framed: int = 0
    unframed: int = 0
    seconds: float = 0.0


def frame_line(line: bytes, codec: Codec) -> tuple[bytes | None, bytes, bool]:
    """(key, value, framed) for one JSON line: Avro-framed when it has the manifest's
    shape, the original bytes otherwise (keyed by its manifest_id when one is readable)."""
    try:
        manifest = decode_manifest_json(line)
    except (msgspec.DecodeError, msgspec.ValidationError):
        key = None
        try:
            obj = _id_decoder.decode(line)
            mid = obj.get("manifest_id") if isinstance(obj, dict) else None
            key = mid.encode() if isinstance(mid, str) else None
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass
        return key, line.rstrip(b"\n"), False
    try:
        return manifest.manifest_id.encode(), codec.encode("Manifest", manifest), True
    except (ValueError, TypeError, OverflowError):
        # Values Avro cannot carry (e.g. an int beyond 32 bits) go through as sent.
        return manifest.manifest_id.encode(), line.rstrip(b"\n"), False


async def produce_lines(
    settings: Settings,
    lines: Iterable[bytes],
    *,
    rate: float | None = None,
    codec: Codec | None = None,
    on_progress: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> ProduceSummary:
    """Publish JSON manifest lines to ``manifests.raw``, at ``rate`` per second when given."""
    codec = codec or Codec()
    summary = ProduceSummary()
    producer = make_producer(settings)
    await producer.start()
    start = time.monotonic()
    pending = []
    try:
        for line in lines:
            if stop is not None and stop.is_set():
                break
            if not line.strip():
                continue
            key, value, framed = frame_line(line, codec)
            pending.append(await producer.send(settings.topics.raw, value=value, key=key))
            summary.sent += 1
            summary.framed += framed
            summary.unframed += not framed
            if rate:
                ahead = summary.sent / rate - (time.monotonic() - start)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
                if on_progress:
                    on_progress(summary.sent)
        if pending:
            await asyncio.gather(*pending)
        if on_progress:
            on_progress(summary.sent)
    finally:
        await producer.stop()
    summary.seconds = time.monotonic() - start
    return summary
