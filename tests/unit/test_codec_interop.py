"""Our Codec against confluent-kafka's Avro serde (a client we did not write), and schema
evolution of Manifest (a new optional field) in both directions."""

# ruff: noqa: E402 - the shared manifest builders sit in tests/unit/validation
from __future__ import annotations

import copy
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import fastavro
import msgspec
import pytest

sys.path.insert(0, str(Path(__file__).parent / "validation"))
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry._sync.mock_schema_registry_client import (
    MockSchemaRegistryClient,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from manifest_builders import make_air_manifest, make_manifest

from schemas.codec import SCHEMA_DIR, Codec, CodecError, LocalRegistry
from schemas.intake import read_kafka_value
from schemas.model import Manifest, Source, manifest_from_dict

TOPIC = "manifests.raw"
SRC = Source(kind="kafka", topic=TOPIC, partition=0, offset=0)


def _schema_text(subject: str) -> str:
    registry = json.loads((SCHEMA_DIR / "registry.json").read_text())
    return (SCHEMA_DIR / registry["subjects"][subject][-1]["file"]).read_text()


@pytest.fixture(scope="module")
def mock_registry() -> MockSchemaRegistryClient:
    """confluent-kafka's mock registry holding our schemas under the same ids as registry.json."""
    client = MockSchemaRegistryClient({"url": "mock://cargowatch"})
    registry = json.loads((SCHEMA_DIR / "registry.json").read_text())
    ordered = sorted(
        ((v["id"], subject) for subject, versions in registry["subjects"].items() for v in versions)
    )
    for sid, subject in ordered:
        name = f"{TOPIC}-value" if subject == "Manifest" else f"{subject}-value"
        got = client.register_schema(name, Schema(_schema_text(subject), "AVRO"))
        assert got == sid, f"mock registry gave id {got} to {subject}, registry.json says {sid}"
    return client


def _ctx() -> SerializationContext:
    return SerializationContext(TOPIC, MessageField.VALUE)


def _to_dict(record: Any, ctx: Any) -> dict:


    return msgspec.to_builtins(record, builtin_types=(datetime,))


@pytest.mark.parametrize("build", [make_manifest, make_air_manifest])
def test_our_frames_read_by_confluent_deserializer(mock_registry, build) -> None:
    m = build()
    value = Codec().encode("Manifest", m)
    record = AvroDeserializer(mock_registry)(value, _ctx())
    assert manifest_from_dict(record) == m


@pytest.mark.parametrize("build", [make_manifest, make_air_manifest])
def test_confluent_frames_read_by_our_codec(mock_registry, build) -> None:
    m = build()
    serializer = AvroSerializer(
        mock_registry, _schema_text("Manifest"), to_dict=_to_dict, conf={"auto.register.schemas": False, "use.latest.version": True}
    )
    value = serializer(m, _ctx())
    assert value[:5] == b"\x00\x00\x00\x00\x01"  # magic byte, schema id 1
    assert read_kafka_value(value, Codec(), SRC, m.filed_at) == m


# -- schema evolution ----------------------------------------------------------------------


class _Registry:
    """A registry whose reader ("latest") schema we choose: an old or a new consumer."""

    def __init__(self, schemas: dict[int, dict], latest_id: int):
        self._parsed = {sid: fastavro.parse_schema(copy.deepcopy(s), named_schemas={}) for sid, s in schemas.items()}
        self._latest = latest_id

    def latest(self, subject: str) -> tuple[int, Any]:
        assert subject == "Manifest"
        return self._latest, self._parsed[self._latest]

    def by_id(self, schema_id: int) -> Any:
        try:
            return self._parsed[schema_id]
        except KeyError:
            raise CodecError(f"unknown schema id {schema_id}") from None


V1_ID, V2_ID = 1, 8


def _v1() -> dict:
    return json.loads(_schema_text("Manifest"))


def _v2() -> dict:
    schema = _v1()
    schema["fields"].append(
        {"name": "customs_office", "type": ["null", "string"], "default": None, "doc": "office of first entry"}
    )
    return schema


def test_v1_still_registered_locally() -> None:
    sid, _ = LocalRegistry.default().latest("Manifest")
    assert sid == V1_ID


def test_backward_new_reader_reads_old_data() -> None:
    old_writer = Codec(_Registry({V1_ID: _v1()}, V1_ID))
    new_reader = Codec(_Registry({V1_ID: _v1(), V2_ID: _v2()}, V2_ID))
    m = make_manifest()
    record = new_reader.decode("Manifest", old_writer.encode("Manifest", m))
    assert record["customs_office"] is None
    assert manifest_from_dict(record) == m


def test_forward_old_reader_reads_new_data() -> None:
    new_writer = Codec(_Registry({V1_ID: _v1(), V2_ID: _v2()}, V2_ID))
    old_reader = Codec(_Registry({V1_ID: _v1(), V2_ID: _v2()}, V1_ID))
    m = make_manifest()
    data = dict(_to_dict(m, None), customs_office="DE004851")
    value = new_writer.encode("Manifest", data)
    assert value[1:5] == V2_ID.to_bytes(4, "big")
    record = old_reader.decode("Manifest", value)
    assert "customs_office" not in record
    assert read_kafka_value(value, old_reader, SRC, m.filed_at) == m


def test_evolution_with_confluent_deserializer(mock_registry) -> None:
    # A v2 producer registered with the registry; a confluent consumer pinned to v1 still reads.
    client = MockSchemaRegistryClient({"url": "mock://evolution"})
    client.register_schema(f"{TOPIC}-value", Schema(_schema_text("Manifest"), "AVRO"))
    v2_id = client.register_schema(f"{TOPIC}-value", Schema(json.dumps(_v2()), "AVRO"))
    m = make_manifest()
    writer = Codec(_Registry({1: _v1(), v2_id: _v2()}, v2_id))
    value = writer.encode("Manifest", dict(_to_dict(m, None), customs_office="DE004851"))
    reader = AvroDeserializer(client, _schema_text("Manifest"))
    record = reader(value, _ctx())
    assert manifest_from_dict(record) == m and "customs_office" not in record


def test_manifest_struct_ignores_unknown_fields() -> None:
    data = dict(_to_dict(make_manifest(), None), customs_office="DE004851")
    assert isinstance(manifest_from_dict(data), Manifest)


def test_evolution_through_the_compiled_reader() -> None:
    # A v2 consumer reads v2 records with the compiled reader (the Struct leaves out the
    # new field) and v1 records with fastavro (resolution); a v1 consumer reads v2 records
    # with fastavro. Each gives the Manifest fastavro alone gives.
    m = make_manifest()
    v1_value = Codec(_Registry({V1_ID: _v1()}, V1_ID)).encode("Manifest", m)
    both = _Registry({V1_ID: _v1(), V2_ID: _v2()}, V2_ID)
    v2_value = Codec(both).encode("Manifest", dict(_to_dict(m, None), customs_office="DE004851"))
    new_reader, old_reader = Codec(both), Codec(_Registry({V1_ID: _v1(), V2_ID: _v2()}, V1_ID))
    assert new_reader.decode_struct("Manifest", v2_value, Manifest) == m
    assert new_reader.decode_struct("Manifest", v1_value, Manifest) is None
    assert old_reader.decode_struct("Manifest", v2_value, Manifest) is None
    for codec, value in ((new_reader, v2_value), (new_reader, v1_value), (old_reader, v2_value), (old_reader, v1_value)):
        reference = Codec(codec.registry, compiled=False)
        assert read_kafka_value(value, codec, SRC, m.filed_at) == read_kafka_value(value, reference, SRC, m.filed_at) == m
