"""The Dockerfile, docker-compose.yml, the Kubernetes manifests and the Procfile agree on commands, ports, environment,
user and health checks, and the image is built for a read-only, unprivileged container.

No container engine runs on the development machines, so nothing here builds or starts an image: the files are read
and compared, and the health check paths are requested from the application itself.
"""

from __future__ import annotations

import re
import shlex

import pytest

from tests.ops.deploy_sources import (
    K8S,
    compose,
    container,
    dockerfile_env,
    dockerfile_json,
    dockerfile_runtime,
    env_file_values,
    plain_manifests,
    pod_specs,
    procfile,
)
from tests.ops.test_dockerfile import DOCKERFILE, dockerfile_stages

CONFIG = env_file_values(K8S / "base" / "config.env")


def _objects() -> list[dict]:
    return [obj for _path, obj in plain_manifests()]


def _words(command) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else list(command)


def _expand(words: list[str]) -> list[str]:
    """A Kubernetes command with its ``$(NAME)`` references replaced by the ConfigMap's values."""
    return [re.sub(r"\$\(([A-Z0-9_]+)\)", lambda m: CONFIG[m.group(1)], word) for word in words]


def _procfile_command(name: str) -> list[str]:
    """The Procfile entry's final command, ``${NAME:-default}`` replaced by the ConfigMap's value (or the default)."""
    command = procfile()[name].split("&& exec ")[-1]
    command = re.sub(r"\$\{([A-Z0-9_]+):-([^}]*)\}", lambda m: CONFIG.get(m.group(1), m.group(2)), command)
    return shlex.split(command)


def _dockerfile_user() -> tuple[int, int]:
    (user,) = [args for name, args in dockerfile_runtime() if name.upper() == "USER"]
    uid, gid = user.split(":")
    return int(uid), int(gid)


# ------------------------------------------------------------------------------------------------ the image
def test_the_image_is_built_in_two_stages_and_runs_unprivileged():
    stages = dockerfile_stages(DOCKERFILE.read_text())
    assert len(stages) == 2
    runtime = "\n".join(f"{name} {args}" for name, args in dockerfile_runtime())
    assert "pip install" not in runtime, "packages are installed in the build stage only"
    assert "COPY --from=build /opt/venv /opt/venv" in runtime
    uid, gid = _dockerfile_user()
    assert uid >= 1000 and gid >= 1000
    env = dockerfile_env()
    assert env["HF_HUB_OFFLINE"] == "1" and env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PATH"].startswith("/opt/venv/bin:") and env["HOME"] == "/tmp"
    # The paths the application writes exist in the image, owned by its user (for volumes initialised from it).
    (chown,) = [args for name, args in dockerfile_runtime() if name.upper() == "RUN" and "chown" in args]
    owned = chown.split(f"chown {uid}:{gid}")[1].split()
    assert {env["PROMETHEUS_MULTIPROC_DIR"], env["MEDIA_ROOT"], "/app/.local/beat"} <= set(owned)


def test_image_kubernetes_and_compose_run_as_the_same_user_with_the_same_settings_module():
    uid, gid = _dockerfile_user()
    for name, spec in pod_specs(_objects()).items():
        if name != "maestro-pgbouncer":
            assert (spec["securityContext"]["runAsUser"], spec["securityContext"]["runAsGroup"]) == (uid, gid), name
    env = dockerfile_env()
    app_env = compose()["x-app-env"]
    for name in ("DJANGO_SETTINGS_MODULE", "PROMETHEUS_MULTIPROC_DIR"):
        assert env[name] == CONFIG[name], name
    assert app_env["DJANGO_SETTINGS_MODULE"].endswith(":-" + env["DJANGO_SETTINGS_MODULE"] + "}")
    assert app_env["PROMETHEUS_MULTIPROC_DIR"] == env["PROMETHEUS_MULTIPROC_DIR"]
    assert app_env["METRICS_WORKER_PORT"] == CONFIG["METRICS_WORKER_PORT"]


# ------------------------------------------------------------------------------------------------ commands and ports
def test_web_command_and_port_agree():
    cmd = dockerfile_json("CMD")
    web = container(_objects(), "Deployment", "maestro-web")
    compose_web = _words(compose()["services"]["web"]["command"])
    procfile_web = shlex.split(procfile()["web"])
    assert cmd[:4] == web["command"] == compose_web[:4] == procfile_web == [
        "gunicorn", "-c", "deploy/gunicorn.conf.py", "maestro.wsgi",
    ]  # fmt: skip
    port = int(CONFIG["WEB_PORT"])
    assert cmd[4:] == compose_web[4:] == ["--bind", f"0.0.0.0:{port}"] and CONFIG["WEB_BIND"] == "0.0.0.0"
    exposed = [int(p) for name, args in dockerfile_runtime() if name.upper() == "EXPOSE" for p in args.split()]
    assert exposed == [port, int(CONFIG["METRICS_WORKER_PORT"])]
    assert web["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    assert compose()["services"]["web"]["expose"] == [str(port)]
    assert f"reverse_proxy {{$MAESTRO_UPSTREAM:web:{port}}}" in (K8S.parent / "caddy" / "Caddyfile").read_text()


@pytest.mark.parametrize(
    ("process", "deployment", "service"),
    [("worker", "maestro-worker", "worker"), ("mlworker", "maestro-mlworker", "mlworker"), ("beat", "maestro-beat",
                                                                                         "beat")],
)  # fmt: skip
def test_worker_and_beat_commands_agree(process, deployment, service):
    """The same Celery command everywhere, up to where beat keeps its schedule file."""
    k8s = _expand(container(_objects(), "Deployment", deployment)["command"])
    compose_cmd = _words(compose()["services"][service]["command"])
    local = _procfile_command(process)

    def without_schedule(words: list[str]) -> list[str]:
        if "--schedule" not in words:
            return words
        i = words.index("--schedule")
        return words[:i] + words[i + 2 :]

    assert without_schedule(k8s) == without_schedule(compose_cmd) == without_schedule(local)
    if process == "beat":
        assert k8s[-1] == compose_cmd[-1] == "/app/.local/beat/celerybeat-schedule"
    else:
        metrics_port = int(CONFIG["METRICS_WORKER_PORT"])
        ports = container(_objects(), "Deployment", deployment)["ports"]
        assert ports == [{"name": "metrics", "containerPort": metrics_port, "protocol": "TCP"}]


def test_migrations_run_the_same_command_before_the_web_everywhere():
    migrate = container(_objects(), "Job", "maestro-migrate")["command"]
    services = compose()["services"]
    assert migrate == _words(services["release"]["command"]) == shlex.split(procfile()["release"])
    for name in ("web", "worker", "mlworker", "beat"):
        assert services[name]["depends_on"]["release"]["condition"] == "service_completed_successfully", name


# ------------------------------------------------------------------------------------------------ health checks
@pytest.mark.django_db
def test_health_checks_point_at_routes_that_answer(client):
    """compose's healthcheck and the Kubernetes probes request paths the application serves on any host, a pod IP
    included."""
    compose_check = " ".join(compose()["services"]["web"]["healthcheck"]["test"])
    (compose_url,) = re.findall(r"http://127\.0\.0\.1:(\d+)(/[a-z?=,]+)", compose_check)
    assert int(compose_url[0]) == int(CONFIG["WEB_PORT"])
    web = container(_objects(), "Deployment", "maestro-web")
    paths = {compose_url[1]} | {web[probe]["httpGet"]["path"] for probe in ("startupProbe", "readinessProbe",
                                                                           "livenessProbe")}  # fmt: skip
    assert {web[probe]["httpGet"]["port"] for probe in ("startupProbe", "readinessProbe", "livenessProbe")} == {"http"}
    assert paths == {"/readyz", "/readyz?dependencies=postgresql", "/healthz"}
    for path in paths:
        assert client.get(path, HTTP_HOST="10.244.1.7:8000").status_code == 200, path
