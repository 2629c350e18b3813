"""Property tests: no input, however hostile, makes decoding or validation raise."""

from __future__ import annotations

from datetime import UTC, datetime

from hostile_strategies import json_lines, kafka_values, manifests
from hypothesis import HealthCheck, given, settings

from enrichers.refdata import ReferenceData
from schemas.codec import Codec
from schemas.intake import read_json_line, read_kafka_value, validate_or_reject
from schemas.model import Manifest, Rejection, Source
from schemas.validation import ValidationConfig, validate
from schemas.validation.codes import ALL_CODES

SRC = Source(kind="kafka", topic="manifests.raw", partition=0, offset=0)
NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
CODEC = Codec()
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _well_formed(errors) -> None:
    assert errors
    for e in errors:
        assert e.code in ALL_CODES and e.path and e.message
        # The catch-all guards are for bugs; well-typed input must never reach them.
        assert "could not be validated (" not in e.message, e
        assert "could not be read (" not in e.message, e


@PROPERTY
@given(kafka_values)
def test_read_kafka_value_never_raises(value: bytes) -> None:
    out = read_kafka_value(value, CODEC, SRC, NOW)
    assert isinstance(out, Manifest | Rejection)
    if isinstance(out, Rejection):
        _well_formed(out.errors)


@PROPERTY
@given(json_lines)
def test_read_json_line_never_raises(line: bytes | str) -> None:
    out = read_json_line(line, SRC, NOW)
    assert isinstance(out, Manifest | Rejection)
    if isinstance(out, Rejection):
        _well_formed(out.errors)


@PROPERTY
@given(manifests)
def test_validate_never_raises(ref: ReferenceData, config: ValidationConfig, manifest: Manifest) -> None:
    errors = validate(manifest, ref, config, NOW)
    assert isinstance(errors, list)
    if errors:
        _well_formed(errors)


@PROPERTY
@given(kafka_values)
def test_decode_then_validate_never_raises(ref: ReferenceData, config: ValidationConfig, value: bytes) -> None:
    out = validate_or_reject(read_kafka_value(value, CODEC, SRC, NOW), ref, config, NOW, SRC, NOW)
    assert isinstance(out, Manifest | Rejection)
