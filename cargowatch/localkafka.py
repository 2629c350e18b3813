"""Start and stop the project's local Apache Kafka (deploy/local/kafka.sh) from Python.

Used by the demo, the benchmark and the test fixtures, so there is one way to get a broker.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from cargowatch.settings import REPO_ROOT

SCRIPT = REPO_ROOT / "deploy" / "local" / "kafka.sh"


class LocalKafkaError(RuntimeError):
    """The local broker could not be fetched or started; the message carries its log tail."""


@dataclass
class LocalKafka:
    """A broker (or 3-broker cluster) started by kafka.sh in ``directory``."""

    directory: Path
    bootstrap: str = ""
    brokers: int = 1

    def _run(self, *args: str, timeout: float = 900) -> str:
        proc = subprocess.run(
            ["bash", str(SCRIPT), *args, "--dir", str(self.directory)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            raise LocalKafkaError(
                f"deploy/local/kafka.sh {' '.join(args)} failed (exit {proc.returncode}):\n"
                f"{proc.stderr.strip()[-4000:]}"
            )
        return proc.stdout.strip()

    @staticmethod
    def fetch() -> None:
        """Download the broker jars from Maven Central into the cache (once)."""
        proc = subprocess.run(["bash", str(SCRIPT), "fetch"], capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            raise LocalKafkaError(f"fetching Kafka failed:\n{proc.stderr.strip()[-4000:]}")

    def start(self, port: int = 0) -> str:
        """Fetch if needed, format, start; returns the bootstrap string."""
        self.fetch()
        self.directory.mkdir(parents=True, exist_ok=True)
        out = self._run("start", "--brokers", str(self.brokers), "--port", str(port))
        self.bootstrap = out.splitlines()[-1].strip()
        return self.bootstrap

    def stop(self) -> None:
        self._run("stop", timeout=120)

    def stop_broker(self, node: int) -> None:
        self._run("stop-broker", str(node), timeout=120)

    def start_broker(self, node: int) -> None:
        self._run("start-broker", str(node), timeout=300)

    def logs(self, lines: int = 200) -> str:
        try:
            return self._run("logs", "--lines", str(lines), timeout=30)
        except LocalKafkaError as exc:
            return str(exc)
