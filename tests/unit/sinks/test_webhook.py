"""Alert delivery without a broker: signatures, payloads, the delivered-keys file, offsets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from sink_samples import make_alert_record

from cargowatch.settings import ConfigError
from sinks.webhook import DeliveredKeys, OffsetTracker, alert_payload, sign, verify_signature


def test_signature_verifies_only_the_exact_body_and_secret() -> None:
    body = b'{"alert_id":"M:1"}'
    header = sign(body, "s3cret")
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(body, "s3cret", header)
    assert not verify_signature(body + b" ", "s3cret", header)
    assert not verify_signature(body, "other", header)
    assert not verify_signature(body, "s3cret", None)


def test_json_payload_is_the_alert() -> None:
    alert = make_alert_record()
    doc = json.loads(alert_payload(alert, "json"))
    assert doc["alert_id"] == "24NL0000000000001:1"
    assert [h["rule_id"] for h in doc["hits"]] == ["DUAL_USE_GOODS", "WATCHLIST_PARTY"]
    assert doc["summary"]["loading_port"] == "CNSHA"


def test_alertmanager_payload_has_the_api_v2_shape() -> None:
    alert = make_alert_record(lane="YELLOW", referral="DNL")
    doc = json.loads(alert_payload(alert, "alertmanager"))
    assert isinstance(doc, list) and len(doc) == 1
    item = doc[0]
    assert item["labels"]["alertname"] == "CargowatchManifestAlert"
    assert item["labels"]["severity"] == "critical"  # DNL is critical whatever the lane
    assert item["labels"]["alert_id"] == alert.alert_id
    assert all(isinstance(v, str) for v in item["labels"].values())
    assert all(isinstance(v, str) for v in item["annotations"].values())
    assert item["annotations"]["rules"] == "DUAL_USE_GOODS,WATCHLIST_PARTY"
    assert item["startsAt"].endswith("Z")


def test_unknown_format_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="webhook_format"):
        alert_payload(make_alert_record(), "xml")


def test_delivered_keys_survive_a_restart_and_stay_bounded(tmp_path: Path) -> None:
    path = tmp_path / "state" / "delivered.keys"
    keys = DeliveredKeys(path, capacity=3)
    for i in range(5):
        keys.add(DeliveredKeys.key("http://a", f"M{i}:1"))
    keys.close()
    again = DeliveredKeys(path, capacity=3)
    assert DeliveredKeys.key("http://a", "M4:1") in again
    assert DeliveredKeys.key("http://a", "M0:1") not in again  # the oldest fell out
    assert DeliveredKeys.key("http://b", "M4:1") not in again  # per target
    assert len(path.read_text().splitlines()) == 3


def test_offsets_commit_only_below_the_first_unfinished_alert() -> None:
    tp = TopicPartition("alerts", 0)
    tracker = OffsetTracker()
    for offset in (10, 11, 12):
        tracker.take(tp, offset, parts=2)  # two targets
    tracker.done(tp, 11)
    tracker.done(tp, 11)
    assert tracker.committable() == {tp: 10}
    tracker.committed({tp: 10})
    tracker.done(tp, 10)
    assert tracker.committable() == {}  # 10 still waits for its second target
    tracker.done(tp, 10)
    assert tracker.committable() == {tp: 12}
    tracker.done(tp, 12)
    tracker.done(tp, 12)
    tracker.take(tp, 13, parts=0)  # already delivered to every target before a restart
    assert tracker.committable() == {tp: 14}
    assert tracker.in_flight == 0
