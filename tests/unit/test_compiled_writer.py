"""The compiled Avro writer (msgspec MessagePack → native/src/avro.rs) against fastavro.

``Codec.encode_many`` writes the outputs (results, alerts, rejections) and the inputs
the tools publish (manifests, watchlist entries, traders) with the compiled writer and
hands whatever it refuses to fastavro. Either way the bytes must be fastavro's, and what
fastavro cannot write must still raise.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import fastavro
import msgspec
import pytest

from cargowatch.generator import GeneratorConfig, RiskRates, generate
from cargowatch.settings import Settings
from enrichers.refdata import ReferenceData
from schemas.codec import Codec, CompiledWriter, LocalRegistry
from schemas.intake import read_json_line
from schemas.model import (
    Alert,
    AlertSummary,
    Decision,
    EntryIdentifier,
    EntryName,
    Hit,
    Manifest,
    Rejection,
    ScreeningResult,
    Source,
    TraderProfile,
    ValidationError,
    WatchlistEntry,
    WatchlistMatch,
)
from streams.context import build_context
from streams.screening import Inbound, screen_batch

NOW = datetime(2026, 3, 20, tzinfo=UTC)
FAST = Codec()
FASTAVRO = Codec(compiled=False)
RATES = RiskRates(invalid=0.1, watchlist=0.1, dual_use=0.05, embargo_route=0.05, replay=0.02, amendment=0.05)


def compiled_writer(subject: str) -> CompiledWriter:
    sid, schema = LocalRegistry.default().latest(subject)
    return CompiledWriter(sid, schema)


def assert_same_bytes(subject: str, records: list) -> None:
    """Both codecs write the same bytes, and the compiled writer took every record."""
    assert FAST.encode_many(subject, records) == FASTAVRO.encode_many(subject, records)
    writer = compiled_writer(subject)
    assert all(writer.write(r) is not None for r in records)


@pytest.fixture(scope="module")
def screened() -> tuple[list[Manifest], list[ScreeningResult], list[Alert], list[Rejection]]:
    settings = Settings.load()
    ref = ReferenceData.load(settings.refdata)
    ctx = build_context(settings)
    inbound, manifests = [], []
    for i, (record, _label) in enumerate(generate(3000, 17, ref, GeneratorConfig(rates=RATES))):
        source = Source(kind="file", file="t.jsonl", line=i + 1)
        item = read_json_line(msgspec.json.encode(record), source, NOW)
        if isinstance(item, Manifest):
            manifests.append(item)
        inbound.append(Inbound(index=i, item=item, received_at=NOW, source=source))
    out = screen_batch(inbound, ctx, NOW)
    return manifests, [r for _, r in out.results], [a for _, a in out.alerts], [r for _, r in out.rejections]


def test_screening_outputs_are_written_as_fastavro_writes_them(screened) -> None:
    manifests, results, alerts, rejections = screened
    assert len(results) > 2000 and len(alerts) > 200 and len(rejections) > 150
    assert any(h.evidence for r in results for h in r.hits)  # (no list loaded here: matches are in the random test)
    assert_same_bytes("ScreeningResult", results)
    assert_same_bytes("Alert", alerts)
    assert_same_bytes("Rejection", rejections)
    assert_same_bytes("Manifest", manifests)
    # And what the compiled writer wrote reads back (through the compiled reader) as itself.
    for m, value in zip(manifests[:300], FAST.encode_many("Manifest", manifests[:300]), strict=True):
        assert FAST.decode_struct("Manifest", value, Manifest) == m


def _when(rnd: random.Random) -> datetime:
    tz = rnd.choice([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))])
    return datetime.fromtimestamp(rnd.uniform(-3e10, 2.5e11), UTC).replace(microsecond=rnd.randrange(10**6)).astimezone(tz)


def _text(rnd: random.Random) -> str:
    return "".join(rnd.choice("aZ09 -/:éüß中文😀\u00a0") for _ in range(rnd.randrange(0, 40)))


def _number(rnd: random.Random) -> float:
    return rnd.choice([0.0, -0.0, 1e308, -1e-308, float("inf"), float("-inf"), rnd.uniform(-1e6, 1e6), 2**60 + 1, 0, -3])


def _result(rnd: random.Random) -> ScreeningResult:
    hits = [
        Hit(_text(rnd), _number(rnd), _text(rnd), {_text(rnd): _text(rnd) for _ in range(rnd.randrange(0, 4))})
        for _ in range(rnd.randrange(0, 5))
    ]
    matches = [
        WatchlistMatch(_text(rnd), _text(rnd), _text(rnd), _text(rnd), _text(rnd), _number(rnd), _text(rnd))
        for _ in range(rnd.randrange(0, 3))
    ]
    return ScreeningResult(
        manifest_id=_text(rnd),
        version=rnd.choice([1, 2, -(2**31), 2**31 - 1]),
        score=_number(rnd),
        lane=rnd.choice(["GREEN", "YELLOW", "RED", "BLUE"]),
        referral=rnd.choice(["NONE", "RFI", "RFS", "DNL"]),
        hits=hits,
        watchlist_matches=matches,
        ruleset_version=_text(rnd),
        screened_at=_when(rnd),
        latency_ms=_number(rnd),
        list_versions={_text(rnd): _text(rnd) for _ in range(rnd.randrange(0, 3))},
    )


def test_random_records_of_every_subject() -> None:
    rnd = random.Random(3)
    results = [_result(rnd) for _ in range(1500)]
    assert_same_bytes("ScreeningResult", results)
    alerts = [
        Alert(
            f"{r.manifest_id}:{r.version}", r.manifest_id, r.version, r.lane, r.referral, r.score, r.hits,
            r.watchlist_matches, r.ruleset_version, _when(rnd),
            AlertSummary(_text(rnd), _text(rnd), "CNSHA", "NLRTM", rnd.choice([None, _text(rnd)]), _text(rnd),
                         _text(rnd), [_text(rnd) for _ in range(rnd.randrange(0, 4))], _when(rnd)),
        )
        for r in results[:500]
    ]
    assert_same_bytes("Alert", alerts)
    rejections = [
        Rejection(
            rnd.choice([None, _text(rnd)]), rnd.choice([None, 0, 7, 2**31 - 1]),
            [ValidationError(_text(rnd), _text(rnd), _text(rnd)) for _ in range(rnd.randrange(0, 4))], _when(rnd),
            rnd.choice([Source("kafka", "manifests.raw", rnd.randrange(64), rnd.randrange(2**62)), Source("file", file=_text(rnd), line=rnd.randrange(10**6)), Source("http")]),
        )
        for _ in range(500)
    ]
    assert_same_bytes("Rejection", rejections)
    decisions = [
        Decision(_text(rnd), _text(rnd), 3, rnd.choice(["CONFIRMED", "NO_FINDING", "FALSE_POSITIVE"]), _text(rnd), _text(rnd), _when(rnd), [_text(rnd)], [])
        for _ in range(200)
    ]
    assert_same_bytes("Decision", decisions)
    entries = [
        WatchlistEntry(_text(rnd), _text(rnd), "vessel", [EntryName(_text(rnd), "WEAK")], [_text(rnd)], [EntryIdentifier("IMO", _text(rnd))], [], _text(rnd), rnd.random() < 0.5)
        for _ in range(200)
    ]
    assert_same_bytes("WatchlistEntry", entries)
    assert_same_bytes("TraderProfile", [TraderProfile(_text(rnd), _text(rnd), "DE", rnd.choice([None, _text(rnd)])) for _ in range(200)])


def test_what_it_cannot_write_alike_goes_to_fastavro() -> None:
    rnd = random.Random(5)
    writer = compiled_writer("ScreeningResult")
    base = _result(rnd)
    fallbacks = [
        msgspec.structs.replace(base, screened_at=datetime(2026, 1, 1, 12, 0, 0, 123456)),  # naive: fastavro reads it as local time
        msgspec.structs.replace(base, version=True),  # fastavro writes a bool as 1
        msgspec.structs.replace(base, version=2**31),  # and an "int" beyond 32 bits as a long
        dict(msgspec.to_builtins(base, builtin_types=(datetime,)), list_versions=None) | {"hits": []},
        {k: v for k, v in msgspec.to_builtins(base, builtin_types=(datetime,)).items() if k != "list_versions"},  # default {}
        ("not", "a", "record"),
    ]
    for record in fallbacks:
        assert writer.write(record) is None
        try:
            expected: bytes | type = FASTAVRO.encode("ScreeningResult", record)
        except Exception as exc:  # noqa: BLE001 - fastavro's own error is the expectation
            expected = type(exc)
        if isinstance(expected, bytes):
            assert FAST.encode("ScreeningResult", record) == expected
        else:
            with pytest.raises(expected):
                FAST.encode("ScreeningResult", record)


@pytest.mark.parametrize(
    "change",
    [{"lane": "PURPLE"}, {"version": 2**64}, {"score": "high"}, {"manifest_id": None}, {"screened_at": "yesterday"}],
)
def test_what_fastavro_refuses_still_raises(change: dict) -> None:
    record = msgspec.structs.replace(_result(random.Random(1)), **change)
    assert compiled_writer("ScreeningResult").write(record) is None
    with pytest.raises((ValueError, TypeError, AttributeError, OverflowError)) as reference:
        FASTAVRO.encode("ScreeningResult", record)
    with pytest.raises(reference.type):
        FAST.encode("ScreeningResult", record)


def test_bytes_are_left_to_fastavro() -> None:
    # fastavro is handed Structs through msgspec.to_builtins, where bytes become base64
    # text; the compiled writer would write the raw bytes, so it does not take the schema.
    schema = fastavro.parse_schema({"type": "record", "name": "B", "fields": [{"name": "b", "type": ["null", "bytes"]}]}, named_schemas={})
    with pytest.raises(ValueError, match="Bytes"):
        CompiledWriter(99, schema)
