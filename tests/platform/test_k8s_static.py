"""No cluster runs here: check the Kubernetes manifests in deploy/k8s statically.

The overlays are rendered with the real kustomize (`kubectl kustomize`), validated against the Kubernetes
API schemas shipped in `kubernetes-validate` (offline, strict: unknown fields fail), then checked for what
our deployment relies on: probes, resources, hardening, settings that exist, selectors that match.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
PRODUCTION = K8S / "overlays/production"
JOBS = PRODUCTION / "jobs"
SECRET_EXAMPLE = PRODUCTION / "secret.example.yaml"
SERVICES = ("search", "selection", "returns", "approvals", "mailer")
SECRET_NAME = "jpass-secrets"
# Oldest and newest Kubernetes minor versions the manifests are checked against.
KUBERNETES_VERSIONS = ("1.33.0", "1.37.0")
# Env names a container may set besides its service's settings: JPASS_SERVICE picks the app in the image;
# the log level and OpenTelemetry's own OTEL_* variables are read by shared/observability.py.
NOT_SETTINGS = {"JPASS_SERVICE", "JPASS_LOG_LEVEL"}


def not_settings(names: set[str]) -> set[str]:
    return {n for n in names if n in NOT_SETTINGS or n.startswith("OTEL_")}


Manifest = dict[str, Any]


@cache
def kustomize(directory: Path) -> tuple[Manifest, ...]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with its built-in kustomize) is needed to render deploy/k8s"
    out = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def rendered() -> tuple[Manifest, ...]:
    return kustomize(PRODUCTION) + kustomize(JOBS)


def of_kind(kind: str) -> list[Manifest]:
    return [m for m in rendered() if m["kind"] == kind]


def named(kind: str, name: str) -> Manifest:
    found = [m for m in of_kind(kind) if m["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def workloads() -> list[Manifest]:
    return of_kind("Deployment") + of_kind("Job")


def pod_spec(workload: Manifest) -> Manifest:
    return workload["spec"]["template"]["spec"]


def settings_class(service: str | None) -> type:
    if service is None:
        from shared.settings import CommonSettings

        return CommonSettings
    config = importlib.import_module(f"services.{service}.config")
    return next(v for k, v in vars(config).items() if k.endswith("Settings") and k != "CommonSettings")


def settings_env_names(service: str | None) -> set[str]:
    return {f"JPASS_{name.upper()}" for name in settings_class(service).model_fields}


def container_env(container: Manifest) -> dict[str, Any]:
    """Every variable the container gets: ConfigMap values (envFrom) then `env` entries (value or ref)."""
    env: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        assert set(source) == {"configMapRef"}, f"{container['name']}: only ConfigMaps are loaded whole"
        env.update(named("ConfigMap", source["configMapRef"]["name"])["data"])
    for var in container.get("env", []):
        env[var["name"]] = var.get("value", var.get("valueFrom"))
    return env


def secret_example_keys() -> set[str]:
    return set(yaml.safe_load(SECRET_EXAMPLE.read_text())["stringData"])


def image_is_pinned(image: str) -> bool:
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag != "latest" and re.search(r"\d", tag) is not None


# --- files -------------------------------------------------------------------------------------------


def test_every_file_parses_as_kubernetes_yaml() -> None:
    files = sorted(K8S.rglob("*.yaml"))
    assert len(files) >= 10
    for path in files:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        assert docs, path
        for doc in docs:
            assert doc.get("apiVersion") and doc.get("kind"), f"{path}: apiVersion/kind missing"


def test_kustomizations_list_only_existing_files_and_every_manifest_is_listed() -> None:
    listed: set[Path] = set()
    for kustomization in K8S.rglob("kustomization.yaml"):
        spec = yaml.safe_load(kustomization.read_text())
        entries = list(spec.get("resources", [])) + [p["path"] for p in spec.get("patches", [])]
        assert entries, kustomization
        for entry in entries:
            target = (kustomization.parent / entry).resolve()
            assert target.exists(), f"{kustomization}: {entry} does not exist"
            if target.is_dir():
                assert (target / "kustomization.yaml").is_file(), (
                    f"{kustomization}: {entry} is no kustomization"
                )
            listed.add(target)
    manifests = {p.resolve() for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml"}
    assert manifests - listed == {SECRET_EXAMPLE.resolve()}, "unlisted manifests (only the example may be)"


def test_no_real_secret_is_shipped() -> None:
    assert not of_kind("Secret"), "the Secret is created by the operator, not rendered from the repository"
    example = yaml.safe_load(SECRET_EXAMPLE.read_text())
    assert example["metadata"]["name"] == SECRET_NAME
    for key, value in example["stringData"].items():
        assert "CHANGE-ME" in value, f"{key}: placeholders only"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_match_the_kubernetes_api_schema(version: str) -> None:
    manifests = [*rendered(), yaml.safe_load(SECRET_EXAMPLE.read_text())]
    for manifest in manifests:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            where = "/".join(map(str, e.path))
            pytest.fail(f"{manifest['kind']}/{manifest['metadata']['name']} at {where}: {e.message}")


# --- workloads ---------------------------------------------------------------------------------------


def test_every_workload_is_hardened_sized_and_pinned() -> None:
    assert len(of_kind("Deployment")) == len(SERVICES) + 1
    for workload in workloads():
        name = f"{workload['kind']}/{workload['metadata']['name']}"
        spec = pod_spec(workload)
        assert spec["automountServiceAccountToken"] is False, name
        pod_security = spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True and pod_security["runAsUser"] == 10001, name
        assert pod_security["seccompProfile"]["type"] == "RuntimeDefault", name
        emptydirs = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
        for container in spec["containers"]:
            assert image_is_pinned(container["image"]), f"{name}: {container['image']}"
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), name
            assert {"cpu", "memory"} <= set(resources["limits"]), name
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert set(security["capabilities"].get("add", [])) <= {"NET_BIND_SERVICE"}, name
            tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert tmp and tmp[0]["name"] in emptydirs, f"{name}: /tmp must be a writable emptyDir"
            if workload["kind"] == "Deployment":
                assert container["livenessProbe"]["httpGet"]["path"], name
                assert container["readinessProbe"]["httpGet"]["path"], name


def test_services_run_the_image_of_the_dockerfile_for_their_app() -> None:
    images = {c["image"] for w in workloads() for c in pod_spec(w)["containers"] if c["name"] != "caddy"}
    assert len(images) == 1, images
    (image,) = images
    assert image.rpartition(":")[0].endswith("jpass/services"), image
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert image.rpartition(":")[2] == compose["services"]["search"]["image"].rpartition(":")[2]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_deployment_probes_service_and_disruption_budget(service: str) -> None:
    deployment = named("Deployment", service)
    (container,) = pod_spec(deployment)["containers"]
    assert container_env(container)["JPASS_SERVICE"] == service
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": 8000}
    assert container["livenessProbe"]["httpGet"] == {"path": f"/{service}/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": f"/{service}/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == f"/{service}/healthz"
    assert deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"] == (
        f"/{service}/metrics"
    )
    assert named("Service", service)["spec"]["ports"][0]["port"] == 8000
    budget = named("PodDisruptionBudget", service)
    assert budget["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    if service != "returns":  # returns: the autoscaler owns the replica count
        assert deployment["spec"]["replicas"] >= 2, "one pod per node at least twice over"


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_gets_only_settings_it_reads_and_they_load_in_production(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (container,) = pod_spec(named("Deployment", service))["containers"]
    env = container_env(container)
    unknown = set(env) - settings_env_names(service) - not_settings(set(env))
    assert not unknown, f"{service}: not settings of the service: {sorted(unknown)}"
    database_url = {"secretKeyRef": {"name": SECRET_NAME, "key": f"{service}-database-url"}}
    assert env["JPASS_DATABASE_URL"] == database_url
    assert "JPASS_JWT_SECRET" not in env  # no service holds a signing key (SPEC §9.3)
    # The real settings class accepts the values: production, with a (fake) URL in the Secret's place.
    monkeypatch.delenv("JPASS_JWKS_JSON", raising=False)  # the suite's test keys: production refuses them
    for name, value in env.items():
        if isinstance(value, str):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("JPASS_DATABASE_URL", f"postgresql+asyncpg://u:p@db:5432/jpass_{service}")
    settings = settings_class(service)()
    assert settings.is_production
    assert settings.kafka_enable_idempotence is True
    assert settings.topic_partitions == 6
    assert settings.auto_create_schema is False
    assert (
        "127.0.0.1" not in settings.kafka_bootstrap_servers
        and "localhost" not in settings.kafka_bootstrap_servers
    )
    assert settings.public_base_url.startswith("https://")
    assert settings.oidc_issuer.startswith("https://") and settings.oidc_audience == "jpass"
    assert settings.oidc_discovery_url.startswith(settings.oidc_issuer + "/.well-known/")


def test_secret_references_name_keys_of_the_secret() -> None:
    keys = secret_example_keys()
    for workload in workloads():
        for container in pod_spec(workload)["containers"]:
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == SECRET_NAME and ref["key"] in keys, f"{workload['metadata']}: {ref}"
    assert {f"{s}-database-url" for s in SERVICES} | {"smtp-username", "smtp-password"} == keys


def test_mailer_and_approvals_get_their_own_settings() -> None:
    (mailer,) = pod_spec(named("Deployment", "mailer"))["containers"]
    env = container_env(mailer)
    assert {"JPASS_SMTP_HOST", "JPASS_SMTP_PORT", "JPASS_MAIL_FROM"} <= set(env)
    assert env["JPASS_SMTP_PASSWORD"]["secretKeyRef"]["key"] == "smtp-password"
    (approvals,) = pod_spec(named("Deployment", "approvals"))["containers"]
    periods = {"JPASS_SWEEP_INTERVAL_S", "JPASS_REMINDER_SUBMITTER_AFTER_S", "JPASS_REMINDER_HQ_AFTER_S"}
    assert periods <= set(container_env(approvals))


def test_returns_scales_horizontally_on_cpu() -> None:
    (hpa,) = of_kind("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == ("apps/v1", "Deployment", "returns")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    returns = named("Deployment", "returns")
    assert "replicas" not in returns["spec"], "kubectl apply would reset what the autoscaler chose"
    assert pod_spec(returns)["containers"][0]["resources"]["requests"]["cpu"]


def test_services_and_budgets_select_existing_pods_and_ports() -> None:
    pods = {
        d["metadata"]["name"]: (d["spec"]["template"]["metadata"]["labels"], pod_spec(d)["containers"])
        for d in of_kind("Deployment")
    }

    def matches(selector: dict[str, str]) -> list[str]:
        return [name for name, (labels, _) in pods.items() if selector.items() <= labels.items()]

    for service in of_kind("Service"):
        (target,) = matches(service["spec"]["selector"])
        port_names = {p["name"] for c in pods[target][1] for p in c["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, f"{service['metadata']['name']}: {port}"
    for deployment in of_kind("Deployment"):
        assert deployment["spec"]["selector"]["matchLabels"].items() <= (
            deployment["spec"]["template"]["metadata"]["labels"].items()
        )
    for budget in of_kind("PodDisruptionBudget"):
        assert len(matches(budget["spec"]["selector"]["matchLabels"])) == 1, budget["metadata"]["name"]
    assert {b["metadata"]["name"] for b in of_kind("PodDisruptionBudget")} == set(pods)


def test_ingress_sends_everything_to_the_gateway_over_tls() -> None:
    (ingress,) = of_kind("Ingress")
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/", "Prefix")
    backend = path["backend"]["service"]
    gateway = named("Service", backend["name"])
    assert backend["port"]["name"] in {p["name"] for p in gateway["spec"]["ports"]}
    assert rule["host"] in ingress["spec"]["tls"][0]["hosts"]
    base_url = named("ConfigMap", "jpass-common")["data"]["JPASS_PUBLIC_BASE_URL"]
    assert base_url == f"https://{rule['host']}"


def test_every_referenced_configmap_exists() -> None:
    maps = {m["metadata"]["name"] for m in of_kind("ConfigMap")}
    for workload in workloads():
        spec = pod_spec(workload)
        refs = [s["configMapRef"]["name"] for c in spec["containers"] for s in c.get("envFrom", [])]
        refs += [v["configMap"]["name"] for v in spec.get("volumes", []) if "configMap" in v]
        assert set(refs) <= maps, workload["metadata"]["name"]


# --- jobs --------------------------------------------------------------------------------------------


def test_topic_job_creates_every_topic_with_the_configured_partitions() -> None:
    job = named("Job", "jpass-create-topics")
    (container,) = pod_spec(job)["containers"]
    script = container["command"][-1]
    assert container["command"][:2] == ["python", "-c"]
    assert "ensure_topics(CommonSettings(), ALL_TOPICS)" in script
    compile(script, "create-topics", "exec")
    env = container_env(container)
    assert set(env) - not_settings(set(env)) <= settings_env_names(None)
    assert env["JPASS_TOPIC_PARTITIONS"] == "6"


@pytest.mark.parametrize("service", SERVICES)
def test_each_database_has_a_migration_job(service: str) -> None:
    job = named("Job", f"jpass-migrate-{service}")
    assert pod_spec(job)["restartPolicy"] == "Never"
    (container,) = pod_spec(job)["containers"]
    assert container["command"] == ["python", "-m", f"services.{service}.migrate"]
    env = container_env(container)
    assert set(env) - not_settings(set(env)) <= settings_env_names(service)
    assert env["JPASS_DATABASE_URL"]["secretKeyRef"]["key"] == f"{service}-database-url"
    assert env["JPASS_AUTO_CREATE_SCHEMA"] == "false"


# --- gateway -----------------------------------------------------------------------------------------


def production_caddyfile() -> str:
    return named("ConfigMap", "gateway-caddyfile")["data"]["Caddyfile"]


def path_matchers(caddyfile: str) -> dict[str, list[str]]:
    return {m[1]: m[2].split() for m in re.finditer(r"^\s*@(\w+) path (.+)$", caddyfile, re.M)}


def gateway_env() -> dict[str, str]:
    (container,) = pod_spec(named("Deployment", "gateway"))["containers"]
    return {v["name"]: v["value"] for v in container["env"]}


def test_production_gateway_routes_like_the_local_one_without_devtools() -> None:
    production = path_matchers(production_caddyfile())
    local = path_matchers((ROOT / "deploy/Caddyfile").read_text())
    assert "devtools" in local and "devtools" not in production
    for service in SERVICES[1:]:  # search is the fallback `handle`
        assert production[service] == local[service], f"{service}: keep in step with deploy/Caddyfile"
    routed = " ".join(p for paths in production.values() for p in paths)
    for devtools_path in ("/oidc/", "/.well-known/", "/auth/", "/dev/", "/tfc", "/devtools"):
        assert devtools_path not in routed
    assert set(production["metrics"]) == {f"/{s}/metrics" for s in SERVICES}


def test_gateway_upstreams_are_in_cluster_services() -> None:
    placeholders = set(re.findall(r"\{\$([A-Z_]+)(?::[^}]*)?\}", production_caddyfile()))
    env = gateway_env()
    assert placeholders == set(env)
    services = {s["metadata"]["name"]: s for s in of_kind("Service")}
    for name, value in env.items():
        if name.endswith("_UPSTREAM"):
            host, port = value.split(":")
            assert host in services and int(port) == services[host]["spec"]["ports"][0]["port"], name
    pods = services[env["RETURNS_PODS_DNS"]]
    assert pods["spec"]["clusterIP"] == "None", "returns pods must be resolvable one by one"
    assert pods["spec"]["selector"] == named("Service", "returns")["spec"]["selector"]


def test_production_caddyfile_is_valid_for_caddy(tmp_path: Path) -> None:
    (tmp_path / "Caddyfile").write_text(production_caddyfile())
    caddy = shutil.which("caddy") or str(ROOT / ".venv/bin/caddy")
    result = subprocess.run(
        [caddy, "adapt", "--config", str(tmp_path / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **gateway_env()},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '"reverse_proxy"' in result.stdout and "returns-pods" in result.stdout
    (container,) = pod_spec(named("Deployment", "gateway"))["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] in production_caddyfile()
    assert {"/etc/caddy", "/data", "/config"} <= {m["mountPath"] for m in container["volumeMounts"]}
