"""The one codec: Confluent wire format (magic byte 0, 4-byte big-endian schema id, Avro body).

Schema ids come from a Confluent Schema Registry when one is configured
(``CARGOWATCH_SCHEMA_REGISTRY_URL``) and from the local registry file
``schemas/registry.json`` otherwise.

Records framed with a subject's latest schema can be read straight into a Struct by
:meth:`Codec.decode_struct`: the schema compiled once in Rust (``native/src/avro.rs``)
turns the Avro body into MessagePack, which msgspec decodes at C speed (the Manifest
intake: 13–19 µs a record against ~60 µs with fastavro and ``msgspec.convert``, see
BENCHMARKS.md). fastavro stays the reference: whatever the compiled reader does not
take, :meth:`Codec.decode` reads. Writing is the same in reverse (:class:`CompiledWriter`:
msgspec's MessagePack to the Avro body, the bytes fastavro writes, ~2.5 µs a result
against ~13.4 µs); fastavro writes what it does not take.

>>> codec = Codec(LocalRegistry.default())
>>> data = codec.encode("TraderProfile", {"trader_id": "T1", "name": "ACME", "country": "DE"})
>>> data[:5]
b'\\x00\\x00\\x00\\x00\\x07'
>>> codec.decode("TraderProfile", data)["name"]
'ACME'
"""

from __future__ import annotations

import io
import json
import logging
import struct
import urllib.request
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import fastavro
import msgspec
from cargowatch_native import AvroTranscoder

SCHEMA_DIR = Path(__file__).parent
MAGIC = 0
_HEADER = struct.Struct(">bI")

S = TypeVar("S", bound=msgspec.Struct)

log = logging.getLogger(__name__)


class CodecError(ValueError):
    """Bytes that cannot be read as the expected record. ``code`` is always ``SCHEMA``."""

    code = "SCHEMA"

    def __init__(self, message: str, path: str = "$"):
        super().__init__(message)
        self.message = message
        self.path = path


class SchemaRegistry(Protocol):
    def latest(self, subject: str) -> tuple[int, Any]: ...
    def by_id(self, schema_id: int) -> Any: ...


def _parse(schema: dict) -> Any:
    return fastavro.parse_schema(schema, named_schemas={})


class LocalRegistry:
    """Schema ids from ``schemas/registry.json``: stable, versioned, never reused."""

    def __init__(self, registry_file: Path):
        self.path = registry_file
        raw = json.loads(registry_file.read_text())
        self._by_id: dict[int, Any] = {}
        self._raw_by_id: dict[int, dict] = {}
        self._latest: dict[str, int] = {}
        for subject, versions in raw["subjects"].items():
            for v in versions:
                schema = json.loads((registry_file.parent / v["file"]).read_text())
                self._raw_by_id[v["id"]] = schema
                self._by_id[v["id"]] = _parse(schema)
            self._latest[subject] = versions[-1]["id"]

    @classmethod
    def default(cls) -> LocalRegistry:
        return cls(SCHEMA_DIR / "registry.json")

    def latest(self, subject: str) -> tuple[int, Any]:
        try:
            sid = self._latest[subject]
        except KeyError:
            raise KeyError(f"no schema registered for subject {subject!r}") from None
        return sid, self._by_id[sid]

    def by_id(self, schema_id: int) -> Any:
        try:
            return self._by_id[schema_id]
        except KeyError:
            raise CodecError(f"unknown schema id {schema_id}") from None

    def raw(self, schema_id: int) -> dict:
        return self._raw_by_id[schema_id]

    def subjects(self) -> list[str]:
        return list(self._latest)


class HttpRegistry:
    """A Confluent Schema Registry over its REST API. Our schemas are registered under
    ``<subject>-value`` on first use; ids are cached for the life of the process."""

    def __init__(self, url: str, local: LocalRegistry | None = None, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self.local = local or LocalRegistry.default()
        self.timeout = timeout
        self._by_id: dict[int, Any] = {}
        self._latest: dict[str, tuple[int, Any]] = {}

    def _request(self, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.url + path,
            data=data,
            headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
            method="POST" if data else "GET",
        )
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            return json.loads(resp.read())

    def latest(self, subject: str) -> tuple[int, Any]:
        if subject not in self._latest:
            local_id, parsed = self.local.latest(subject)
            raw = self.local.raw(local_id)
            reply = self._request(f"/subjects/{subject}-value/versions", {"schema": json.dumps(raw)})
            self._latest[subject] = (int(reply["id"]), parsed)
            self._by_id[int(reply["id"])] = parsed
        return self._latest[subject]

    def by_id(self, schema_id: int) -> Any:
        if schema_id not in self._by_id:
            try:
                reply = self._request(f"/schemas/ids/{schema_id}")
            except Exception as exc:  # noqa: BLE001 - any registry failure is an unknown id here
                raise CodecError(f"unknown schema id {schema_id} ({exc})") from None
            self._by_id[schema_id] = _parse(json.loads(reply["schema"]))
        return self._by_id[schema_id]


def _builtins(record: Any) -> Any:
    if isinstance(record, msgspec.Struct):
        return msgspec.to_builtins(record, builtin_types=(datetime,))
    return record


def _or_none(call: Any, *args: Any) -> Any:
    """``call(*args)``, or None when the compiled code refuses (any Exception) or panics
    (pyo3's PanicException, a BaseException: a bug there must not stop a worker; it is
    logged). Either way the caller hands the record to fastavro. Anything else that is
    not an Exception (KeyboardInterrupt, SystemExit) is re-raised."""
    try:
        return call(*args)
    except Exception:  # noqa: BLE001 - any refusal sends the record to fastavro
        return None
    except BaseException as exc:
        if type(exc).__name__ != "PanicException":
            raise
        log.error("compiled Avro code panicked (%s); fastavro takes the record", exc)
        return None


class CompiledReader:
    """Records of one schema id read straight into a Struct: the writer schema compiled
    to an Avro-to-MessagePack transcoder, then msgspec's decoder for the Struct.

    It refuses (None) every record it is not sure of: another schema id, and any body
    the transcoder or the Struct does not take (truncated, trailing bytes, bad UTF-8,
    lengths beyond the record, indexes out of range, a value of the wrong shape...).
    Where it answers, the Struct equals what fastavro and ``msgspec.convert`` give.
    """

    def __init__(self, schema_id: int, writer_schema: Any, struct_type: type[S]):
        self.schema_id = schema_id
        self._frame = _HEADER.pack(MAGIC, schema_id)
        self._transcode = AvroTranscoder(json.dumps(writer_schema)).transcode
        self._decode = msgspec.msgpack.Decoder(struct_type).decode

    def read(self, data: bytes) -> Any:
        """The Struct, or None when this reader does not take ``data``."""
        if data[:5] != self._frame:
            return None
        return _or_none(self._read_body, data)

    def _read_body(self, data: bytes) -> Any:
        return self._decode(self._transcode(data, 5))


_WRITABLE = (msgspec.Struct, dict)  # what CompiledWriter takes (a tuple: no union built per record)


class CompiledWriter:
    """Records written with one schema id without fastavro: msgspec encodes the record
    (a Struct or a mapping) as MessagePack, and the writer schema compiled in Rust
    writes that as the Avro body fastavro would write, byte for byte.

    It refuses (None) every record it cannot write exactly as fastavro does (a field
    missing, a naive datetime, a value of another type than the schema's...); the
    caller writes those with fastavro, which also raises for what cannot be written.
    """

    def __init__(self, schema_id: int, writer_schema: Any):
        self.schema_id = schema_id
        self._header = _HEADER.pack(MAGIC, schema_id)
        transcoder = AvroTranscoder(json.dumps(writer_schema))
        transcoder.check_writable()
        self._write = transcoder.write
        self._encode = msgspec.msgpack.Encoder().encode

    def write(self, record: Any) -> bytes | None:
        """The framed record, or None when this writer does not take it."""
        if not isinstance(record, _WRITABLE):
            return None
        result: bytes | None = _or_none(self._write_record, record)
        return result

    def _write_record(self, record: Any) -> bytes:
        return self._write(self._encode(record), self._header)


class Codec:
    """Encode and decode Confluent-framed Avro for the subjects in the registry.

    ``compiled=False`` reads and writes every record with fastavro: the reference the
    compiled reader and writer are tested and benchmarked against.
    """

    def __init__(self, registry: SchemaRegistry | None = None, *, compiled: bool = True):
        self.registry = registry or LocalRegistry.default()
        self.compiled = compiled
        self._readers: dict[tuple[str, type], CompiledReader | None] = {}
        self._writers: dict[tuple[str, int], CompiledWriter | None] = {}

    def encode(self, subject: str, record: Any) -> bytes:
        """Frame one record (a Struct or a mapping) with the subject's latest schema."""
        return self.encode_many(subject, [record])[0]

    def encode_many(self, subject: str, records: Iterable[Any]) -> list[bytes]:
        """Frame a batch of records; one schema lookup for the batch. The compiled writer
        takes what it writes exactly as fastavro does; fastavro writes the rest."""
        sid, schema = self.registry.latest(subject)
        compiled = self._writer(subject, sid, schema)
        header = _HEADER.pack(MAGIC, sid)
        out = []
        writer = fastavro.schemaless_writer
        for record in records:
            value = None if compiled is None else compiled.write(record)
            if value is None:
                buf = io.BytesIO()
                buf.write(header)
                writer(buf, schema, _builtins(record))
                value = buf.getvalue()
            out.append(value)
        return out

    def _writer(self, subject: str, sid: int, schema: Any) -> CompiledWriter | None:
        key = (subject, sid)
        try:
            return self._writers[key]
        except KeyError:
            pass
        try:
            writer: CompiledWriter | None = CompiledWriter(sid, schema) if self.compiled else None
        except (TypeError, ValueError):  # a schema the writer does not support: fastavro only
            writer = None
        self._writers[key] = writer
        return writer

    def schema_id(self, data: bytes) -> int:
        """The schema id of a framed record; raises CodecError when not framed."""
        if data is None or len(data) < 5:
            raise CodecError(
                f"record of {0 if data is None else len(data)} bytes is too short for the Confluent frame"
            )
        magic, sid = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise CodecError(f"wrong magic byte {magic} (expected 0: Confluent wire format)")
        return sid

    def decode_struct(self, subject: str, data: bytes, struct_type: type[S]) -> S | None:
        """``data`` as a ``struct_type`` when it is framed with the subject's latest schema
        and the compiled reader takes it; None otherwise, and then :meth:`decode` (with
        schema resolution, and the words for any error) is the way to read it.

        >>> from schemas.model import TraderProfile
        >>> codec = Codec(LocalRegistry.default())
        >>> data = codec.encode("TraderProfile", {"trader_id": "T1", "name": "ACME", "country": "DE"})
        >>> codec.decode_struct("TraderProfile", data, TraderProfile)
        TraderProfile(trader_id='T1', name='ACME', country='DE', aeo_certificate=None, aeo_valid_until=None, risk_notes=None)
        >>> codec.decode_struct("TraderProfile", data[:-1], TraderProfile) is None
        True
        """
        key = (subject, struct_type)
        try:
            reader = self._readers[key]
        except KeyError:
            reader = self._compile(subject, struct_type)
        return None if reader is None else reader.read(data)

    def _compile(self, subject: str, struct_type: type[S]) -> CompiledReader | None:
        if not self.compiled:
            self._readers[(subject, struct_type)] = None
            return None
        try:
            sid, schema = self.registry.latest(subject)
        except Exception:  # noqa: BLE001 - registry down: fastavro's way says so; tried again next time
            return None
        try:
            reader: CompiledReader | None = CompiledReader(sid, schema, struct_type)
        except (TypeError, ValueError):  # a schema the transcoder does not support: fastavro only
            reader = None
        self._readers[(subject, struct_type)] = reader
        return reader

    def decode(self, subject: str, data: bytes) -> dict:
        """Decode one framed record into a mapping shaped by the subject's latest schema.

        Raises CodecError (code SCHEMA) for anything that is not a readable record:
        short or empty input, wrong magic byte, unknown schema id, truncated or
        trailing bytes, undecodable strings.
        """
        sid = self.schema_id(data)
        writer = self.registry.by_id(sid)
        _, reader = self.registry.latest(subject)
        buf = io.BytesIO(data)
        buf.seek(5)
        try:
            record = fastavro.schemaless_reader(buf, writer, reader if reader is not writer else None)
        except CodecError:
            raise
        except Exception as exc:  # noqa: BLE001 - fastavro raises many types on bad bytes
            raise CodecError(f"Avro body not readable with schema id {sid}: {type(exc).__name__}: {exc}") from None
        if buf.tell() != len(data):
            raise CodecError(f"{len(data) - buf.tell()} trailing bytes after the Avro record")
        if not isinstance(record, dict):
            raise CodecError("Avro body is not a record")
        return record


def registry_from_settings(schema_registry_url: str | None) -> SchemaRegistry:
    """The registry the settings call for: HTTP when a URL is set, the local file otherwise."""
    if schema_registry_url:
        return HttpRegistry(schema_registry_url)
    return LocalRegistry.default()
