"""deploy/kubernetes/: every manifest is a valid Kubernetes object, every setting is configured, nothing is shared.

Offline and without a cluster: the manifests (as written, and as kustomize renders the example overlay with and
without the optional components) are validated against the Kubernetes API's JSON schemas (kubernetes-validate,
strict: an unknown field fails) and the custom resources against tests/ops/crd_schemas.py. Rendering uses the
kustomize built into kubectl, which the development and CI machines have; without kubectl the rendered checks skip
and the plain manifests are still validated. Nothing here ran on a real cluster.
"""

from __future__ import annotations

import copy
import os
import re
import stat
import subprocess

import jsonschema
import kubernetes_validate
import pytest
import yaml
from django.http.request import validate_host

from scripts.k8s_prometheus_rule import TARGET as PROMETHEUS_RULE_FILE
from scripts.k8s_prometheus_rule import prometheus_rule
from tests.ops.crd_schemas import SCHEMAS
from tests.ops.deploy_sources import (
    K8S,
    KUBECTL,
    ROOT,
    container,
    env_file_keys,
    env_file_values,
    find,
    plain_manifests,
    pod_specs,
    render_overlays,
    variables_read_by_the_application,
)

# The oldest Kubernetes minor version the manifests target (autoscaling/v2, policy/v1, seccompProfile fields) and the
# newest kubernetes-validate knows.
K8S_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
CONFIG = K8S / "base" / "config.env"
SECRETS_EXAMPLE = K8S / "overlays" / "example" / "secrets.env.example"
# Read by libraries rather than Maestro's own code: boto3 takes its credentials from these (maestro/storage.py).
READ_BY_LIBRARIES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
# Set by the code itself before the embedding library reads them (apps/recommendations/ml/embeddings.py) and by the
# image (Dockerfile ENV): nothing for an operator to configure.
FORCED_BY_THE_CODE = {"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"}
WORKLOADS = ("maestro-web", "maestro-worker", "maestro-mlworker", "maestro-beat", "maestro-migrate")

needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl (kustomize) not installed: rendering not checked")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, list[dict]]:
    if KUBECTL is None:
        pytest.skip("kubectl (kustomize) not installed: rendering not checked")
    return render_overlays(tmp_path_factory.mktemp("kustomize"))


def schema_errors(obj: dict) -> list[str]:
    """Why ``obj`` is not a valid object of its kind, for each target Kubernetes version (empty: valid)."""
    custom = SCHEMAS.get((obj.get("apiVersion"), obj.get("kind")))
    if custom is not None:
        return [error.message for error in jsonschema.Draft202012Validator(custom).iter_errors(obj)]
    errors = []
    for version in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{version}: {exc.message} at {'.'.join(map(str, exc.absolute_path))}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{version}: {exc.message}")
    return errors


def _described(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


# ------------------------------------------------------------------------------------------------ schema validity
def test_every_manifest_file_is_a_valid_kubernetes_object():
    objects = plain_manifests()
    assert len(objects) >= 20
    invalid = {f"{path.relative_to(K8S)} {_described(obj)}": schema_errors(obj) for path, obj in objects}
    assert {name: errors for name, errors in invalid.items() if errors} == {}


@needs_kubectl
def test_every_rendered_object_is_valid(rendered):
    for overlay, objects in rendered.items():
        invalid = {_described(obj): schema_errors(obj) for obj in objects}
        assert {name: errors for name, errors in invalid.items() if errors} == {}, overlay


def test_the_validators_reject_a_misspelt_field_and_a_wrong_type():
    """Strict validation fails on what the API server would prune silently or refuse."""
    objects = {(obj["kind"], obj["metadata"]["name"]): obj for _path, obj in plain_manifests()}
    web = copy.deepcopy(objects[("Deployment", "maestro-web")])
    web["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/readyz", "port": 8000}}
    assert schema_errors(web)
    hpa = copy.deepcopy(objects[("HorizontalPodAutoscaler", "maestro-web")])
    hpa["spec"]["minReplicas"] = "two"
    assert schema_errors(hpa)
    monitor = copy.deepcopy(objects[("PodMonitor", "maestro")])
    monitor["spec"]["podMetricEndpoints"] = monitor["spec"].pop("podMetricsEndpoints")
    assert schema_errors(monitor)
    rule = copy.deepcopy(objects[("PrometheusRule", "maestro")])
    rule["spec"]["groups"][0]["rules"][0]["for"] = "five minutes"
    assert schema_errors(rule)


# ------------------------------------------------------------------------------------------------ settings lint
def chart_variables() -> set[str]:
    """Variables the chart sets: the ConfigMap, the Secret's documented keys, and literal container env entries."""
    names = env_file_keys(CONFIG, commented=False) | env_file_keys(SECRETS_EXAMPLE)
    for _path, obj in plain_manifests():
        for spec in pod_specs([obj]).values():
            names |= {entry["name"] for c in spec["containers"] for entry in c.get("env", [])}
    return names


def test_every_variable_the_application_reads_is_in_the_configmap_or_the_secret():
    read = variables_read_by_the_application()
    missing = {name: where for name, where in read.items() if name not in chart_variables() | FORCED_BY_THE_CODE}
    assert missing == {}, "add them to deploy/kubernetes/base/config.env or the example secrets.env"


def test_every_variable_in_the_chart_is_read_by_the_application():
    read = set(variables_read_by_the_application())
    assert chart_variables() - read - READ_BY_LIBRARIES == set()
    assert not (env_file_keys(CONFIG) & env_file_keys(SECRETS_EXAMPLE)), "a variable is both config and secret"


def test_secrets_are_never_in_the_configmap():
    """Credentials and URLs that may carry a password live in the Secret, whose example carries no value."""
    credential_urls = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CACHE_URL", "MAESTRO_RATE_LIMIT_REDIS_URL"}
    config = env_file_keys(CONFIG)
    assert {name for name in config if re.search(r"(SECRET|PASSWORD|TOKEN|_KEYS?|_ID)$", name)} == set()
    assert config & credential_urls == set()
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "METRICS_TOKEN"} <= env_file_keys(SECRETS_EXAMPLE, False)
    assert set(env_file_values(SECRETS_EXAMPLE).values()) == {""}, "the example must carry no secret value"


def test_command_variables_are_defined_in_the_configmap():
    """Kubernetes expands ``$(NAME)`` in a command from the container's environment, and leaves it as written when
    the variable is not there: every one used must come from the ConfigMap."""
    config = env_file_keys(CONFIG, commented=False)
    for name, spec in pod_specs([obj for _path, obj in plain_manifests()]).items():
        for c in spec["containers"]:
            used = {word[2:-1] for word in c.get("command", []) + c.get("args", []) if word.startswith("$(")}
            assert used <= config, (name, used - config)


# ------------------------------------------------------------------------------------------------ the workloads
def test_every_pod_runs_unprivileged_on_a_read_only_root_filesystem():
    objects = [obj for _path, obj in plain_manifests()]
    specs = pod_specs(objects)
    assert set(WORKLOADS) | {"maestro-pgbouncer"} <= set(specs)
    for name, spec in specs.items():
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] >= 1000, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        for c in spec["containers"]:
            assert c["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }, name
            assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"], name
            assert c["resources"]["limits"]["memory"], name


def test_every_path_maestro_writes_is_a_volume_of_its_pod():
    """Read-only root filesystem: /tmp (temporary files, exports), the metrics directory and beat's schedule are
    mounted; MEDIA_ROOT is not, since files go to S3 (MAESTRO_STORAGE_URL)."""
    config = env_file_values(CONFIG)
    assert config["TENANT_EXPORT_DIR"].startswith("/tmp/")
    assert config["MAESTRO_STORAGE_URL"].startswith("s3://")
    objects = [obj for _path, obj in plain_manifests()]
    for name in WORKLOADS:
        (c,) = pod_specs(objects)[name]["containers"]
        mounts = {mount["mountPath"] for mount in c["volumeMounts"]}
        assert {"/tmp", config["PROMETHEUS_MULTIPROC_DIR"]} <= mounts, name
    beat = container(objects, "Deployment", "maestro-beat")
    schedule = beat["command"][beat["command"].index("--schedule") + 1]
    assert os.path.dirname(schedule) in {mount["mountPath"] for mount in beat["volumeMounts"]}


def test_web_probes_autoscaler_and_disruption_budget():
    objects = [obj for _path, obj in plain_manifests()]
    web = find(objects, "Deployment", "maestro-web")
    (c,) = web["spec"]["template"]["spec"]["containers"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz?dependencies=postgresql"
    assert c["livenessProbe"]["httpGet"]["path"] == c["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert web["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert "replicas" not in web["spec"], "the HorizontalPodAutoscaler owns the replica count"
    hpa = find(objects, "HorizontalPodAutoscaler", "maestro-web")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "maestro-web"}
    assert hpa["spec"]["minReplicas"] >= 2
    labels = web["spec"]["template"]["metadata"]["labels"]
    for kind in ("PodDisruptionBudget", "Service"):
        selector = find(objects, kind, "maestro-web")["spec"]["selector"]
        selector = selector.get("matchLabels", selector)
        assert selector.items() <= labels.items(), kind


def test_one_beat_migrations_by_job_and_workers_per_queue():
    objects = [obj for _path, obj in plain_manifests()]
    beat = find(objects, "Deployment", "maestro-beat")
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"] == {"type": "Recreate"}
    assert not [obj for obj in objects if obj["kind"] == "PodDisruptionBudget" and "beat" in obj["metadata"]["name"]]
    migrate = container(objects, "Job", "maestro-migrate")
    assert migrate["command"] == ["python", "manage.py", "migrate_schemas", "--noinput"]
    worker = container(objects, "Deployment", "maestro-worker")["command"]
    ml = container(objects, "Deployment", "maestro-mlworker")["command"]
    assert worker[worker.index("--queues") + 1] == "default" and ml[ml.index("--queues") + 1] == "ml"
    assert ml[:2] == ["nice", "-n"]
    ml_requests = container(objects, "Deployment", "maestro-mlworker")["resources"]["requests"]
    assert ml_requests != container(objects, "Deployment", "maestro-worker")["resources"]["requests"]


def test_ingress_serves_the_configured_hosts_over_tls():
    config = env_file_values(CONFIG)
    ingress = find([obj for _path, obj in plain_manifests()], "Ingress", "maestro")
    public, suffix = config["MAESTRO_PUBLIC_HOSTS"].split(",")[0], config["MAESTRO_TENANT_DOMAIN_SUFFIX"]
    hosts = {public, f"*.{suffix}"}
    assert {rule["host"] for rule in ingress["spec"]["rules"]} == hosts
    (tls,) = ingress["spec"]["tls"]
    assert set(tls["hosts"]) == hosts and tls["secretName"]
    allowed = config["ALLOWED_HOSTS"].split(",")
    assert validate_host(public, allowed) and validate_host(f"acme.{suffix}", allowed)
    assert config["SECURE_SSL_REDIRECT"] == "true" and config["MAESTRO_TRUSTED_PROXY_COUNT"] == "1"
    assert config["MAESTRO_BASE_PORT"] == "443"


def test_network_policies_deny_by_default_and_open_only_the_serving_ports():
    objects = [obj for _path, obj in plain_manifests()]
    deny = find(objects, "NetworkPolicy", "maestro-default-deny")["spec"]
    assert deny["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "maestro"}}
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"} and "ingress" not in deny and "egress" not in deny
    web_ports = {p["port"] for rule in find(objects, "NetworkPolicy", "maestro-web-ingress")["spec"]["ingress"]
                 for p in rule["ports"]}  # fmt: skip
    metric_ports = {p["port"] for rule in find(objects, "NetworkPolicy", "maestro-worker-metrics")["spec"]["ingress"]
                    for p in rule["ports"]}  # fmt: skip
    config = env_file_values(CONFIG)
    assert web_ports == {int(config["WEB_PORT"])} and metric_ports == {int(config["METRICS_WORKER_PORT"])}


def test_prometheus_scrapes_every_pod_with_the_token_and_the_rules_match_alerts_yml():
    objects = [obj for _path, obj in plain_manifests()]
    monitor = find(objects, "PodMonitor", "maestro")["spec"]
    ports = {endpoint["port"] for endpoint in monitor["podMetricsEndpoints"]}
    assert ports == {"http", "metrics"}
    for endpoint in monitor["podMetricsEndpoints"]:
        assert endpoint["authorization"]["credentials"] == {"name": "maestro-secrets", "key": "METRICS_TOKEN"}
    assert monitor["jobLabel"] == "app.kubernetes.io/part-of"  # job="maestro", as the alert rules expect
    for name in ("maestro-web", "maestro-worker", "maestro-mlworker"):
        (c,) = pod_specs(objects)[name]["containers"]
        assert {port["name"] for port in c["ports"]} & ports, name
    assert PROMETHEUS_RULE_FILE.read_text() == prometheus_rule(), "run scripts/k8s_prometheus_rule.py"
    alerts = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    assert yaml.safe_load(PROMETHEUS_RULE_FILE.read_text())["spec"]["groups"] == alerts["groups"]


# ------------------------------------------------------------------------------------------------ rendered overlays
@needs_kubectl
def test_the_example_overlay_wires_generated_config_and_secret_into_every_pod(rendered):
    objects = rendered["example"]
    config = find(objects, "ConfigMap", "maestro-config-")["metadata"]["name"]
    secret = find(objects, "Secret", "maestro-secrets-")["metadata"]["name"]
    for name, spec in pod_specs(objects).items():
        (c,) = spec["containers"]
        refs = {ref.get("configMapRef", ref.get("secretRef"))["name"] for ref in c["envFrom"]}
        assert refs == {config, secret}, name
        assert c["image"].startswith("registry.example.com/maestro:"), name
    for endpoint in find(objects, "PodMonitor", "maestro")["spec"]["podMetricsEndpoints"]:
        assert endpoint["authorization"]["credentials"]["name"] == secret
    assert {obj["metadata"]["namespace"] for obj in objects} == {"maestro"}


@needs_kubectl
def test_pgbouncer_option_sets_session_pooling_on_both_sides(rendered):
    objects = rendered["all-options"]
    data = find(objects, "ConfigMap", "maestro-config-")["data"]
    assert data["DATABASE_POOL_MODE"] == "session" and data["CONN_MAX_AGE"] == "0"
    ini = find(objects, "ConfigMap", "maestro-pgbouncer-")["data"]["pgbouncer.ini"]
    settings_lines = {line.split("=")[0].strip(): line.split("=", 1)[1].strip() for line in ini.splitlines()
                      if "=" in line and not line.startswith(";")}  # fmt: skip
    assert settings_lines["pool_mode"] == "session" and settings_lines["server_reset_query"] == "DISCARD ALL"
    pgbouncer = container(objects, "Deployment", "maestro-pgbouncer")
    assert int(settings_lines["listen_port"]) == pgbouncer["ports"][0]["containerPort"]
    auth = find(objects, "Secret", "maestro-pgbouncer-auth-")["metadata"]["name"]
    volumes = find(objects, "Deployment", "maestro-pgbouncer")["spec"]["template"]["spec"]["volumes"]
    assert auth in {v.get("secret", {}).get("secretName") for v in volumes}
    assert find(rendered["example"], "ConfigMap", "maestro-config-")["data"]["DATABASE_POOL_MODE"] == "direct"


@needs_kubectl
def test_ml_scale_to_zero_option_hands_the_replica_count_to_keda(rendered):
    objects = rendered["all-options"]
    assert "replicas" not in find(objects, "Deployment", "maestro-mlworker")["spec"]
    scaled = find(objects, "ScaledObject", "maestro-mlworker")["spec"]
    assert scaled["minReplicaCount"] == 0 and scaled["scaleTargetRef"]["name"] == "maestro-mlworker"
    (trigger,) = scaled["triggers"]
    assert trigger["metadata"]["listName"] == "ml"
    timeout = int(env_file_values(CONFIG)["RECOMMENDATIONS_RUN_TIMEOUT_SECONDS"])
    assert scaled["cooldownPeriod"] >= timeout, "KEDA must not stop a worker that may still be training"
    secret = find(objects, "Secret", "maestro-keda-redis-")["metadata"]["name"]
    auth = find(objects, "TriggerAuthentication", "maestro-keda-redis")["spec"]
    assert {ref["name"] for ref in auth["secretTargetRef"]} == {secret}


# ------------------------------------------------------------------------------------------------ the release order
def test_release_script_migrates_before_it_rolls_out(tmp_path):
    """scripts/k8s_deploy.sh against a kubectl that records its calls: the Job is replaced and awaited before the
    Deployments are applied, and a failed migration stops the release."""
    log = tmp_path / "calls"
    fake = tmp_path / "bin" / "kubectl"
    fake.parent.mkdir()
    fake.write_text(
        f'#!/bin/sh\necho "$*" >> {log}\ncase "$*" in *"get job maestro-migrate"*) echo "$JOB_STATE" ;; esac\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    overlay = K8S / "overlays" / "example"

    def release(state: str) -> subprocess.CompletedProcess:
        log.write_text("")
        env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}", "JOB_STATE": state}
        return subprocess.run(["bash", str(ROOT / "scripts" / "k8s_deploy.sh"), str(overlay)],
                              env=env, capture_output=True, text=True, timeout=60)  # fmt: skip

    done = release("Complete")
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == "-n maestro delete job maestro-migrate --ignore-not-found --wait=true"
    assert calls[1] == f"apply -k {overlay} -l app.kubernetes.io/component notin (web,worker,mlworker,beat)"
    assert calls[2].startswith("-n maestro get job maestro-migrate")
    assert calls[3] == f"apply -k {overlay}"
    assert [call.split()[-2] for call in calls[4:]] == [
        "deployment/maestro-web", "deployment/maestro-worker", "deployment/maestro-mlworker", "deployment/maestro-beat",
    ]  # fmt: skip
    failed = release("Failed")
    assert failed.returncode == 1 and "migration failed" in failed.stdout
    assert f"apply -k {overlay}" not in log.read_text().splitlines()
