from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from apps.accounts.services import token_create
from tests.metrics.factories import ProjectFactory


def _api(ctx):
    with ctx.context():
        user = get_user_model().objects.get(username=ctx.admin_username)
        token = token_create(user=user, name="runs-tests").plaintext
    return ctx.api(token)


@pytest.fixture
def api_a(tenant_a):
    return _api(tenant_a)


@pytest.fixture
def api_b(tenant_b):
    return _api(tenant_b)


@pytest.fixture
def project_a(tenant_a):
    with tenant_a.context():
        return ProjectFactory()


@pytest.fixture
def project_b(tenant_b):
    with tenant_b.context():
        return ProjectFactory()


@pytest.fixture
def run_a(api_a, project_a):
    """A run created through the API in tenant A (the response body)."""
    response = api_a.post("/api/v1/runs", {"project": project_a.pk, "name": "baseline"}, format="json")
    assert response.status_code == 201, response.content
    return response.json()
