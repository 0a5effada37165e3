"""The deployment files are valid and complete: no Docker engine or cluster runs here, so they
are parsed and checked for what each must contain, and every environment variable they set
must be one Parley actually reads."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from app.config import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "ops" / "k8s"
# Variables read by something other than Settings.
OTHER_ENV = {
    "PROMETHEUS_MULTIPROC_DIR",
    "HEALTHCHECK_URL",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "PATH",
    "PIP_NO_CACHE_DIR",
    "PIP_DISABLE_PIP_VERSION_CHECK",
}


def setting_names() -> set[str]:
    """Every environment variable name Settings reads."""
    names = set()
    root_prefix = Settings.model_config.get("env_prefix", "")
    for field_name, field in Settings.model_fields.items():
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseSettings):
            prefix = section.model_config.get("env_prefix", "")
            names |= {f"{prefix}{name}".upper() for name in section.model_fields}
        else:
            names.add(f"{root_prefix}{field_name}".upper())
    return names


# --- Dockerfile -------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        keyword, _, rest = stripped.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def test_dockerfile_is_multi_stage_slim_non_root_with_healthcheck() -> None:
    instructions = dockerfile_instructions()
    froms = [rest for kw, rest in instructions if kw == "FROM"]
    assert len(froms) >= 2, "multi-stage: a build stage and a runtime stage"
    assert all("slim" in f for f in froms)
    final_index = max(i for i, (kw, _) in enumerate(instructions) if kw == "FROM")
    final = instructions[final_index:]
    users = [rest for kw, rest in final if kw == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any(kw == "COPY" and "--from=build" in rest for kw, rest in final)
    assert not any(kw == "RUN" and "pip install" in rest for kw, rest in final), (
        "the runtime stage installs nothing"
    )
    healthcheck = next(rest for kw, rest in final if kw == "HEALTHCHECK")
    assert "CMD" in healthcheck and "healthcheck" in healthcheck
    entrypoint = next(rest for kw, rest in final if kw == "ENTRYPOINT")
    assert '"parley"' in entrypoint
    assert next(rest for kw, rest in final if kw == "CMD") == '["api"]'
    assert not any(kw == "ADD" for kw, _ in instructions)


def test_dockerfile_copies_what_exists_and_sets_known_variables() -> None:
    names = setting_names() | OTHER_ENV
    for keyword, rest in dockerfile_instructions():
        if keyword == "COPY" and "--from" not in rest:
            for source in shlex.split(rest)[:-1]:
                assert (ROOT / source).exists(), source
        if keyword == "ENV":
            for assignment in shlex.split(rest):
                name = assignment.split("=", 1)[0]
                assert name in names, f"Dockerfile sets {name}, which nothing reads"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored and "tests" in ignored


# --- docker compose --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "ops" / "docker-compose.yml").read_text())


def test_compose_has_every_service_wired_in_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "api", "worker"} <= set(services)
    assert "pgvector" in services["postgres"]["image"]
    for name in ("migrate", "api", "worker"):
        command = services[name]["command"]
        assert command == [{"migrate": "migrate", "api": "api", "worker": "worker"}[name]]
    for name in ("api", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
        assert "healthcheck" in services[name]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["build"]["dockerfile"] == "Dockerfile"
    assert (ROOT / "ops" / services["migrate"]["build"]["context"] / "Dockerfile").exists()


def test_compose_shutdown_windows_fit_the_grace_periods(compose: dict[str, Any]) -> None:
    services = compose["services"]

    def seconds(value: str) -> float:
        return float(value.rstrip("s"))

    api_env, worker_env = services["api"]["environment"], services["worker"]["environment"]
    assert float(api_env["API_SHUTDOWN_TIMEOUT_S"]) < seconds(services["api"]["stop_grace_period"])
    assert float(worker_env["WORKER_SHUTDOWN_TIMEOUT_S"]) < seconds(
        services["worker"]["stop_grace_period"]
    )


def test_compose_sets_only_known_variables(compose: dict[str, Any]) -> None:
    names = setting_names() | OTHER_ENV
    for name in ("migrate", "api", "worker"):
        for variable in compose["services"][name]["environment"]:
            assert variable in names, f"{name}: {variable} is not a Parley setting"


# --- Kubernetes -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifests() -> dict[tuple[str, str], dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    found = {}
    for resource in kustomization["resources"]:
        for document in yaml.safe_load_all((K8S / resource).read_text()):
            assert document["apiVersion"] and document["kind"], resource
            assert document["metadata"]["name"], resource
            found[(document["kind"], document["metadata"]["name"])] = document
    return found


def test_every_manifest_parses_and_is_listed() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    unlisted = {"kustomization.yaml", "secret.example.yaml", "prometheus-adapter-rules.yaml"}
    on_disk = {p.name for p in K8S.glob("*.yaml")}
    assert on_disk - unlisted == listed
    for path in K8S.glob("*.yaml"):
        assert list(yaml.safe_load_all(path.read_text())), path


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return deployment["spec"]["template"]["spec"]["containers"]


def test_api_deployment_probes_security_and_shutdown(manifests: dict) -> None:
    api = manifests[("Deployment", "parley-api")]
    spec = api["spec"]["template"]["spec"]
    (container,) = containers(api)
    assert container["args"] == ["api"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    config = manifests[("ConfigMap", "parley-config")]["data"]
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert spec["terminationGracePeriodSeconds"] > pre_stop + float(
        config["API_SHUTDOWN_TIMEOUT_S"]
    )
    assert api["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    port = container["ports"][0]["containerPort"]
    assert str(port) == config["API_PORT"]
    assert api["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"


def test_worker_deployment_and_its_autoscaling(manifests: dict) -> None:
    worker = manifests[("Deployment", "parley-worker")]
    (container,) = containers(worker)
    assert container["args"] == ["worker"]
    config = manifests[("ConfigMap", "parley-config")]["data"]
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > float(
        config["WORKER_SHUTDOWN_TIMEOUT_S"]
    )
    assert str(container["ports"][0]["containerPort"]) == config["METRICS_WORKER_PORT"]
    scaled = manifests[("ScaledObject", "parley-worker")]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"]["name"] == "parley-worker"
    assert scaled["spec"]["minReplicaCount"] >= 1  # crons live on workers
    queries = [t["metadata"]["query"] for t in scaled["spec"]["triggers"]]
    assert all("parley_queue_depth" in q for q in queries)
    assert any("arq:interactive" in q for q in queries) and any("arq:bulk" in q for q in queries)


def test_api_hpa_scales_on_cpu_and_request_rate(manifests: dict) -> None:
    hpa = manifests[("HorizontalPodAutoscaler", "parley-api")]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == "parley-api"
    kinds = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert kinds["Resource"]["resource"]["name"] == "cpu"
    assert kinds["Pods"]["pods"]["metric"]["name"] == "parley_http_requests_per_second"
    rules = yaml.safe_load((K8S / "prometheus-adapter-rules.yaml").read_text())
    adapter = rules["rules"]["custom"][0]
    assert adapter["name"]["as"] == "parley_http_requests_per_second"
    assert "parley_http_requests_total" in adapter["seriesQuery"]
    assert hpa["spec"]["minReplicas"] >= 2


def test_selectors_match_their_pods(manifests: dict) -> None:
    for component in ("api", "worker"):
        deployment = manifests[("Deployment", f"parley-{component}")]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        pdb = manifests[("PodDisruptionBudget", f"parley-{component}")]
        assert pdb["apiVersion"] == "policy/v1"
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    api_labels = manifests[("Deployment", "parley-api")]["spec"]["template"]["metadata"]["labels"]
    assert manifests[("Service", "parley-api")]["spec"]["selector"].items() <= api_labels.items()


def test_migration_job(manifests: dict) -> None:
    job = manifests[("Job", "parley-migrate")]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")
    assert job["spec"]["backoffLimit"] >= 1


def test_manifests_use_known_variables_and_one_image(manifests: dict) -> None:
    names = setting_names() | OTHER_ENV
    for variable in manifests[("ConfigMap", "parley-config")]["data"]:
        assert variable in names, variable
    secret = yaml.safe_load((K8S / "secret.example.yaml").read_text())
    for variable in secret["stringData"]:
        assert variable in names, variable
    images = set()
    for (kind, _), document in manifests.items():
        if kind in ("Deployment", "Job"):
            for container in document["spec"]["template"]["spec"]["containers"]:
                images.add(container["image"])
                refs = {
                    e.get("configMapRef", e.get("secretRef", {})).get("name")
                    for e in container["envFrom"]
                }
                assert refs == {"parley-config", "parley-secrets"}
    assert len(images) == 1
