"""Dead-letter headers: exactly the seven names, distinct codes, bounded message, UTC time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from schemas.deadletter import HEADER_NAMES, dlq_headers, error_summary, iso_utc
from schemas.model import Source, ValidationError

KAFKA = Source(kind="kafka", topic="manifests.raw", partition=4, offset=991)
AT = datetime(2026, 11, 28, 8, 15, 30, 250000, tzinfo=UTC)


def errors(n: int, code: str = "HS_CODE") -> list[ValidationError]:
    return [ValidationError(code, f"goods[{i}].hs_code", "999999 is not an HS 2022 subheading") for i in range(n)]


def test_exactly_the_seven_headers_in_order() -> None:
    headers = dlq_headers("validate", errors(1), KAFKA, AT)
    assert [k for k, _ in headers] == list(HEADER_NAMES) == [
        "x-error-stage",
        "x-error-codes",
        "x-error-message",
        "x-source-topic",
        "x-source-partition",
        "x-source-offset",
        "x-failed-at",
    ]
    assert all(isinstance(v, bytes) for _, v in headers)
    h = dict(headers)
    assert h["x-error-stage"] == b"validate"
    assert h["x-source-topic"] == b"manifests.raw"
    assert (h["x-source-partition"], h["x-source-offset"]) == (b"4", b"991")
    assert h["x-failed-at"] == b"2026-11-28T08:15:30.250Z"
    assert h["x-error-message"] == b"HS_CODE goods[0].hs_code: 999999 is not an HS 2022 subheading"


def test_codes_are_distinct_in_first_seen_order() -> None:
    errs = errors(3, "QUANTITY") + errors(2, "DATES") + errors(1, "QUANTITY")
    assert dict(dlq_headers("validate", errs, KAFKA, AT))["x-error-codes"] == b"QUANTITY,DATES"


def test_message_is_bounded_and_counts_the_rest() -> None:
    msg = dict(dlq_headers("validate", errors(100), KAFKA, AT))["x-error-message"]
    assert len(msg) <= 1024
    assert msg.endswith(b" more)")
    listed = msg.count(b"HS_CODE")
    assert msg.endswith(f"(+{100 - listed} more)".encode())


def test_one_huge_message_is_cut_on_a_character_boundary() -> None:
    huge = [ValidationError("SCHEMA", "$", "é" * 5000), ValidationError("DATES", "filed_at", "x")]
    msg = error_summary(huge, max_bytes=200)
    assert len(msg) <= 200
    msg.decode("utf-8")  # still valid UTF-8
    assert msg.endswith(b"... (+1 more)")


def test_control_characters_do_not_break_headers() -> None:
    msg = error_summary([ValidationError("SCHEMA", "$", "line1\nline2\r\x00end")])
    assert b"\n" not in msg and b"\r" not in msg and b"\x00" not in msg


def test_file_source_has_empty_kafka_coordinates() -> None:
    h = dict(dlq_headers("decode", errors(1, "SCHEMA"), Source(kind="file", file="a.jsonl", line=3), AT))
    assert (h["x-source-topic"], h["x-source-partition"], h["x-source-offset"]) == (b"", b"", b"")
    assert h["x-error-stage"] == b"decode"


def test_failed_at_is_utc() -> None:
    cet = timezone(timedelta(hours=1))
    assert iso_utc(datetime(2026, 11, 28, 9, 15, 30, tzinfo=cet)) == "2026-11-28T08:15:30.000Z"
    assert iso_utc(datetime(2026, 11, 28, 8, 15, 30)) == "2026-11-28T08:15:30.000Z"
