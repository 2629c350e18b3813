"""Trader history lives in Kafka (a Faust table fed by the worker's deltas, streams/history.py):
on a real broker, the real ``cargowatch worker`` learns a trader from its first filing and an
officer's finding, is restarted with nothing on disk, and the trader's next filing is scored
from the table: PRIOR_FINDINGS fires, NEW_TRADER does not."""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import murmur2

from cargowatch.generator import GeneratorConfig, RiskRates, generate
from cargowatch.ingest import frame_line
from cargowatch.kafka import ensure_topics
from cargowatch.settings import Settings
from enrichers.refdata import ReferenceData
from enrichers.traders import TraderDelta, TraderState, decode_state, encode_deltas
from schemas.codec import Codec
from schemas.model import Decision
from streams.history import key_partition

sys.path.insert(0, str(Path(__file__).parent / "faults"))
from fault_harness import Worker, group_members  # noqa: E402

pytestmark = pytest.mark.integration

CONSIGNEE, CONSIGNOR = "ITHIST0000001", "ITHIST0000002"


def _filings(settings: Settings, n: int, seed: int) -> list[tuple[bytes, bytes, str]]:
    """Clean generated filings of one consignee and consignor (ids not in any register)."""
    ref = ReferenceData.load(settings.refdata)
    enc, codec = msgspec.json.Encoder(), Codec()
    out = []
    for record, _ in generate(n, seed, ref, GeneratorConfig(rates=RiskRates.none())):
        ids = {"CONSIGNEE": CONSIGNEE, "CONSIGNOR": CONSIGNOR}
        for p in record["parties"]:
            p["identifier"] = ids.get(p["role"])
        key, value, framed = frame_line(enc.encode(record), codec)
        assert framed and key is not None
        out.append((key, value, record["manifest_id"]))
    return out


async def _send(settings: Settings, topic: str, items: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(**settings.kafka_client_options())
    await producer.start()
    try:
        for key, value in items:
            await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()


async def _send_aborted_delta(settings: Settings, delta: TraderDelta) -> None:
    """A deltas record in a transaction that aborts (what a worker killed mid-batch leaves)."""
    producer = AIOKafkaProducer(**settings.kafka_client_options(), transactional_id=f"{settings.topic_prefix}aborted")
    await producer.start()
    try:
        partition = key_partition(delta.trader_id.encode()) % settings.topic_partitions
        await producer.begin_transaction()
        await producer.send_and_wait(
            settings.topics.trader_history_deltas, value=encode_deltas([delta]), key=str(partition).encode(),
            partition=partition,
        )
        await producer.abort_transaction()
    finally:
        await producer.stop()


async def _results(settings: Settings, ids: set[str], worker: Worker, timeout_s: float = 240.0) -> dict[str, dict]:
    codec = Codec()
    consumer = AIOKafkaConsumer(
        settings.topics.screened, **settings.kafka_client_options(), group_id=None,
        auto_offset_reset="earliest", isolation_level="read_committed", enable_auto_commit=False,
    )
    await consumer.start()
    found: dict[str, dict] = {}
    try:
        deadline = time.monotonic() + timeout_s
        while not ids <= found.keys() and time.monotonic() < deadline:
            for recs in (await consumer.getmany(timeout_ms=500)).values():
                for r in recs:
                    result = codec.decode("ScreeningResult", r.value)
                    found[result["manifest_id"]] = result
    finally:
        await consumer.stop()
    assert ids <= found.keys(), f"not screened: {ids - found.keys()}\n{worker.log_tail()}"
    return found


async def _table_state(settings: Settings, trader_id: str, until, worker: Worker, timeout_s: float = 180.0) -> TraderState:
    """The trader's latest state on the table's changelog, once ``until(state)`` holds."""
    consumer = AIOKafkaConsumer(
        settings.topics.trader_history, **settings.kafka_client_options(), group_id=None,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )
    await consumer.start()
    state: TraderState | None = None
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and (state is None or not until(state)):
            for recs in (await consumer.getmany(timeout_ms=500)).values():
                for r in recs:
                    if r.key == trader_id.encode() and r.value is not None:
                        state = decode_state(r.value)
    finally:
        await consumer.stop()
    assert state is not None and until(state), f"table state of {trader_id}: {state}\n{worker.log_tail()}"
    return state


async def _screening(worker: Worker, timeout_s: float = 300.0) -> None:
    """Wait until the worker's pipeline runs (reference data and the history read back)."""
    deadline = time.monotonic() + timeout_s
    while True:
        status, body = worker.healthz()
        if status == 200 and msgspec.json.decode(body).get("reason") == "ok":
            return
        assert worker.alive() and time.monotonic() < deadline, worker.log_tail()
        await asyncio.sleep(1)


def _rules(result: dict) -> set[str]:
    return {h["rule_id"] for h in result["hits"]}


async def test_history_survives_a_restart_and_feeds_new_trader_and_prior_findings(
    settings: Settings, tmp_path: Path
) -> None:
    settings = settings.replace(reference_wait_s=60.0)
    await ensure_topics(settings)
    first, second = _filings(settings, 3, seed=41), _filings(settings, 2, seed=42)
    worker = Worker(settings, tmp_path / "logs", name="history")
    (tmp_path / "logs").mkdir()
    worker.start()
    try:
        await _screening(worker)
        await _send(settings, settings.topics.raw, [(k, v) for k, v, _ in first[:1]])
        got = await _results(settings, {first[0][2]}, worker)
        assert "NEW_TRADER" in _rules(got[first[0][2]])  # never seen: new
        await _send(settings, settings.topics.raw, [(k, v) for k, v, _ in first[1:]])
        got = await _results(settings, {m for _, _, m in first}, worker)
        # the first filing taught the history (in this worker at once, before the table)
        assert all("NEW_TRADER" not in _rules(got[m]) for _, _, m in first[1:])
        # a batch whose transaction aborted taught nothing (its manifests are screened again)
        await _send_aborted_delta(settings, TraderDelta(CONSIGNEE, origin="killed-worker", seq=1, shipments=100))
        # an officer confirms a finding on the first filing
        decision = Decision(
            alert_id="AL-HIST-1", manifest_id=first[0][2], version=1, outcome="CONFIRMED", reason="undeclared goods",
            officer="officer1", decided_at=datetime.now(UTC), trader_ids=[CONSIGNEE],
        )
        await _send(settings, settings.topics.decisions, [(first[0][2].encode(), Codec().encode("Decision", decision))])
        # the decision's delta follows the aborted one in the deltas partition
        state = await _table_state(settings, CONSIGNEE, lambda s: s.confirmed == 1, worker)
        assert state.shipments == 3, f"an aborted transaction's delta was folded: {state}"
        assert "killed-worker" not in state.applied
        assert state.recent_decisions[0].alert_id == "AL-HIST-1"
        assert state.first_seen is not None and state.routes and state.hs_chapters
    finally:
        code, _ = worker.terminate(120)
    assert code == 0, worker.log_tail()

    # nothing of the history on disk: the restarted worker reads it back from the table
    shutil.rmtree(settings.state_dir, ignore_errors=True)
    worker.start()
    try:
        await _screening(worker)
        await _send(settings, settings.topics.raw, [(k, v) for k, v, _ in second])
        got = await _results(settings, {m for _, _, m in second}, worker)
        for _, _, m in second:
            rules = _rules(got[m])
            assert "PRIOR_FINDINGS" in rules, (m, rules, worker.log_tail())
            assert "NEW_TRADER" not in rules, (m, rules)
        state = await _table_state(settings, CONSIGNOR, lambda s: s.shipments == 5, worker)
        assert state.confirmed == 0  # the decision named the consignee only
    finally:
        worker.stop()



async def test_every_worker_scores_from_the_history_another_worker_learned(
    settings: Settings, tmp_path: Path
) -> None:
    """Filings are spread over the workers by manifest id, not by trader: a trader's next
    filing may land on a worker that never saw it, which learns it from the table."""
    settings = settings.replace(reference_wait_s=60.0)
    await ensure_topics(settings)
    (tmp_path / "logs").mkdir()
    filings = _filings(settings, 40, seed=43)
    first, rest = filings[0], filings[1:]
    # later filings in every partition of manifests.raw, so every worker gets some
    parts = settings.topic_partitions
    by_partition: dict[int, list] = {}
    for f in rest:
        by_partition.setdefault((murmur2(f[0]) & 0x7FFFFFFF) % parts, []).append(f)
    assert len(by_partition) == parts
    later = [f for group in by_partition.values() for f in group[:3]]
    workers = [Worker(settings, tmp_path / "logs", name=n).start() for n in ("a", "b")]
    try:
        deadline = time.monotonic() + 180
        for w in workers:
            await _screening(w)
        while (await group_members(settings, settings.consumer_group))[1] != 2:
            assert time.monotonic() < deadline, "\n".join(w.log_tail() for w in workers)
            await asyncio.sleep(1)
        await _send(settings, settings.topics.raw, [first[:2]])
        got = await _results(settings, {first[2]}, workers[0])
        assert "NEW_TRADER" in _rules(got[first[2]])
        # both traders of the filing in the table (their deltas may be folded by different
        # workers, each writing once per trader_history_flush_ms window)
        for trader in (CONSIGNEE, CONSIGNOR):
            await _table_state(settings, trader, lambda s: s.shipments == 1, workers[0])
        await _send(settings, settings.topics.raw, [(k, v) for k, v, _ in later])
        got = await _results(settings, {m for _, _, m in later}, workers[0])
        new = [m for _, _, m in later if "NEW_TRADER" in _rules(got[m])]
        assert not new, (new, [w.log_tail() for w in workers])
    finally:
        for w in workers:
            w.stop()
