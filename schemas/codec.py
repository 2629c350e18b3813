"""The one codec: Confluent wire format (magic byte 0, 4-byte big-endian schema id, Avro body).

Schema ids come from a Confluent Schema Registry when one is configured
(``CARGOWATCH_SCHEMA_REGISTRY_URL``) and from the local registry file
``schemas/registry.json`` otherwise.

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
import struct
import urllib.request
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import fastavro
import msgspec

SCHEMA_DIR = Path(__file__).parent
MAGIC = 0
_HEADER = struct.Struct(">bI")


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


class Codec:
    """Encode and decode Confluent-framed Avro for the subjects in the registry."""

    def __init__(self, registry: SchemaRegistry | None = None):
        self.registry = registry or LocalRegistry.default()

    def encode(self, subject: str, record: Any) -> bytes:
        """Frame one record (a Struct or a mapping) with the subject's latest schema."""
        sid, schema = self.registry.latest(subject)
        buf = io.BytesIO()
        buf.write(_HEADER.pack(MAGIC, sid))
        fastavro.schemaless_writer(buf, schema, _builtins(record))
        return buf.getvalue()

    def encode_many(self, subject: str, records: Iterable[Any]) -> list[bytes]:
        """Frame a batch of records; one schema lookup for the batch."""
        sid, schema = self.registry.latest(subject)
        header = _HEADER.pack(MAGIC, sid)
        out = []
        writer = fastavro.schemaless_writer
        for record in records:
            buf = io.BytesIO()
            buf.write(header)
            writer(buf, schema, _builtins(record))
            out.append(buf.getvalue())
        return out

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
