"""The dashboard's state comes from the topics (design principle 3): a dashboard started
after alerts, decisions, results and dead letters were written shows all of them, and a
second one started later shows the same board."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import TopicPartition
from unit.sinks.sink_samples import make_alert_record, make_manifest, make_result

from cargowatch.kafka import ensure_topics, make_consumer, make_producer
from cargowatch.settings import Settings
from schemas.codec import Codec
from schemas.model import Decision
from sinks.dashboard.board import AlertFilter
from sinks.dashboard.users import add_user
from sinks.dashboard.web import Dashboard


async def _publish(settings: Settings) -> None:
    codec = Codec()
    t = settings.topics
    producer = make_producer(settings)
    await producer.start()
    try:
        for i, lane in enumerate(["RED", "YELLOW", "YELLOW"]):
            alert = make_alert_record(f"M{i}", 1, lane=lane)
            await producer.send_and_wait(
                t.alerts, codec.encode("Alert", alert), key=alert.manifest_id.encode()
            )
        decision = Decision(
            alert_id="M0:1",
            manifest_id="M0",
            version=1,
            outcome="CONFIRMED",
            reason="undeclared goods",
            officer="a.ortiz",
            decided_at=datetime.now(UTC).replace(microsecond=0),
            rule_ids=["DUAL_USE_GOODS"],
        )
        await producer.send_and_wait(t.decisions, codec.encode("Decision", decision), key=b"M0")
        # results: some with the lane header, some without (read from the record)
        for i, lane in enumerate(["GREEN"] * 6 + ["RED", "YELLOW"]):
            result = make_result(make_manifest(f"S{i}"), lane, screened_at=datetime.now(UTC))
            headers = [("cargowatch-lane", lane.encode())] if i % 2 else []
            await producer.send_and_wait(
                t.screened, codec.encode("ScreeningResult", result), key=b"S", headers=headers
            )
        for _ in range(2):
            await producer.send_and_wait(t.dlq, b"not a manifest", key=b"x")
        # the screening group has consumed 3 of 5 raw records: lag 2
        for _ in range(5):
            await producer.send_and_wait(t.raw, b"{}", key=b"k", partition=0)
    finally:
        await producer.stop()
    committer = make_consumer(settings, group_id=settings.consumer_group)
    await committer.start()
    try:
        raw0 = TopicPartition(t.raw, 0)
        committer.assign([raw0])
        await committer.commit({raw0: 3})
    finally:
        await committer.stop()


async def _board(settings: Settings) -> Dashboard:
    dash = Dashboard(settings)
    await dash.start()
    for _ in range(200):
        if dash.board.caught_up:
            break
        await asyncio.sleep(0.1)
    return dash


async def test_board_is_rebuilt_from_the_topics(settings: Settings, tmp_path: Path) -> None:
    add_user(tmp_path / "users.json", "a.ortiz", "officer-pass")
    settings = settings.replace(users_file=str(tmp_path / "users.json"))
    await ensure_topics(settings)
    await _publish(settings)

    events: list[str] = []
    dash = await _board(settings)
    dash.feed.on_event = lambda kind, payload: events.append(kind)
    try:
        board = dash.board
        assert board.caught_up
        assert [r.manifest_id for r in board.query(AlertFilter())] == ["M2", "M1", "M0"]
        assert board.status("M0:1") == "CONFIRMED"
        figures = board.figures({"RED": 0.02})
        lanes = {lane.lane: lane.count for lane in figures.lanes}
        assert lanes == {"GREEN": 6, "YELLOW": 1, "RED": 1, "BLUE": 0}
        assert figures.screened_last_hour == 8 and figures.dlq_last_hour == 2
        assert figures.open_alerts == 2 and figures.decisions == 1
        assert figures.consumer_lag == 2
        assert events == []  # the rebuild itself broadcasts nothing

        # live: a new alert is on the board and announced
        producer = make_producer(settings)
        await producer.start()
        alert = make_alert_record("M9", 1)
        await producer.send_and_wait(
            settings.topics.alerts, Codec().encode("Alert", alert), key=b"M9"
        )
        await producer.stop()
        for _ in range(100):
            if "M9:1" in board.alerts:
                break
            await asyncio.sleep(0.1)
        assert "M9:1" in board.alerts and events == ["alert"]
    finally:
        await dash.stop()

    # a second dashboard, started later, shows the same board
    again = await _board(settings)
    try:
        assert [r.alert_id for r in again.board.query(AlertFilter())] == [
            "M9:1",
            "M2:1",
            "M1:1",
            "M0:1",
        ]
        assert again.board.status("M0:1") == "CONFIRMED"
    finally:
        await again.stop()
