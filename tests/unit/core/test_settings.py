"""Settings: defaults < file < environment < overrides, and clear refusals."""

from pathlib import Path

import pytest

from cargowatch.settings import ConfigError, Settings


def test_environment_overrides_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("topic_prefix: file.\nbatch_size: 10\n")
    s = Settings.load(cfg, env={"CARGOWATCH_BATCH_SIZE": "42"})
    assert s.topic_prefix == "file."
    assert s.batch_size == 42
    assert s.topics.raw == "file.manifests.raw"
    assert s.topics.decisions == "file.alerts.decisions"


def test_unknown_setting_in_file_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("kafka_bootsrap: x:1\n")
    with pytest.raises(ConfigError, match="unknown setting 'kafka_bootsrap'.*kafka_bootstrap"):
        Settings.load(cfg, env={})


def test_wrong_type_is_refused() -> None:
    with pytest.raises(ConfigError, match="batch_size must be a int"):
        Settings.load(env={"CARGOWATCH_BATCH_SIZE": "many"})


def test_missing_kafka_says_what_to_do() -> None:
    with pytest.raises(ConfigError, match="CARGOWATCH_KAFKA_BOOTSTRAP"):
        Settings.load(env={}).require_kafka()


def test_topic_names_follow_the_contract() -> None:
    t = Settings.load(env={}).topics
    assert t.all() == {
        "raw": "manifests.raw",
        "dlq": "manifests.dlq",
        "rejected": "manifests.rejected",
        "screened": "manifests.screened",
        "alerts": "alerts",
        "decisions": "alerts.decisions",
        "watchlist": "ref.watchlist",
        "traders": "ref.traders",
        "alerts_dlq": "alerts.dlq",  # alerts no webhook accepted (beyond the contract's topics)
        # the trader-history table's changelog and the deltas folded into it (streams/history.py)
        "trader_history": "traders.history",
        "trader_history_deltas": "traders.history.deltas",
    }
    assert t.compacted() == {"ref.watchlist", "ref.traders", "traders.history"}


def test_sasl_settings_pass_through_to_clients() -> None:
    s = Settings.load(
        env={
            "CARGOWATCH_KAFKA_BOOTSTRAP": "b:9093",
            "CARGOWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "CARGOWATCH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "CARGOWATCH_KAFKA_SASL_USERNAME": "u",
            "CARGOWATCH_KAFKA_SASL_PASSWORD": "p",
        }
    )
    opts = s.kafka_client_options()
    assert opts["sasl_mechanism"] == "SCRAM-SHA-512"
    assert opts["sasl_plain_username"] == "u"
    assert opts["security_protocol"] == "SASL_PLAINTEXT"
