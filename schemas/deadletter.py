"""Dead letters: the headers that go with a record's original bytes on ``manifests.dlq``.

The value on the dead-letter topic is the record exactly as received; everything we
know about why it failed travels in these headers, readable by any Kafka client
(``kcat -C -t manifests.dlq -f '%h\\n'``):

====================  =========================================================
``x-error-stage``     where it failed: ``decode`` (unreadable) or ``validate``
``x-error-codes``     the distinct rejection codes, comma-separated, in first-seen order
``x-error-message``   ``CODE path: message`` entries joined by `` | ``, at most
                      ``max_message_bytes`` bytes of UTF-8 (ends with ``(+N more)``)
``x-source-topic``    topic the record was read from (empty when not from Kafka)
``x-source-partition``  its partition (decimal; empty when unknown)
``x-source-offset``   its offset (decimal; empty when unknown)
``x-failed-at``       when it was dead-lettered, ISO-8601 UTC (``2026-11-28T08:00:00.000Z``)
====================  =========================================================

>>> from datetime import UTC, datetime
>>> from schemas.model import Source, ValidationError
>>> h = dict(dlq_headers("validate", [ValidationError("HS_CODE", "goods[0].hs_code", "bad")],
...                      Source(kind="kafka", topic="manifests.raw", partition=2, offset=41),
...                      datetime(2026, 11, 28, 8, 0, tzinfo=UTC)))
>>> h["x-error-codes"], h["x-source-offset"], h["x-failed-at"]
(b'HS_CODE', b'41', b'2026-11-28T08:00:00.000Z')
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from schemas.model import Source, ValidationError

HEADER_NAMES: tuple[str, ...] = (
    "x-error-stage",
    "x-error-codes",
    "x-error-message",
    "x-source-topic",
    "x-source-partition",
    "x-source-offset",
    "x-failed-at",
)
DEFAULT_MAX_MESSAGE_BYTES = 1024
_SEPARATOR = " | "


def iso_utc(ts: datetime) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``; a naive timestamp is read as UTC.

    >>> iso_utc(datetime(2026, 1, 2, 3, 4, 5, 678900))
    '2026-01-02T03:04:05.678Z'
    """
    ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _one_line(text: str) -> str:
    # Headers are read by people in terminals: no line breaks or control characters.
    return "".join(ch if ch.isprintable() else " " for ch in text)


def error_summary(errors: Sequence[ValidationError], max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> bytes:
    """``CODE path: message | ...`` as UTF-8, cut at whole entries to fit ``max_bytes``.

    >>> error_summary([ValidationError("DATES", "filed_at", "in the future")] * 3, max_bytes=40)
    b'DATES filed_at: in the future (+2 more)'
    """
    sep = _SEPARATOR.encode()
    parts: list[bytes] = []
    used = 0
    for i, e in enumerate(errors):
        entry = _one_line(f"{e.code} {e.path}: {e.message}").encode("utf-8", "replace")
        after = len(errors) - i - 1
        tail = f" (+{after} more)".encode() if after else b""
        needed = used + (len(sep) if parts else 0) + len(entry)
        if needed + len(tail) <= max_bytes:
            parts.append(entry)
            used = needed
        elif parts:
            # Earlier entries reserved room for exactly this tail.
            return sep.join(parts) + f" (+{len(errors) - i} more)".encode()
        else:  # even the first entry is too long: cut it on a character boundary
            room = max(0, max_bytes - len(tail) - 3)
            return entry[:room].decode("utf-8", "ignore").encode() + b"..." + tail
    return sep.join(parts)


def dlq_headers(
    stage: str,
    errors: Sequence[ValidationError],
    source: Source,
    failed_at: datetime,
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> list[tuple[str, bytes]]:
    """The seven dead-letter headers (in :data:`HEADER_NAMES` order) for one failed record."""
    codes: list[str] = []
    for e in errors:
        if e.code not in codes:
            codes.append(e.code)

    def number(value: int | None) -> bytes:
        return b"" if value is None else str(value).encode()

    return [
        ("x-error-stage", stage.encode("utf-8", "replace")),
        ("x-error-codes", ",".join(codes).encode("utf-8", "replace")),
        ("x-error-message", error_summary(errors, max_message_bytes)),
        ("x-source-topic", (source.topic or "").encode("utf-8", "replace")),
        ("x-source-partition", number(source.partition)),
        ("x-source-offset", number(source.offset)),
        ("x-failed-at", iso_utc(failed_at).encode()),
    ]
