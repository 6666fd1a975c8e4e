"""List endpoints load related rows in a bounded number of queries (no N+1).

Counts include django-tenants' ``SET search_path`` statements: with TENANT_LIMIT_SET_CALLS on, one for the routing
query (public schema) and one for the tenant's. The project list needs: routing (domain), token (the token row on a
process's first request with it, then only the tenant's auth generation: ``apps.accounts.token_cache``), token
last-use (at most once a minute), count, and one page query returning projects, owners, teams and usages (JSON
arrays) — 5 statements, 7 counted."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.artifacts.models import ArtifactUsage
from tests.artifacts.factories import ArtifactFactory, ArtifactVersionFactory
from tests.projects.factories import ProjectFactory, TeamMemberFactory, UserFactory
from tests.projects.helpers import admin_actor

pytestmark = pytest.mark.django_db


def _seed(ctx, projects: int):
    with ctx.context():
        owner = UserFactory(username="owner")
        versions = [ArtifactVersionFactory(artifact=ArtifactFactory()) for _ in range(3)]
        for _ in range(projects):
            project = ProjectFactory(owner=UserFactory())
            TeamMemberFactory.create_batch(2, project=project, user=UserFactory())
            for version in versions[:2]:
                ArtifactUsage.objects.create(
                    project=project, artifact_version=version, artifact=version.artifact, used_by=owner
                )


def test_project_list_with_teams_and_usages_uses_constant_queries(tenant_a, django_assert_max_num_queries):
    admin = admin_actor(tenant_a)
    _seed(tenant_a, 3)
    with CaptureQueriesContext(connection) as few:
        assert admin.api.get("/api/v1/projects?page_size=50").json()["count"] == 3
    _seed(tenant_a, 47)
    with django_assert_max_num_queries(min(len(few.captured_queries), 7)):
        response = admin.api.get("/api/v1/projects?page_size=50")
    body = response.json()
    assert body["count"] == 50 and len(body["results"]) == 50
    assert all(len(p["team_members"]) == 2 and len(p["artifact_usages"]) == 2 for p in body["results"])
    assert all(p["owner_username"] and p["team_members"][0]["username"] for p in body["results"])
    assert body["results"][0]["artifact_usages"][0]["artifact_name"].startswith("artifact-")


def test_artifact_and_usage_lists_use_constant_queries(tenant_a, django_assert_max_num_queries):
    admin = admin_actor(tenant_a)
    _seed(tenant_a, 30)
    admin.api.get("/api/v1/me")  # the first request caches the token (apps.accounts.token_cache); later ones read
    # only the tenant's auth generation instead of the token row. Counted: routing, generation, token last-use,
    # count, rows, and the two search_path statements.
    with django_assert_max_num_queries(7):
        assert len(admin.api.get("/api/v1/artifact-usages?page_size=100").json()["results"]) == 60
    with django_assert_max_num_queries(6):
        assert admin.api.get("/api/v1/artifacts").json()["count"] == 3
    artifact_id = admin.api.get("/api/v1/artifacts").json()["results"][0]["id"]
    # nested route: the access gate checks the parent artifact before the view runs (one more statement)
    with django_assert_max_num_queries(8):
        assert admin.api.get(f"/api/v1/artifacts/{artifact_id}/versions").json()["count"] == 1
