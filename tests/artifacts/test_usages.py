"""Artifact usages: unique per (project, version), usage_count kept exact by the services."""

import pytest
from django.core.exceptions import ValidationError

from apps.artifacts.models import Artifact, ArtifactUsage
from apps.artifacts.services import artifact_usage_create
from apps.artifacts.uploads import safe_content_type, safe_filename
from tests.artifacts.factories import ArtifactFactory, ArtifactVersionFactory
from tests.projects.factories import ProjectFactory
from tests.projects.helpers import member_actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(tenant_a):
    with tenant_a.context():
        artifact = ArtifactFactory(name="embedder")
        return {
            "artifact": artifact,
            "v1": ArtifactVersionFactory(artifact=artifact, version="1.0.0"),
            "v2": ArtifactVersionFactory(artifact=artifact, version="2.0.0", major=2),
            "p1": ProjectFactory(name="P1"),
            "p2": ProjectFactory(name="P2"),
        }


def _count(ctx, artifact):
    with ctx.context():
        return Artifact.objects.get(pk=artifact.pk).usage_count


def test_create_records_user_and_context_and_counts(admin, tenant_a, world):
    url = f"/api/v1/projects/{world['p1'].pk}/artifact-usages"
    response = admin.api.post(url, {"artifact_version": world["v1"].pk, "context": "baseline embeddings"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["project"], body["artifact"], body["version"]) == (world["p1"].pk, world["artifact"].pk, "1.0.0")
    assert (body["used_by"], body["used_by_username"]) == (admin.user_id, "admin")
    assert body["context"] == "baseline embeddings"
    assert _count(tenant_a, world["artifact"]) == 1
    project = admin.api.get(f"/api/v1/projects/{world['p1'].pk}").json()
    assert [(u["artifact_name"], u["version"]) for u in project["artifact_usages"]] == [("embedder", "1.0.0")]


def test_used_by_can_name_another_user(admin, tenant_a, world):
    colleague = member_actor(tenant_a, "colleague")
    url = f"/api/v1/projects/{world['p1'].pk}/artifact-usages"
    body = admin.api.post(url, {"artifact_version": world["v1"].pk, "used_by": colleague.user_id}).json()
    assert body["used_by_username"] == "colleague"


def test_duplicate_usage_is_400_and_count_unchanged(admin, tenant_a, world):
    url = f"/api/v1/projects/{world['p1'].pk}/artifact-usages"
    assert admin.api.post(url, {"artifact_version": world["v1"].pk}).status_code == 201
    duplicate = admin.api.post(url, {"artifact_version": world["v1"].pk})
    assert duplicate.status_code == 400
    assert duplicate.json()["errors"][0]["field"] == "artifact_version"
    assert admin.api.post(url, {"artifact_version": world["v2"].pk}).status_code == 201
    assert _count(tenant_a, world["artifact"]) == 2
    with tenant_a.context():
        assert ArtifactUsage.objects.filter(project=world["p1"]).count() == 2


def test_counts_follow_creates_and_deletes_exactly(admin, tenant_a, world):
    ids = []
    for project in (world["p1"], world["p2"]):
        for version in (world["v1"], world["v2"]):
            url = f"/api/v1/projects/{project.pk}/artifact-usages"
            ids.append((url, admin.api.post(url, {"artifact_version": version.pk}).json()["id"]))
    assert _count(tenant_a, world["artifact"]) == 4
    url, usage_id = ids[0]
    assert admin.api.delete(f"{url}/{usage_id}").status_code == 204
    assert admin.api.delete(f"{url}/{usage_id}").status_code == 404
    assert _count(tenant_a, world["artifact"]) == 3
    # deleting a project uncounts its usages
    assert admin.api.delete(f"/api/v1/projects/{world['p2'].pk}").status_code == 204
    assert _count(tenant_a, world["artifact"]) == 1
    with tenant_a.context():
        assert ArtifactUsage.objects.filter(artifact=world["artifact"]).count() == 1


def test_used_artifacts_and_versions_cannot_be_deleted(admin, tenant_a, world):
    url = f"/api/v1/projects/{world['p1'].pk}/artifact-usages"
    admin.api.post(url, {"artifact_version": world["v1"].pk})
    refused = admin.api.delete(f"/api/v1/artifacts/{world['artifact'].pk}")
    assert refused.status_code == 400 and "used by 1 project" in refused.json()["detail"]
    refused = admin.api.delete(f"/api/v1/artifacts/{world['artifact'].pk}/versions/{world['v1'].pk}")
    assert refused.status_code == 400
    assert admin.api.delete(f"/api/v1/artifacts/{world['artifact'].pk}/versions/{world['v2'].pk}").status_code == 204


def test_inactive_artifact_cannot_be_newly_used(admin, tenant_a, world):
    with tenant_a.context():
        Artifact.objects.filter(pk=world["artifact"].pk).update(is_active=False)
    response = admin.api.post(
        f"/api/v1/projects/{world['p1'].pk}/artifact-usages", {"artifact_version": world["v1"].pk}
    )
    assert response.status_code == 400 and "inactive" in response.json()["detail"]
    assert _count(tenant_a, world["artifact"]) == 0


def test_context_edit_and_library_wide_listing(admin, world):
    url = f"/api/v1/projects/{world['p1'].pk}/artifact-usages"
    usage = admin.api.post(url, {"artifact_version": world["v1"].pk}).json()
    admin.api.post(f"/api/v1/projects/{world['p2'].pk}/artifact-usages", {"artifact_version": world["v2"].pk})
    assert admin.api.patch(f"{url}/{usage['id']}", {"context": "now in prod"}).json()["context"] == "now in prod"
    listed = admin.api.get(f"/api/v1/artifact-usages?artifact={world['artifact'].pk}&ordering=id").json()["results"]
    assert [(u["project"], u["version"]) for u in listed] == [(world["p1"].pk, "1.0.0"), (world["p2"].pk, "2.0.0")]
    only_v2 = admin.api.get(f"/api/v1/artifact-usages?artifact_version={world['v2'].pk}").json()["results"]
    assert [u["project"] for u in only_v2] == [world["p2"].pk]
    assert admin.api.get(f"/api/v1/artifact-usages/{usage['id']}").json()["context"] == "now in prod"


def test_service_refuses_duplicates_without_counting(tenant_a, world):
    with tenant_a.context():
        artifact_usage_create(project=world["p1"], artifact_version=world["v1"], used_by=None)
        with pytest.raises(ValidationError):
            artifact_usage_create(project=world["p1"], artifact_version=world["v1"], used_by=None)
        assert Artifact.objects.get(pk=world["artifact"].pk).usage_count == 1


def test_safe_filename_and_content_type():
    assert safe_filename('evil"; filename=x.html') == "evil__ filename_x.html"
    assert safe_filename("a/b/\x00c\x1f.txt") == "_c_.txt"
    assert safe_filename("", default="fallback") == "fallback"
    assert len(safe_filename("x" * 500 + ".tar.gz")) == 200 and safe_filename("x" * 500 + ".tar.gz").endswith(".gz")
    assert safe_content_type("text/html; charset=utf-8", "a.html") == "text/html"
    assert safe_content_type("not a type", "table.csv") == "text/csv"
    assert safe_content_type(None, "blob") == "application/octet-stream"


def test_patch_is_partial_and_finds_the_usage_before_judging_the_body(admin, tenant_a, world):
    """The schema documents every field of the PATCH body as optional (fuzzing sent ``{}`` and got 400 "context:
    This field is required"): an empty PATCH keeps the usage as it is, and an unknown usage is 404 whatever the body."""
    url = f"/api/v1/projects/{world['p1'].pk}/artifact-usages"
    usage = admin.api.post(url, {"artifact_version": world["v1"].pk, "context": "baseline"}).json()
    response = admin.api.patch(f"{url}/{usage['id']}", {})
    assert response.status_code == 200, response.content
    assert response.json()["context"] == "baseline"
    with tenant_a.context():
        assert ArtifactUsage.objects.get(pk=usage["id"]).context == "baseline"
    assert admin.api.patch(f"{url}/{usage['id'] + 1000}", {}).status_code == 404
    assert admin.api.patch(f"{url}/{usage['id'] + 1000}", {"context": 5 * [1]}).status_code == 404
    refused = admin.api.patch(f"{url}/{usage['id']}", {"context": ["not", "text"]})
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "context"
