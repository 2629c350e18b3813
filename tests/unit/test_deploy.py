"""The deploy shapes (docker-compose, Dockerfile, Kubernetes, Prometheus, Grafana), checked
statically: Docker does not run on these machines, so parse and cross-check instead.

What they must agree on is what the code says: setting names (cargowatch/settings.py), the
HTTP port of /healthz and /metrics, the broker version the tests run (deploy/local/kafka.sh),
the metrics the worker exports (streams/metrics.py).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from cargowatch.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
SETTING_ENV_NAMES = {f"CARGOWATCH_{f.name.upper()}" for f in fields(Settings)}
HTTP_PORT = Settings.load(env={}).http_port


def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def k8s_documents() -> dict[str, dict[str, Any]]:
    """Every Kubernetes object in deploy/k8s, keyed by ``Kind/name``."""
    docs: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            key = f"{doc['kind']}/{doc['metadata']['name']}"
            assert key not in docs, f"{key} defined twice"
            docs[key] = doc
    return docs


def kafka_sh_version() -> str:
    match = re.search(
        r'^KAFKA_VERSION="([0-9.]+)"', (DEPLOY / "local" / "kafka.sh").read_text(), re.M
    )
    assert match, "KAFKA_VERSION not found in deploy/local/kafka.sh"
    return match.group(1)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


# ------------------------------------------------------------------ docker-compose


def test_compose_file_is_valid_for_a_compose_implementation() -> None:
    tool = shutil.which("docker-compose")
    # Not a skip: `make system-deps` installs Debian's docker-compose, which validates
    # the file against the Compose schema without a Docker engine.
    assert tool, "docker-compose not installed: run `make system-deps`"
    out = subprocess.run(
        [tool, "-f", str(DEPLOY / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr


def test_compose_services_point_at_the_compose_kafka_with_known_settings() -> None:
    services = compose()["services"]
    brokers = {
        name: svc
        for name, svc in services.items()
        if str(svc.get("image", "")).startswith("apache/kafka")
    }
    assert len(brokers) == 3
    for name in ("worker", "refdata"):
        env = services[name]["environment"]
        assert set(env) <= SETTING_ENV_NAMES, (
            f"{name}: unknown settings {set(env) - SETTING_ENV_NAMES}"
        )
        bootstrap = env["CARGOWATCH_KAFKA_BOOTSTRAP"].split(",")
        assert {b.split(":")[0] for b in bootstrap} == set(brokers)
        for address in bootstrap:
            host, port = address.split(":")
            assert (
                f"PLAINTEXT://{host}:{port}"
                in brokers[host]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
            )
        assert int(env["CARGOWATCH_TOPIC_REPLICATION"]) <= len(brokers)
        assert env["CARGOWATCH_HTTP_HOST"] == "0.0.0.0"  # reachable by Prometheus
        assert int(env["CARGOWATCH_HTTP_PORT"]) == HTTP_PORT
    assert str(HTTP_PORT) in services["worker"]["expose"]


def test_compose_kafka_is_the_tested_version_and_a_consistent_kraft_quorum() -> None:
    services = compose()["services"]
    brokers = {
        name: svc
        for name, svc in services.items()
        if str(svc.get("image", "")).startswith("apache/kafka")
    }
    envs = [svc["environment"] for svc in brokers.values()]
    assert {svc["image"] for svc in brokers.values()} == {f"apache/kafka:{kafka_sh_version()}"}
    (cluster_id,) = {env["CLUSTER_ID"] for env in envs}
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16, "CLUSTER_ID must be a KRaft uuid"
    (voters,) = {env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in envs}
    voter_ids = {v.split("@")[0]: v.split("@")[1].split(":")[0] for v in voters.split(",")}
    assert {env["KAFKA_NODE_ID"] for env in envs} == set(voter_ids)
    for env in envs:
        assert (
            brokers[voter_ids[env["KAFKA_NODE_ID"]]]["environment"]["KAFKA_NODE_ID"]
            == env["KAFKA_NODE_ID"]
        )
        assert int(env["KAFKA_MIN_INSYNC_REPLICAS"]) < int(env["KAFKA_DEFAULT_REPLICATION_FACTOR"])


def test_compose_bind_mounts_exist_in_the_repository() -> None:
    for name, svc in compose()["services"].items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"


# ---------------------------------------------------------------------- Dockerfile


def test_dockerfile_runs_the_worker_and_exposes_the_settings_port() -> None:
    instructions = dockerfile_instructions()
    entrypoints = [json.loads(args) for word, args in instructions if word == "ENTRYPOINT"]
    assert entrypoints[-1] == ["cargowatch", "worker"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert "cargowatch" in scripts
    exposed = [args for word, args in instructions if word == "EXPOSE"]
    assert exposed == [str(HTTP_PORT)]
    env_names = set(
        re.findall(r"(CARGOWATCH_[A-Z_]+)=", " ".join(a for w, a in instructions if w == "ENV"))
    )
    assert env_names <= SETTING_ENV_NAMES, env_names - SETTING_ENV_NAMES
    user = [args for word, args in instructions if word == "USER"]
    assert user and user[-1] not in ("root", "0")


def test_dockerfile_copies_every_package_the_project_installs() -> None:
    instructions = dockerfile_instructions()
    sources = []
    for word, args in instructions:
        if word == "COPY" and not args.startswith("--from"):
            sources.extend(args.split()[:-1])
    for source in sources:
        assert (REPO / source).exists(), (
            f"Dockerfile copies {source}, which is not in the repository"
        )
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    top_levels = {p.rstrip("*") for p in packages}
    assert top_levels <= set(sources), f"not copied into the image: {top_levels - set(sources)}"
    assert "constraints.txt" in sources  # the image uses the tested pins
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    for source in sources:
        assert f"!{source}" in ignore or f"!{source}/" in ignore, (
            f"{source} excluded from the build context"
        )


# ----------------------------------------------------------------------- Kubernetes


def test_k8s_manifests_parse_and_kustomization_lists_them_all() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    docs = k8s_documents()
    assert {key.split("/")[0] for key in docs} >= {
        "Namespace",
        "ConfigMap",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
    }
    (namespace,) = [d["metadata"]["name"] for d in docs.values() if d["kind"] == "Namespace"]
    assert kustomization["namespace"] == namespace
    for key, doc in docs.items():
        assert doc["apiVersion"] and doc["metadata"]["name"], key
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == namespace, key


def test_k8s_worker_deployment_config_probes_service_and_budget_agree() -> None:
    docs = k8s_documents()
    deployment = docs["Deployment/cargowatch-worker"]
    pod = deployment["spec"]["template"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    (worker,) = [c for c in pod["spec"]["containers"] if c["name"] == "worker"]
    assert "command" not in worker  # the image's entrypoint, `cargowatch worker`, runs

    config_refs = [e["configMapRef"]["name"] for e in worker["envFrom"] if "configMapRef" in e]
    assert config_refs, "worker takes its settings from a ConfigMap"
    for ref in config_refs:
        data = docs[f"ConfigMap/{ref}"]["data"]
        assert "CARGOWATCH_KAFKA_BOOTSTRAP" in data
        assert set(data) <= SETTING_ENV_NAMES, set(data) - SETTING_ENV_NAMES
        assert int(data["CARGOWATCH_HTTP_PORT"]) == HTTP_PORT
        assert data["CARGOWATCH_HTTP_HOST"] == "0.0.0.0"  # probes come from the kubelet

    ports = {p["name"]: p["containerPort"] for p in worker["ports"]}
    assert HTTP_PORT in ports.values()
    for probe in ("livenessProbe", "readinessProbe"):
        http = worker[probe]["httpGet"]
        assert http["path"] == "/healthz", probe
        assert ports.get(http["port"], http["port"]) == HTTP_PORT, probe

    services = [d for d in docs.values() if d["kind"] == "Service"]
    metrics = [
        s
        for s in services
        if s["metadata"].get("annotations", {}).get("prometheus.io/path") == "/metrics"
    ]
    assert metrics, "a Service exposes /metrics to Prometheus"
    for service in metrics:
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
        (port,) = service["spec"]["ports"]
        assert ports.get(port["targetPort"], port["targetPort"]) == HTTP_PORT
        assert int(service["metadata"]["annotations"]["prometheus.io/port"]) == HTTP_PORT

    budget = docs["PodDisruptionBudget/cargowatch-worker"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    images = {c["image"] for c in pod["spec"]["containers"] + pod["spec"].get("initContainers", [])}
    assert images == {compose()["services"]["worker"]["image"]}
    mounted = {m["name"] for m in worker["volumeMounts"]}
    assert mounted <= {v["name"] for v in pod["spec"]["volumes"]}


# ------------------------------------------------------------- Prometheus / Grafana


def exported_metric_names() -> set[str]:
    """Series names our processes export: the worker (streams/metrics.py) and the sinks
    (delivery, dashboard: sinks/metrics.py), with histogram/counter suffixes."""
    from sinks.metrics import REGISTRY as SINKS
    from streams.metrics import REGISTRY as WORKER

    names: set[str] = set()
    for family in [*WORKER.collect(), *SINKS.collect()]:
        names.add(family.name)
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(
            family.type, [""]
        )
        names.update(family.name + s for s in suffixes)
    return names


def test_prometheus_config_is_valid_and_scrapes_the_worker_port() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool not installed: run `make system-deps` (Debian package prometheus)"
    config_file = DEPLOY / "prometheus" / "prometheus.yml"
    out = subprocess.run(
        [promtool, "check", "config", str(config_file)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    config = yaml.safe_load(config_file.read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "cargowatch-worker"]
    assert job["metrics_path"] == "/metrics"
    assert {sd["port"] for sd in job["dns_sd_configs"]} == {HTTP_PORT}
    local = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.local.yml").read_text())
    (local_job,) = [j for j in local["scrape_configs"] if j["job_name"] == "cargowatch-worker"]
    assert local_job["static_configs"][0]["targets"] == [f"127.0.0.1:{HTTP_PORT}"]
    assert {n for sd in job["dns_sd_configs"] for n in sd["names"]} <= set(compose()["services"])


@pytest.mark.parametrize(
    "path",
    [DEPLOY / "prometheus" / "alerts.yml", DEPLOY / "grafana" / "dashboards" / "cargowatch.json"],
    ids=["alerts", "dashboard"],
)
def test_alerts_and_dashboard_query_only_metrics_the_worker_exports(path: Path) -> None:
    text = path.read_text()
    used = set(re.findall(r"\b(cargowatch_[a-z_]+)\b", text))
    assert used, f"{path.name} queries no cargowatch metric"
    assert used <= exported_metric_names(), (
        f"unknown metrics in {path.name}: {used - exported_metric_names()}"
    )


def test_grafana_provisioning_wires_the_dashboard_to_the_prometheus_datasource() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    (source,) = datasources
    assert source["url"] == "http://prometheus:9090" and "prometheus" in compose()["services"]
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "cargowatch.json").read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]  # rows hold no query
    uids = {p["datasource"]["uid"] for p in panels}
    uids |= {t["datasource"]["uid"] for p in panels for t in p["targets"]}
    assert uids == {source["uid"]}
    provider = yaml.safe_load((provisioning / "dashboards" / "cargowatch.yml").read_text())[
        "providers"
    ][0]
    grafana_mounts = compose()["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in grafana_mounts
