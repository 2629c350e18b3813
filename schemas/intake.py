"""Intake: turning what arrives (a Kafka value, a JSON line) into a Manifest or a Rejection.

Nothing here raises on bad input: every failure becomes a ``Rejection`` with code
``SCHEMA``, a path into the record (``goods[0].hs_code``, or ``$`` for the whole
record) and a message saying what to send instead. When the ``manifest_id`` and
``version`` can still be read from a partly bad record they are put on the rejection,
so the filer can be told which filing failed.

Decoding and business validation are separate steps: :func:`read_kafka_value` /
:func:`read_json_line` decode, :func:`validate_or_reject` applies the rules of
``schemas.validation`` to a decoded manifest.

Records larger than ``max_record_bytes`` (default 10 MiB, the ``limits.max_record_bytes``
setting of the validation config) are rejected unread, so a hostile record cannot
stall a worker; in records above 64 KiB every string longer than ``max_text_chars``
(default 4096, ``limits.max_text_chars``) is a SCHEMA error, so no multi-megabyte
address or number travels on to scoring and archives.

>>> from datetime import UTC, datetime
>>> src = Source(kind="file", file="in.jsonl", line=1)
>>> r = read_json_line(b'{"manifest_id": "M1", "version": "two"}', src, datetime(2026, 1, 1, tzinfo=UTC))
>>> (r.manifest_id, r.version, r.errors[0].code, r.errors[0].path)
('M1', None, 'SCHEMA', 'version')
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import msgspec

from enrichers.refdata import ReferenceData
from schemas.codec import Codec, CodecError
from schemas.model import (
    Manifest,
    Rejection,
    Source,
    ValidationError,
    decode_manifest_json,
    manifest_from_dict,
)
from schemas.validation import ValidationConfig, validate
from schemas.validation.codes import SCHEMA

DEFAULT_MAX_RECORD_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_TEXT_CHARS = 4096
# Records above this size get every string checked against the text limit: a typical
# manifest is 2-4 KB, so the common case never pays for the scan.
_SCAN_ABOVE_BYTES = 64 * 1024

_MSGSPEC_PATH = re.compile(r"^(?P<message>.*?)(?: - at `(?P<path>\$[^`]*)`)?$", re.DOTALL)
_MISSING_FIELD = re.compile(r"^Object missing required field `(?P<field>[^`]*)`$")
_FIX = "; send it as the Manifest schema says (contract §1)"


class _Ids(msgspec.Struct):
    """Just the identifying fields of a record that failed to decode as a whole."""

    manifest_id: Any = None
    version: Any = None


_ids_decoder = msgspec.json.Decoder(_Ids)


def msgspec_path(path: str) -> str:
    """msgspec's ``$.goods[0].hs_code`` as the contract's ``goods[0].hs_code`` (``$`` stays ``$``).

    >>> msgspec_path("$.goods[0].hs_code"), msgspec_path("$"), msgspec_path("$[3]")
    ('goods[0].hs_code', '$', '[3]')
    """
    if path.startswith("$."):
        return path[2:]
    if path.startswith("$[") or path == "$":
        return path if path == "$" else path[1:]
    return path


def schema_error_from_msgspec(exc: Exception) -> ValidationError:
    """A SCHEMA error for a msgspec validation failure, with the path converted.

    >>> e = schema_error_from_msgspec(msgspec.ValidationError("Expected `str`, got `int` - at `$.goods[0].hs_code`"))
    >>> (e.path, e.message.split(";")[0])
    ('goods[0].hs_code', 'Expected `str`, got `int`')
    """
    text = str(exc)
    m = _MSGSPEC_PATH.match(text)
    message, path = (m.group("message"), m.group("path") or "$") if m else (text, "$")
    path = msgspec_path(path)
    missing = _MISSING_FIELD.match(message)
    if missing:
        # The field that is missing is the useful path, not its parent object.
        field = missing.group("field")
        path = field if path == "$" else f"{path}.{field}"
        message = f"required field `{field}` is missing"
    return ValidationError(SCHEMA, path, _bounded(message) + _FIX)


def _bounded(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _reject(
    errors: list[ValidationError],
    source: Source,
    received_at: datetime,
    manifest_id: Any = None,
    version: Any = None,
) -> Rejection:
    mid = manifest_id if isinstance(manifest_id, str) and manifest_id.strip() and len(manifest_id) <= 200 else None
    ver = version if isinstance(version, int) and not isinstance(version, bool) and -(2**31) <= version < 2**31 else None
    return Rejection(manifest_id=mid, version=ver, errors=errors, received_at=received_at, source=source)


def rejection_for(
    manifest: Manifest, errors: list[ValidationError], source: Source, received_at: datetime
) -> Rejection:
    """The Rejection of a decoded manifest that failed validation (a blank or absurdly long
    manifest_id, or a version beyond Avro's int, is left out rather than echoed)."""
    return _reject(errors, source, received_at, manifest.manifest_id, manifest.version)


def _to_utc(manifest: Manifest) -> Manifest:
    # The contract's timestamps are UTC: a timestamp without a zone is read as UTC, one
    # with another offset is converted, so later stages compare like with like.
    def utc(ts: datetime) -> datetime:
        if ts.tzinfo is None:
            return ts.replace(tzinfo=UTC)
        if ts.tzinfo is not UTC:
            return ts.astimezone(UTC)
        return ts

    manifest.filed_at = utc(manifest.filed_at)
    route = manifest.route
    route.departure_at = utc(route.departure_at)
    route.arrival_at = utc(route.arrival_at)
    return manifest


def oversized_strings(record: Any, limit: int, path: str = "") -> list[ValidationError]:
    """SCHEMA errors for every string in a decoded record longer than ``limit`` characters.

    >>> from schemas.model import Filer
    >>> [e.path for e in oversized_strings(Filer(id="x" * 10, name="ok"), limit=5)]
    ['id']
    """
    errors: list[ValidationError] = []
    stack: list[tuple[str, Any]] = [(path, record)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if len(value) > limit:
                errors.append(
                    ValidationError(
                        SCHEMA, where or "$", f"text of {len(value)} characters exceeds the limit of {limit}; shorten it"
                    )
                )
        elif isinstance(value, msgspec.Struct):
            for name in reversed(value.__struct_fields__):
                stack.append((f"{where}.{name}" if where else name, getattr(value, name)))
        elif isinstance(value, list):
            for i in range(len(value) - 1, -1, -1):
                stack.append((f"{where}[{i}]", value[i]))
    return errors


def _checked(manifest: Manifest, size: int, max_text_chars: int, source: Source, received_at: datetime) -> Manifest | Rejection:
    """The manifest with UTC timestamps, or a Rejection when a big record hides huge strings."""
    if size > _SCAN_ABOVE_BYTES:
        errors = oversized_strings(manifest, max_text_chars)
        if errors:
            return _reject(errors, source, received_at, manifest.manifest_id, manifest.version)
    return _to_utc(manifest)


def _too_large(size: int, limit: int) -> ValidationError:
    return ValidationError(
        SCHEMA,
        "$",
        f"record of {size} bytes exceeds the limit of {limit} bytes (limits.max_record_bytes); "
        f"split the filing into several transport documents",
    )


# -- Kafka: Confluent-framed Avro ----------------------------------------------------------


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """An Avro zig-zag long at ``pos``: (value, next position); IndexError/ValueError if bad."""
    shift = result = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")
    return (result >> 1) ^ -(result & 1), pos


def _peek_avro_ids(value: bytes) -> tuple[str | None, int | None]:
    """manifest_id and version from the head of a Manifest record (its first two fields)."""
    try:
        length, pos = _read_varint(value, 5)
        if not 0 < length <= 200 or pos + length > len(value):
            return None, None
        manifest_id = value[pos : pos + length].decode("utf-8")
        version, _ = _read_varint(value, pos + length)
        return manifest_id, version
    except (IndexError, ValueError, UnicodeDecodeError):
        return None, None


def _peek_json_ids(data: bytes | str) -> tuple[Any, Any]:
    try:
        ids = _ids_decoder.decode(data)
        return ids.manifest_id, ids.version
    except Exception:  # noqa: BLE001 - best effort only: the rejection stands without ids
        return None, None


def _is_manifest_schema(codec: Codec, value: bytes) -> bool:
    """True when the value is framed with a known schema whose record is a Manifest."""
    try:
        sid = codec.schema_id(value)
        if sid == codec.registry.latest("Manifest")[0]:
            return True
        schema = codec.registry.by_id(sid)
        return isinstance(schema, dict) and schema.get("name") in ("Manifest", "org.cargowatch.Manifest")
    except Exception:  # noqa: BLE001 - unknown id, registry down: just do not peek
        return False


def _kafka_ids(value: bytes, codec: Codec, error: str = "") -> tuple[Any, Any]:
    if value[:1] == b"{":
        # Lines the producer could not frame are published as their JSON bytes.
        return _peek_json_ids(value)
    if not error.startswith("unknown schema id") and _is_manifest_schema(codec, value):
        return _peek_avro_ids(value)
    return None, None


def read_kafka_value(
    value: bytes | None,
    codec: Codec,
    source: Source,
    received_at: datetime,
    *,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
) -> Manifest | Rejection:
    """Decode one ``manifests.raw`` value (Confluent-framed Avro) into a Manifest, or reject it.

    Never raises. Empty or missing values, wrong magic byte, unknown schema id,
    truncated or trailing bytes, undecodable strings and values above
    ``max_record_bytes`` all give a Rejection with one SCHEMA error.
    """
    try:
        if value is None:
            return _reject(
                [ValidationError(SCHEMA, "$", "record has no value (tombstone); send a Confluent-framed Avro Manifest")],
                source,
                received_at,
            )
        if not isinstance(value, bytes):
            value = bytes(value)
        if len(value) > max_record_bytes:
            return _reject([_too_large(len(value), max_record_bytes)], source, received_at, *_kafka_ids(value, codec))
        # The compiled reader takes records of the latest writer schema; fastavro reads
        # the rest (other schema ids: resolution) and words every rejection.
        manifest = codec.decode_struct("Manifest", value, Manifest)
        if manifest is None:
            try:
                record = codec.decode("Manifest", value)
            except CodecError as exc:
                message = exc.message
                if value[:1] == b"{":
                    message += "; this looks like JSON: publish manifests with `cargowatch produce` (Avro)"
                return _reject(
                    [ValidationError(SCHEMA, msgspec_path(exc.path), _bounded(message, 500))],
                    source,
                    received_at,
                    *_kafka_ids(value, codec, exc.message),
                )
            try:
                manifest = manifest_from_dict(record)
            except msgspec.ValidationError as exc:
                return _reject(
                    [schema_error_from_msgspec(exc)], source, received_at, record.get("manifest_id"), record.get("version")
                )
        return _checked(manifest, len(value), max_text_chars, source, received_at)
    except Exception as exc:  # noqa: BLE001 - the worker must never choke on a record
        return _reject(
            [ValidationError(SCHEMA, "$", f"record could not be read ({type(exc).__name__}); send a Confluent-framed Avro Manifest")],
            source,
            received_at,
        )


# -- files and HTTP: JSON lines ------------------------------------------------------------


def read_json_line(
    line: bytes | str,
    source: Source,
    received_at: datetime,
    *,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
) -> Manifest | Rejection:
    """Decode one manifest in its JSON form (a line of a file, an HTTP body), or reject it.

    Never raises. Invalid JSON, invalid UTF-8, wrong types, missing fields, numbers out of
    range (``1e999``), ``NaN``/``Infinity`` literals (not JSON), nesting too deep and lines
    above ``max_record_bytes`` give a Rejection with SCHEMA errors whose path is the
    contract's form (``goods[0].hs_code``).
    """
    try:
        if isinstance(line, str):
            try:
                data = line.encode("utf-8")
            except UnicodeEncodeError as exc:
                return _reject(
                    [ValidationError(SCHEMA, "$", f"text is not valid Unicode ({exc.reason} at {exc.start}); send UTF-8")],
                    source,
                    received_at,
                )
        else:
            data = bytes(line)
        if len(data) > max_record_bytes:
            return _reject([_too_large(len(data), max_record_bytes)], source, received_at)
        try:
            manifest = decode_manifest_json(data)
        except msgspec.ValidationError as exc:
            return _reject([schema_error_from_msgspec(exc)], source, received_at, *_peek_json_ids(data))
        except msgspec.DecodeError as exc:
            message = str(exc)
            if b"NaN" in data or b"Infinity" in data:
                message += " (NaN and Infinity are not JSON numbers: send a finite number)"
            return _reject(
                [ValidationError(SCHEMA, "$", _bounded(message) + "; send one JSON object per line")],
                source,
                received_at,
            )
        except UnicodeDecodeError as exc:
            return _reject(
                [ValidationError(SCHEMA, "$", f"invalid UTF-8 at byte {exc.start}; send the line encoded as UTF-8")],
                source,
                received_at,
            )
        except RecursionError:
            return _reject(
                [ValidationError(SCHEMA, "$", "JSON nested too deeply to be a manifest; send one manifest object per line")],
                source,
                received_at,
            )
        return _checked(manifest, len(data), max_text_chars, source, received_at)
    except Exception as exc:  # noqa: BLE001 - a bad line must never stop a file or a server
        return _reject(
            [ValidationError(SCHEMA, "$", f"line could not be read ({type(exc).__name__}); send one JSON manifest per line")],
            source,
            received_at,
        )


# -- decode + validate ---------------------------------------------------------------------


def validate_or_reject(
    item: Manifest | Rejection,
    ref: ReferenceData,
    config: ValidationConfig,
    now: datetime,
    source: Source,
    received_at: datetime,
) -> Manifest | Rejection:
    """The manifest when it passes every rule, else its Rejection with all errors.

    A Rejection from decoding passes through unchanged, so
    ``validate_or_reject(read_json_line(...), ...)`` is the whole intake of one input.
    (Batches: call :func:`schemas.validation.validate_batch` directly.)
    """
    if isinstance(item, Rejection):
        return item
    errors = validate(item, ref, config, now)
    if errors:
        return rejection_for(item, errors, source, received_at)
    return item
