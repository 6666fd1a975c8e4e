"""deploy/: the Prometheus config loads the alert rules (promtool-checked and unit-tested) and sends alerts to
Alertmanager (amtool-checked), the Grafana dashboard parses and references only metrics /metrics really exports, and
compose scrapes every container on its own, behind a TLS proxy."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection

from maestro.observability import metrics as m
from tests.ops.scrape import names, scrape

DEPLOY = Path(settings.BASE_DIR) / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "maestro.json"
METRIC_RE = re.compile(r"\b((?:django|maestro)_[a-z0-9_]+)\b")
SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")
REQUIRED_ALERTS = {
    "MaestroHigh5xxRatio",
    "MaestroCeleryTaskFailures",
    "MaestroStaleModel",
    "MaestroDependencyNotReady",
    "MaestroDown",
}
promtool = shutil.which("promtool")
amtool = shutil.which("amtool")
ALERTMANAGER = DEPLOY / "alertmanager" / "alertmanager.yml"
pytestmark = pytest.mark.django_db


def _alert_rules() -> list[dict]:
    config = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule for group in config["groups"] for rule in group["rules"]]


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    exprs += [variable["definition"] for variable in dashboard["templating"]["list"] if "definition" in variable]
    return exprs


@pytest.fixture(scope="module")
def exported(django_db_setup, django_db_blocker, _session_tenants) -> set[str]:
    """Every sample name /metrics exports once each kind of event has happened at least once."""
    from django.test import Client

    with django_db_blocker.unblock():
        Client().get("/accounts/login/", HTTP_HOST="alpha.localhost")
        Client().get("/", HTTP_HOST="localhost")
        with _session_tenants[0].context():
            cache.set("deploy-config-probe", 1, 5)
            cache.get("deploy-config-probe")
        with pytest.raises(DatabaseError), connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table_for_the_error_counter")
        m.record_points_ingested(1, tenant="alpha")
        m.record_batch_rejected("validation")
        m.record_history_read("copy", tenant="alpha")
        m.record_recommendation_served(0.01, tenant="alpha")
        m.record_prediction_insufficient_data(tenant="alpha")
        m.record_model_training(duration_seconds=1.0, succeeded=True, cv_mae=0.1, tenant="alpha")
        m.set_embedding_backlog(1, tenant="alpha")
        m.record_task("deploy.probe", "failure", 0.1)
        m.record_quota_refusal("users")
        return names(scrape())


def _missing(referenced: set[str], exported: set[str]) -> set[str]:
    def known(name: str) -> bool:
        return name in exported or any(name + suffix in exported for suffix in SUFFIXES)

    return {name for name in referenced if not known(name)}


def test_prometheus_config_scrapes_every_container_and_alerts_through_alertmanager():
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "maestro"  # the alert rules select up{job="maestro"}
    compose = yaml.safe_load((Path(settings.BASE_DIR) / "docker-compose.yml").read_text())["services"]
    port = compose["worker"]["environment"]["METRICS_WORKER_PORT"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["web:8000", f"worker:{port}", f"mlworker:{port}"]
    (alertmanagers,) = config["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert "9093:9093" in compose["alertmanager"]["ports"]
    assert "/etc/alertmanager/alertmanager.yml" in " ".join(compose["alertmanager"]["command"])


def test_alertmanager_routes_every_alert_to_a_documented_receiver():
    config = yaml.safe_load(ALERTMANAGER.read_text())
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    assert config["route"]["receiver"] in receivers
    assert {route["receiver"] for route in config["route"].get("routes", [])} <= set(receivers)
    for receiver in receivers.values():
        (email,) = receiver["email_configs"]
        assert email["to"] and email["smarthost"] and email["send_resolved"] is True
        assert "auth_password" not in email, "the password is read from a file, never written in the config"
        assert email["auth_password_file"].startswith("/etc/alertmanager/secrets/")
    ignored = (DEPLOY / "alertmanager" / "secrets" / ".gitignore").read_text().splitlines()
    assert "*" in ignored and "!.gitignore" in ignored
    severities = {rule["labels"]["severity"] for rule in _alert_rules()}
    assert severities == {"page", "warning"}


@pytest.mark.skipif(amtool is None, reason="amtool not installed (scripts/services.sh tools installs it)")
def test_amtool_accepts_the_alertmanager_config_and_rejects_a_broken_one(tmp_path):
    result = subprocess.run([amtool, "check-config", str(ALERTMANAGER)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(
        ALERTMANAGER.read_text().replace("receiver: operators\n  group_by", "receiver: nobody\n  group_by")
    )
    assert subprocess.run([amtool, "check-config", str(broken)], capture_output=True, timeout=60).returncode != 0


def test_alert_rules_are_complete_and_well_formed():
    rules = _alert_rules()
    assert {rule["alert"] for rule in rules} >= REQUIRED_ALERTS
    for rule in rules:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in {"page", "warning"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert re.fullmatch(r"\d+[smh]", rule["for"])


def test_alerts_and_dashboard_reference_only_exported_metrics(exported):
    from_alerts = {name for rule in _alert_rules() for name in METRIC_RE.findall(rule["expr"])}
    from_dashboard = {name for expr in _dashboard_exprs() for name in METRIC_RE.findall(expr)}
    assert from_alerts and from_dashboard
    assert _missing(from_alerts, exported) == set()
    assert _missing(from_dashboard, exported) == set()


def test_dashboard_covers_every_maestro_metric():
    defined = set(re.findall(r"``(maestro_[a-z0-9_]+)", m.__doc__))
    assert len(defined) == 17
    referenced = {name for expr in _dashboard_exprs() for name in METRIC_RE.findall(expr)}
    covered = {name for name in defined if any(ref == name or ref.startswith(name + "_") for ref in referenced)}
    assert defined - covered == set()


def test_dashboard_is_a_provisionable_grafana_dashboard():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "maestro-overview" and dashboard["title"] == "Maestro"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${DS}"}
            assert panel["targets"] and all(t["expr"] and t["refId"] for t in panel["targets"])
    provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "maestro.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_compose_containers_share_nothing_and_run_read_only():
    """Like Kubernetes pods: each container's metrics directory is its own (a tmpfs), no PID namespace is shared, and
    the root filesystem is read-only, with the image's writable paths mounted."""
    compose = yaml.safe_load((Path(settings.BASE_DIR) / "docker-compose.yml").read_text())["services"]
    for name in ("release", "web", "worker", "mlworker", "beat"):
        service = compose[name]
        metrics_dir = service["environment"]["PROMETHEUS_MULTIPROC_DIR"]
        assert metrics_dir in service["tmpfs"] and "/tmp" in service["tmpfs"], name
        assert not any(metrics_dir in volume for volume in service.get("volumes", [])), name
        assert "pid" not in service and service["read_only"] is True, name
    assert "deploy/gunicorn.conf.py" in compose["web"]["command"]
    assert compose["worker"]["expose"] == compose["mlworker"]["expose"] == [compose["worker"]["environment"][
        "METRICS_WORKER_PORT"]]  # fmt: skip
    assert "ports" not in compose["web"], "the web is reached through Caddy (TLS) only"


def test_caddy_fronts_the_web_with_tls_for_every_localhost_host():
    compose = yaml.safe_load((Path(settings.BASE_DIR) / "docker-compose.yml").read_text())["services"]
    caddy = compose["caddy"]
    assert set(caddy["ports"]) == {"80:80", "443:443"}
    assert "./deploy/caddy/Caddyfile:/etc/caddy/Caddyfile:ro" in caddy["volumes"]
    assert caddy["depends_on"]["web"]["condition"] == "service_healthy"
    caddyfile = (DEPLOY / "caddy" / "Caddyfile").read_text()
    assert re.search(r"^localhost, \*\.localhost \{$", caddyfile, re.MULTILINE)
    assert re.search(r"^\ttls internal \{\n\t\ton_demand\n\t\}$", caddyfile, re.MULTILINE)
    assert "reverse_proxy {$MAESTRO_UPSTREAM:web:8000}" in caddyfile
    environment = compose["web"]["environment"]
    assert environment["MAESTRO_TRUSTED_PROXY_COUNT"] == "1" and "SECURE_SSL_REDIRECT" not in environment


def test_compose_stores_files_in_minio_for_every_app_container():
    """One S3 store (MinIO) for web and workers, so every host reads what another stored; its bucket is created at
    release by the one-shot ``bucket`` service; credentials come from .env (compose refuses to start without them),
    none are written here."""
    compose = yaml.safe_load((Path(settings.BASE_DIR) / "docker-compose.yml").read_text())
    services = compose["services"]
    minio = services["minio"]
    assert minio["image"].startswith("minio/minio:RELEASE.") and "/data" in minio["command"]
    assert minio["healthcheck"]["test"][:2] == ["CMD", "mc"]
    for name in ("web", "worker", "mlworker", "beat", "release", "bucket"):
        env = services[name]["environment"]
        assert env["MAESTRO_STORAGE_URL"].startswith("s3://"), name
        assert env["MAESTRO_STORAGE_ENDPOINT_URL"] == "http://minio:9000", name
        assert env["AWS_ACCESS_KEY_ID"].startswith("${MINIO_ROOT_USER:?"), name
        assert env["AWS_SECRET_ACCESS_KEY"].startswith("${MINIO_ROOT_PASSWORD:?"), name
        depends = services[name]["depends_on"]
        assert {"minio", "release", "bucket"} & set(depends), name  # directly, or through release or bucket
        assert not any("media" in volume for volume in services[name].get("volumes", [])), name
    assert services["bucket"]["depends_on"]["minio"] == {"condition": "service_healthy"}
    assert services["bucket"]["command"] == "python manage.py storage_ensure_bucket"
    assert services["release"]["depends_on"]["bucket"] == {"condition": "service_completed_successfully"}


@pytest.mark.skipif(promtool is None, reason="promtool not installed (scripts/services.sh tools installs it)")
def test_promtool_accepts_the_config_and_the_rules_and_their_unit_tests():
    for args in (
        ["check", "config", "prometheus.yml"],
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts.test.yml"],
    ):
        result = subprocess.run([promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}\n{result.stderr}"


@pytest.mark.skipif(promtool is None, reason="promtool not installed (scripts/services.sh tools installs it)")
def test_promtool_rejects_a_broken_rule(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: sum(rate(\n")
    result = subprocess.run([promtool, "check", "rules", str(broken)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0


def test_the_ml_queue_has_its_own_lower_priority_worker_and_every_queue_a_consumer():
    """Training and embedding run in a worker of their own at a lower CPU priority (noisy-neighbour budget, issue 9);
    the Procfile (make run) and docker-compose agree, and every queue a task is routed to is consumed."""
    procfile = dict(
        line.split(": ", 1) for line in (Path(settings.BASE_DIR) / "Procfile").read_text().splitlines() if line
    )
    compose = yaml.safe_load((Path(settings.BASE_DIR) / "docker-compose.yml").read_text())["services"]
    commands = [(procfile["worker"], procfile["mlworker"])]
    commands.append((compose["worker"]["command"], compose["mlworker"]["command"]))
    for worker, ml in commands:
        assert "--queues default " in worker and " ml" not in worker.split("--queues")[1].split()[0]
        assert "--queues ml " in ml and "nice -n" in ml
        assert ml.index("nice -n") < ml.index("celery")
    assert {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()} <= {"default", "ml"}
    makefile = (Path(settings.BASE_DIR) / "Makefile").read_text()
    assert "honcho start -f Procfile web worker mlworker beat" in makefile
