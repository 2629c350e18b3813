"""The one config loader: defaults < config file < environment (``CARGOWATCH_*``).

A config file is YAML with the same keys as :class:`Settings` (lower case). It is read
from ``--config``, else ``CARGOWATCH_CONFIG``, else ``./cargowatch.yaml`` when present.
Every key can be overridden by ``CARGOWATCH_<KEY>`` (upper case), e.g.
``CARGOWATCH_KAFKA_BOOTSTRAP=broker1:9092``.

>>> Settings.load(env={"CARGOWATCH_TOPIC_PREFIX": "test."}).topics.raw
'test.manifests.raw'
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from cargowatch.topics import Topics

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULTS_DIR = Path(__file__).resolve().parent / "defaults"


def _default_refdata() -> str:
    # On the project's machines the shared reference data sits beside the checkout.
    for candidate in (REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"):
        if (candidate / "hs").is_dir():
            return str(candidate)
    return str(Path.home() / ".cache" / "cargowatch" / "refdata")


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Settings:
    # Kafka
    kafka_bootstrap: str = ""  # empty: the demo starts a local broker; the worker needs one
    topic_prefix: str = ""
    consumer_group: str = "cargowatch-screening"
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = ""
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = ""
    kafka_ssl_cafile: str = ""
    kafka_ssl_certfile: str = ""
    kafka_ssl_keyfile: str = ""
    topic_partitions: int = 6
    topic_replication: int = 1
    schema_registry_url: str = ""
    # Reference data and analyst configuration
    refdata: str = field(default_factory=_default_refdata)
    rules: str = str(DEFAULTS_DIR / "ruleset.yaml")
    stopwords: str = str(DEFAULTS_DIR / "stopwords.yaml")
    # Worker
    batch_size: int = 2000
    batch_linger_ms: int = 50
    archive_dir: str = "var/archive"
    state_dir: str = "var/state"
    # the trader-history fold writes changed traders' states to the changelog this often
    # (each trader once per window); what other workers see of a trader lags by about this
    trader_history_flush_ms: int = 1000
    webhook_urls: str = ""  # comma-separated
    webhook_secret: str = ""
    webhook_format: str = "json"  # json (one alert per POST) or alertmanager (/api/v2/alerts list)
    webhook_max_attempts: int = 5  # then the alert is dead-lettered to alerts.dlq
    webhook_backoff_s: float = 0.5  # first retry delay, doubled per attempt
    webhook_backoff_max_s: float = 30.0
    webhook_timeout_s: float = 10.0
    webhook_queue_size: int = 1000  # alerts buffered between the consumer and the senders
    webhook_concurrency: int = 4
    # HTTP: dashboard, /metrics, /healthz
    http_host: str = "127.0.0.1"
    http_port: int = 8088
    users_file: str = ""
    session_ttl_s: int = 8 * 3600
    dashboard_port: int = 8089
    webhook_http_port: int = 8090  # /healthz and /metrics of the alert delivery process
    reference_wait_s: float = 120.0  # how long a starting worker waits for ref topics
    # Kafka transactions of the worker. worker_id names them: a worker restarted with the
    # same id fences its dead predecessor and aborts its open transaction at once, so
    # read_committed consumers (alerts, dashboard, archive readers) are not held back.
    # It must be unique among running workers; empty means hostname-pid (unique, but a
    # crashed worker's open transaction then waits for transaction_timeout_s).
    worker_id: str = ""
    transaction_timeout_s: float = 30.0
    # Watchdog
    stall_timeout_s: float = 120.0
    log_level: str = "INFO"

    @classmethod
    def load(
        cls,
        config_file: str | Path | None = None,
        env: dict[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Read settings from defaults, the config file, the environment and overrides."""
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        path = config_file or env.get("CARGOWATCH_CONFIG")
        if not path and Path("cargowatch.yaml").is_file():
            path = "cargowatch.yaml"
        known = {f.name: f for f in fields(cls)}
        if path:
            p = Path(path)
            if not p.is_file():
                raise ConfigError(f"config file {p} does not exist (set by --config or CARGOWATCH_CONFIG)")
            data = yaml.safe_load(p.read_text()) or {}
            if not isinstance(data, dict):
                raise ConfigError(f"config file {p} must be a mapping of setting: value")
            for key, value in data.items():
                if key not in known:
                    raise ConfigError(
                        f"unknown setting {key!r} in {p}; known settings: {', '.join(sorted(known))}"
                    )
                values[key] = value
        for name in known:
            env_key = f"CARGOWATCH_{name.upper()}"
            if env_key in env:
                values[name] = env[env_key]
        values.update({k: v for k, v in overrides.items() if v is not None})
        typed: dict[str, Any] = {}
        for key, value in values.items():
            ftype = known[key].type
            try:
                if ftype in ("int", int):
                    typed[key] = int(value)
                elif ftype in ("float", float):
                    typed[key] = float(value)
                else:
                    typed[key] = str(value)
            except (TypeError, ValueError):
                raise ConfigError(f"setting {key} must be a {ftype}, got {value!r}") from None
        return cls(**typed)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @cached_property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)

    def kafka_client_options(self) -> dict[str, Any]:
        """Connection options for aiokafka clients (TLS/SASL pass through here)."""
        opts: dict[str, Any] = {
            "bootstrap_servers": self.kafka_bootstrap,
            "security_protocol": self.kafka_security_protocol,
        }
        if self.kafka_sasl_mechanism:
            opts["sasl_mechanism"] = self.kafka_sasl_mechanism
            opts["sasl_plain_username"] = self.kafka_sasl_username
            opts["sasl_plain_password"] = self.kafka_sasl_password
        if self.kafka_security_protocol in ("SSL", "SASL_SSL"):
            from aiokafka.helpers import create_ssl_context

            opts["ssl_context"] = create_ssl_context(
                cafile=self.kafka_ssl_cafile or None,
                certfile=self.kafka_ssl_certfile or None,
                keyfile=self.kafka_ssl_keyfile or None,
            )
        return opts

    def require_kafka(self) -> str:
        if not self.kafka_bootstrap:
            raise ConfigError(
                "no Kafka configured: set CARGOWATCH_KAFKA_BOOTSTRAP=host:port "
                "(or start a local broker with deploy/local/kafka.sh start)"
            )
        return self.kafka_bootstrap
