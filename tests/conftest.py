"""Fixtures every test folder may use: a real Kafka, per-test topic prefixes, settings.

Kafka
    ``kafka_bootstrap`` (session): ``CARGOWATCH_KAFKA_BOOTSTRAP`` when set, otherwise a
    single KRaft broker started by ``deploy/local/kafka.sh`` on a free loopback port in a
    temporary directory, stopped when the session ends. ``kafka_cluster``: a 3-broker
    cluster (RF 3, min.insync.replicas 2), started only when a test asks for it, with
    ``stop_broker(n)`` / ``start_broker(n)`` for fault tests. If a broker cannot start the
    test fails with the broker's log tail; it is never skipped. When the session fails,
    every broker log is copied to ``test-artifacts/kafka/``.

Isolation
    ``topic_prefix`` is unique per test, and ``settings`` uses it for topic names and the
    consumer group, so tests sharing the session broker never see each other's records.

Reference data
    The session's reference-data directory is ``CARGOWATCH_REFDATA`` when set, else
    ``<repo>/../shared/data`` (where it sits on the project's machines), else
    ``/work/shared/data`` (for a clone elsewhere on such a machine). It is exported as
    ``CARGOWATCH_REFDATA`` so ``Settings.load()`` and CLI subprocesses see the same one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from cargowatch.localkafka import LocalKafka, LocalKafkaError
from cargowatch.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts" / "kafka"
REFDATA_CANDIDATES = (REPO_ROOT.parent / "shared" / "data", Path("/work/shared/data"))

# Brokers started in this session, so their logs can be kept if the session fails.
_started: list[LocalKafka] = []


def resolve_refdata() -> Path:
    """The reference-data directory for this test session (see the module docstring)."""
    configured = os.environ.get("CARGOWATCH_REFDATA")
    if configured:
        return Path(configured)
    for candidate in REFDATA_CANDIDATES:
        if candidate.is_dir():
            return candidate
    return REFDATA_CANDIDATES[0]


def pytest_configure(config: pytest.Config) -> None:
    os.environ["CARGOWATCH_REFDATA"] = str(resolve_refdata())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The folder says what a test needs; the marker lets `-m "not integration"` select.
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "integration" in parts:
            item.add_marker(pytest.mark.integration)
        if "e2e" in parts:
            item.add_marker(pytest.mark.e2e)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if exitstatus == 0 or not _started:
        return
    for kafka in _started:
        target = ARTIFACTS_DIR / kafka.directory.name
        target.mkdir(parents=True, exist_ok=True)
        for log in kafka.directory.glob("node-*/server.log*"):
            shutil.copy2(log, target / f"{log.parent.name}-{log.name}")


def _start(directory: Path, brokers: int) -> LocalKafka:
    kafka = LocalKafka(directory, brokers=brokers)
    _started.append(kafka)
    try:
        kafka.start()
    except LocalKafkaError as exc:
        # Fail, never skip: a test run without its broker has proven nothing.
        pytest.fail(f"could not start a local Kafka ({brokers} broker(s)) in {directory}:\n{exc}")
    return kafka


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a real broker: the configured one, or one started for the session."""
    configured = os.environ.get("CARGOWATCH_KAFKA_BOOTSTRAP")
    if configured:
        yield configured
        return
    kafka = _start(tmp_path_factory.mktemp("kafka-single"), brokers=1)
    try:
        yield kafka.bootstrap
    finally:
        kafka.stop()


@dataclass
class KafkaCluster:
    """A 3-broker local cluster; fault tests stop and restart single brokers."""

    kafka: LocalKafka
    stopped: set[int] = field(default_factory=set)

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap

    @property
    def brokers(self) -> int:
        return self.kafka.brokers

    def stop_broker(self, node: int) -> None:
        """Stop broker ``node`` (1-based) cleanly; its data stays for a restart."""
        self.kafka.stop_broker(node)
        self.stopped.add(node)

    def start_broker(self, node: int) -> None:
        """Start broker ``node`` again and wait until it serves."""
        self.kafka.start_broker(node)
        self.stopped.discard(node)

    def logs(self, lines: int = 200) -> str:
        return self.kafka.logs(lines)


@pytest.fixture(scope="session")
def _kafka_cluster_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    kafka = _start(tmp_path_factory.mktemp("kafka-cluster"), brokers=3)
    try:
        yield KafkaCluster(kafka)
    finally:
        kafka.stop()


@pytest.fixture
def kafka_cluster(_kafka_cluster_session: KafkaCluster) -> Iterator[KafkaCluster]:
    """The 3-broker cluster, with every broker running when the test starts and ends."""
    cluster = _kafka_cluster_session
    yield cluster
    for node in sorted(cluster.stopped):
        cluster.start_broker(node)


@pytest.fixture
def topic_prefix(request: pytest.FixtureRequest) -> str:
    """A topic-name prefix no other test uses, e.g. ``t3f9c2a1b.test_round_trip.``."""
    name = re.sub(r"[^A-Za-z0-9_-]", "-", request.node.name)[:40]
    return f"t{uuid.uuid4().hex[:8]}.{name}."


@pytest.fixture
def refdata_path() -> Path:
    """The session's reference-data directory."""
    return resolve_refdata()


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings for one test: the session broker, its own topics, group and state dirs.

    Topic partitions default to 3 (not the production 6) to keep the session broker
    small; pass ``settings.replace(topic_partitions=N)`` when a test needs more. The
    test's topics are deleted afterwards.
    """
    value = Settings.load().replace(
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix,
        consumer_group=f"{topic_prefix}cargowatch-screening",
        topic_partitions=3,
        refdata=str(resolve_refdata()),
        state_dir=str(tmp_path / "state"),
        archive_dir=str(tmp_path / "archive"),
    )
    yield value
    asyncio.run(_delete_topics_with_prefix(value))


async def _delete_topics_with_prefix(settings: Settings) -> None:
    from cargowatch.kafka import make_admin

    admin = make_admin(settings)
    try:
        await admin.start()
        doomed = [t for t in await admin.list_topics() if t.startswith(settings.topic_prefix)]
        if doomed:
            await admin.delete_topics(doomed)
    except Exception as exc:  # noqa: BLE001 - cleanup must not turn a pass into an error
        print(f"could not delete test topics {settings.topic_prefix}*: {exc}")
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


# ---------------------------------------------------------------- webhook receivers

WebhookHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve_webhook() -> AsyncIterator[Callable[[str, WebhookHandler], Awaitable[str]]]:
    """Start local webhook receivers: ``url = await serve_webhook("/hook", handler)``
    serves POST ``route`` on a free loopback port and returns ``http://127.0.0.1:<port>``;
    every receiver is stopped when the test ends."""
    runners: list[web.AppRunner] = []

    async def start(route: str, handler: WebhookHandler) -> str:
        app = web.Application()
        app.router.add_post(route, handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # noqa: SLF001
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()
