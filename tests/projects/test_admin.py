"""The tenant admin for projects and the artifact library goes through the services."""

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.artifacts.models import Artifact, ArtifactUsage, ArtifactVersion
from apps.artifacts.services import artifact_usage_create, artifact_version_create
from apps.projects.models import Project, ScoringSettings
from tests.artifacts.factories import ArtifactFactory
from tests.projects.factories import ProjectFactory, TeamMemberFactory

pytestmark = pytest.mark.django_db

INLINE_MGMT = {
    "team_members-TOTAL_FORMS": "1", "team_members-INITIAL_FORMS": "0",
    "artifact_usages-TOTAL_FORMS": "0", "artifact_usages-INITIAL_FORMS": "0",
}  # fmt: skip


@pytest.fixture
def admin_client(tenant_a):
    client = tenant_a.client()
    with tenant_a.context():
        client.force_login(get_user_model().objects.get(username=tenant_a.admin_username))
    return client


@pytest.fixture
def seeded(tenant_a):
    with tenant_a.context():
        project = ProjectFactory(name="Admin project", tags=["x"])
        TeamMemberFactory(project=project, display_name="Linus")
        artifact = ArtifactFactory(name="admin-artifact")
        version = artifact_version_create(
            artifact=artifact, version="1.0.0", file=SimpleUploadedFile("a.txt", b"admin bytes"), user=None
        )
        artifact_usage_create(project=project, artifact_version=version, used_by=None)
    return {"project": project, "artifact": artifact, "version": version}


@pytest.mark.parametrize(
    "path",
    [
        "/admin/projects/project/?q=Admin&status__exact=active",
        "/admin/projects/teammember/?q=Linus",
        "/admin/artifacts/artifact/?q=admin&type__exact=feature_pipeline",
        "/admin/artifacts/artifactversion/?q=1.0.0",
        "/admin/artifacts/artifactusage/",
        "/admin/artifacts/artifactblob/",
        "/admin/projects/scoringsettings/",
    ],
)
def test_changelists_render_with_search_and_filters(admin_client, seeded, path):
    response = admin_client.get(path)
    assert response.status_code == 200
    if "q=" in path:
        assert "0 results" not in response.content.decode()


def test_change_pages_render_with_inlines(admin_client, seeded):
    page = admin_client.get(f"/admin/projects/project/{seeded['project'].pk}/change/").content.decode()
    assert "Linus" in page and "admin-artifact" in page
    page = admin_client.get(f"/admin/artifacts/artifact/{seeded['artifact'].pk}/change/").content.decode()
    assert "1.0.0" in page and "Usage count" in page


def test_adding_a_project_generates_the_slug_and_saves_the_team(admin_client, tenant_a):
    response = admin_client.post(
        "/admin/projects/project/add/",
        {"name": "From admin", "slug": "", "status": "planned", "problem_class": "nlp", "complexity_score": 30,
         "visibility": "tenant", "tags": "a,b", **INLINE_MGMT,
         "team_members-0-display_name": "Ada", "team_members-0-role": "analyst",
         "team_members-0-experience_level": "mid", "team_members-0-years_experience": 3,
         "team_members-0-contribution_hours": 10},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[-3000:]
    with tenant_a.context():
        project = Project.objects.get(name="From admin")
        assert project.slug == "from-admin" and project.tags == ["a", "b"]
        assert list(project.team_members.values_list("display_name", flat=True)) == ["Ada"]


def test_completing_without_outcome_in_admin_is_a_form_error(admin_client, tenant_a, seeded):
    project = seeded["project"]
    response = admin_client.post(
        f"/admin/projects/project/{project.pk}/change/",
        {"name": project.name, "slug": project.slug, "status": "completed", "problem_class": project.problem_class,
         "complexity_score": 50, "visibility": "tenant", "tags": "x", "model_performance": "0.5",
         "team_members-TOTAL_FORMS": "0", "team_members-INITIAL_FORMS": "0",
         "artifact_usages-TOTAL_FORMS": "1", "artifact_usages-INITIAL_FORMS": "1"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "To complete the project, enter its success score" in response.content.decode()
    with tenant_a.context():
        assert Project.objects.get(pk=project.pk).status == "active"


def test_deleting_a_project_in_admin_uncounts_its_usages(admin_client, tenant_a, seeded):
    response = admin_client.post(f"/admin/projects/project/{seeded['project'].pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    with tenant_a.context():
        assert Artifact.objects.get(pk=seeded["artifact"].pk).usage_count == 0


def test_used_artifacts_cannot_be_deleted_in_admin(admin_client, tenant_a, seeded):
    assert admin_client.get(f"/admin/artifacts/artifact/{seeded['artifact'].pk}/delete/").status_code == 403
    admin_client.post(
        "/admin/artifacts/artifact/",
        {"action": "delete_selected", "_selected_action": [seeded["artifact"].pk], "post": "yes"},
    )
    with tenant_a.context():
        assert Artifact.objects.filter(pk=seeded["artifact"].pk).exists()
        assert ArtifactVersion.objects.filter(pk=seeded["version"].pk).exists()


def test_scoring_settings_admin_saves_the_single_row(admin_client, tenant_a):
    response = admin_client.post(
        "/admin/projects/scoringsettings/add/",
        {"w_model_performance": 1, "w_business_impact": 1, "w_cost_efficiency": 1, "cost_reference": 100,
         "min_components": 3},
    )  # fmt: skip
    assert response.status_code == 302
    with tenant_a.context():
        row = ScoringSettings.objects.get()
        assert (row.pk, row.cost_reference, row.min_components) == (1, 100, 3)


def test_artifact_admin_creates_through_the_service_and_ignores_counters(admin_client, tenant_a):
    response = admin_client.post(
        "/admin/artifacts/artifact/add/",
        {"name": "from-admin", "type": "prompt", "description": "", "tags": "LLM", "is_active": "on",
         "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0", "usage_count": "99"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[-2000:]
    with tenant_a.context():
        artifact = Artifact.objects.get(name="from-admin")
        assert (artifact.tags, artifact.usage_count, artifact.owner_id) == (["llm"], 0, None)


def test_version_and_usage_admin_edit_and_delete_through_the_services(admin_client, tenant_a, seeded):
    version, artifact = seeded["version"], seeded["artifact"]
    response = admin_client.post(
        f"/admin/artifacts/artifactversion/{version.pk}/change/", {"changelog": "Edited in admin"}
    )
    assert response.status_code == 302
    with tenant_a.context():
        usage = ArtifactUsage.objects.get(artifact_version=version)
        assert ArtifactVersion.objects.get(pk=version.pk).changelog == "Edited in admin"
    usage_url = f"/admin/artifacts/artifactusage/{usage.pk}"
    assert admin_client.post(f"{usage_url}/change/", {"context": "note"}).status_code == 302
    assert admin_client.post(f"/admin/artifacts/artifactusage/{usage.pk}/delete/", {"post": "yes"}).status_code == 302
    with tenant_a.context():
        assert Artifact.objects.get(pk=artifact.pk).usage_count == 0
    response = admin_client.post(
        "/admin/artifacts/artifactversion/",
        {"action": "delete_selected", "_selected_action": [version.pk], "post": "yes"},
    )
    assert response.status_code == 302
    response = admin_client.post(
        "/admin/artifacts/artifact/", {"action": "delete_selected", "_selected_action": [artifact.pk], "post": "yes"}
    )
    with tenant_a.context():
        assert not Artifact.objects.filter(pk=artifact.pk).exists()


def test_another_tenants_admin_sees_none_of_these_rows(tenant_b, seeded):
    client = tenant_b.client()
    with tenant_b.context():
        client.force_login(get_user_model().objects.get(username=tenant_b.admin_username))
    for path in ("/admin/projects/project/", "/admin/artifacts/artifact/", "/admin/artifacts/artifactversion/"):
        page = client.get(path).content.decode()
        assert "Admin project" not in page and "admin-artifact" not in page, path
    assert client.get(f"/admin/projects/project/{seeded['project'].pk}/change/").status_code in (302, 404)
