"""Readers for what the deployment files declare: the Kubernetes manifests (plain and rendered by kustomize), the
settings the application reads from the environment, the Dockerfile's instructions, docker-compose and the Procfile.
Shared by tests/ops/test_kubernetes.py and tests/ops/test_deployments_agree.py."""

from __future__ import annotations

import ast
import re
import secrets
import shlex
import shutil
import subprocess
from pathlib import Path

import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
K8S = ROOT / "deploy" / "kubernetes"
KUSTOMIZE_FILES = {"kustomization.yaml", "kustomizeconfig.yaml"}
# kustomize as built into kubectl (the development and CI machine image ships kubectl; docs/deployment.md).
KUBECTL = shutil.which("kubectl")
ENV_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=")


# ------------------------------------------------------------------------------------------------ Kubernetes
def plain_manifests() -> list[tuple[Path, dict]]:
    """Every object in the base's and the components' manifest files, as written (kustomize adds only names)."""
    found = []
    for path in sorted([*K8S.glob("base/*.yaml"), *K8S.glob("components/*/*.yaml")]):
        if path.name not in KUSTOMIZE_FILES:
            found += [(path, obj) for obj in yaml.safe_load_all(path.read_text()) if obj]
    return found


def env_file_keys(path: Path, commented: bool = True) -> set[str]:
    """Variable names of an env file; with ``commented``, also ``# NAME=`` lines (optional settings)."""
    keys = set()
    for line in path.read_text().splitlines():
        match = ENV_LINE.match(line)
        if match and (commented or not line.startswith("#")):
            keys.add(match.group(1))
    return keys


def env_file_values(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#") and "=" in line)


ALL_OPTIONS_OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../example]
components: [../../components/pgbouncer, ../../components/ml-scale-to-zero]
secretGenerator:
  - name: maestro-pgbouncer-auth
    files: [userlist.txt]
  - name: maestro-keda-redis
    literals: [address=redis.example.com:6379]
"""


def render_overlays(workdir: Path) -> dict[str, list[dict]]:
    """``kubectl kustomize`` of the base, the example overlay, and the example with every optional component, from a
    copy of deploy/kubernetes whose secret files hold generated values (the real ones are never committed)."""
    tree = workdir / "kubernetes"
    shutil.copytree(K8S, tree)
    example = tree / "overlays" / "example"
    values = {key: secrets.token_urlsafe(24) for key in env_file_keys(example / "secrets.env.example", commented=False)}
    (example / "secrets.env").write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    every = tree / "overlays" / "all-options"
    every.mkdir()
    (every / "kustomization.yaml").write_text(ALL_OPTIONS_OVERLAY)
    (every / "userlist.txt").write_text(f'"maestro" "{secrets.token_urlsafe(16)}"\n')
    rendered = {}
    for name, path in (("base", tree / "base"), ("example", example), ("all-options", every)):
        result = subprocess.run([KUBECTL, "kustomize", str(path)], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"kubectl kustomize {name}:\n{result.stderr}"
        rendered[name] = [obj for obj in yaml.safe_load_all(result.stdout) if obj]
    return rendered


def find(objects: list[dict], kind: str, name: str) -> dict:
    matches = [obj for obj in objects if obj["kind"] == kind and obj["metadata"]["name"].startswith(name)]
    assert len(matches) == 1, f"{kind} {name}: {len(matches)} found"
    return matches[0]


def pod_specs(objects: list[dict]) -> dict[str, dict]:
    """Pod spec of every Deployment and Job, by object name."""
    return {
        obj["metadata"]["name"]: obj["spec"]["template"]["spec"]
        for obj in objects
        if obj["kind"] in ("Deployment", "Job")
    }


def container(objects: list[dict], kind: str, name: str) -> dict:
    (only,) = find(objects, kind, name)["spec"]["template"]["spec"]["containers"]
    return only


# ------------------------------------------------------------------------------------------------ the application
SETTINGS_FILES = ("maestro/settings/base.py", "maestro/settings/production.py", "maestro/settings/local.py")
# Python that reads os.environ outside the settings (gunicorn's config, the metrics directory, the settings module).
ENVIRON_FILES = ("deploy/gunicorn.conf.py", "maestro", "apps", "manage.py")


def _env_calls(tree: ast.AST) -> set[str]:
    """Names passed to ``env(...)``, ``env.<cast>(...)`` (django-environ) in a settings module."""
    names = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
            continue
        func = node.func
        if (isinstance(func, ast.Name) and func.id == "env") or (
            isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "env"
        ):
            names.add(node.args[0].value)
    return names


def _environ_reads(tree: ast.AST) -> set[str]:
    """Names read with ``os.environ.get/setdefault(...)``, ``os.environ[...]`` or ``os.getenv(...)``; a name given
    as a module-level constant (``ENV_VAR = "..."``) is resolved."""
    constants = {
        target.id: node.value.value
        for node in getattr(tree, "body", [])
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name)
    }

    def literal(node: ast.AST):
        if isinstance(node, ast.Constant):
            return node.value
        return constants.get(node.id) if isinstance(node, ast.Name) else None

    def is_environ(node: ast.AST) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "environ"

    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.func, ast.Attribute):
            func = node.func
            if (func.attr in ("get", "setdefault") and is_environ(func.value)) or func.attr == "getenv":
                names.add(literal(node.args[0]))
        elif isinstance(node, ast.Subscript) and is_environ(node.value) and isinstance(node.ctx, ast.Load):
            names.add(literal(node.slice))
    return {name for name in names if isinstance(name, str)}


def variables_read_by_the_application() -> dict[str, str]:
    """Every environment variable the application reads, with where: the settings (``env(...)``), Python code
    (``os.environ``), and the process definitions of the Procfile (``${NAME...}``). Test settings are not included."""
    found: dict[str, str] = {}
    for rel in SETTINGS_FILES:
        for name in _env_calls(ast.parse((ROOT / rel).read_text())):
            found.setdefault(name, rel)
    for rel in ENVIRON_FILES:
        paths = [ROOT / rel] if rel.endswith(".py") else sorted((ROOT / rel).rglob("*.py"))
        for path in paths:
            if "settings" in path.parts and path.name == "test.py":
                continue
            for name in _environ_reads(ast.parse(path.read_text())):
                found.setdefault(name, str(path.relative_to(ROOT)))
    for name in re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (ROOT / "Procfile").read_text()):
        found.setdefault(name, "Procfile")
    return found


# ------------------------------------------------------------------------------------------------ Dockerfile, compose
def dockerfile_runtime() -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile's last stage, continuation lines joined."""
    from tests.ops.test_dockerfile import DOCKERFILE, dockerfile_stages

    _base, instructions = dockerfile_stages(DOCKERFILE.read_text())[-1]
    return [tuple(line.split(None, 1)) for line in instructions.splitlines() if line.strip()]


def dockerfile_env() -> dict[str, str]:
    env = {}
    for instruction, args in dockerfile_runtime():
        if instruction.upper() == "ENV":
            env.update(word.split("=", 1) for word in shlex.split(args))
    return env


def dockerfile_json(instruction: str) -> list[str]:
    import json

    (args,) = [args for name, args in dockerfile_runtime() if name.upper() == instruction]
    return json.loads(args)


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def procfile() -> dict[str, str]:
    return dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line)
