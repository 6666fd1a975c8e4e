from __future__ import annotations

import os
import uuid

import pytest
from django.contrib.auth import get_user_model

from apps.accounts.models import ApiToken
from apps.accounts.services import token_create
from apps.artifacts.models import Artifact
from apps.projects.models import Project

PREFIX = "/api/2.0/mlflow/"


class Mlflow:
    """MLflow REST calls on one tenant with one token (JSON bodies for POST, query strings for GET)."""

    def __init__(self, ctx, token: str, host: str | None = None):
        self.ctx = ctx
        self.api = ctx.api(token, host=host)

    def post(self, path: str, body: dict | None = None, *, prefix: str = PREFIX):
        return self.api.post(prefix + path, body or {}, format="json")

    def get(self, path: str, params: dict | None = None, *, prefix: str = PREFIX):
        return self.api.get(prefix + path, params or {})

    def patch(self, path: str, body: dict | None = None, *, prefix: str = PREFIX):
        return self.api.patch(prefix + path, body or {}, format="json")

    def delete(self, path: str, body: dict | None = None, *, prefix: str = PREFIX):
        return self.api.delete(prefix + path, body or {}, format="json")

    def ok(self, method: str, path: str, body: dict | None = None) -> dict:
        response = getattr(self, method)(path, body)
        assert response.status_code == 200, response.content[:500]
        return response.json()

    def experiment(self, name: str, **extra) -> str:
        return self.ok("post", "experiments/create", {"name": name, **extra})["experiment_id"]

    def run(self, experiment_id: str, **extra) -> dict:
        body = {"experiment_id": experiment_id, "start_time": 1767225600000, **extra}
        return self.ok("post", "runs/create", body)["run"]


def admin_token(ctx) -> str:
    with ctx.context():
        user = get_user_model().objects.get(username=ctx.admin_username)
        return token_create(user=user, name="mlflow-tests").plaintext


@pytest.fixture
def mlflow_a(tenant_a) -> Mlflow:
    return Mlflow(tenant_a, admin_token(tenant_a))


@pytest.fixture
def mlflow_b(tenant_b) -> Mlflow:
    return Mlflow(tenant_b, admin_token(tenant_b))


def error_of(response, status: int, code: str) -> str:
    """Assert MLflow's error shape, status and code; return the message."""
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert body["error_code"] == code, body
    assert set(body) <= {"error_code", "message", "sqlstate", "error_class"}
    return body["message"]


@pytest.fixture
def mlflow_env(committed, live_server_url):
    """A Maestro token of tenant A's admin and the environment an MLflow user sets; cleans up what it created
    (projects with their runs and logged models, registered models with their library artifacts)."""
    alpha = committed[0]
    with alpha.context():
        user = get_user_model().objects.get(username=alpha.admin_username)
        created = token_create(user=user, name=f"mlflow-{uuid.uuid4().hex[:6]}")
        before = set(Project.objects.values_list("pk", flat=True))
        artifacts_before = set(Artifact.objects.values_list("pk", flat=True))
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{live_server_url.port}",
        "MLFLOW_TRACKING_TOKEN": created.plaintext,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    yield alpha, env, created.plaintext, live_server_url
    with alpha.context():
        Artifact.objects.exclude(pk__in=artifacts_before).delete()  # registered models (and their versions)
        Project.objects.exclude(pk__in=before).delete()
        ApiToken.objects.filter(pk=created.token.pk).delete()
