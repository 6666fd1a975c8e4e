"""Team members nested under a project."""

import pytest

from apps.projects.models import TeamMember
from tests.projects.factories import ProjectFactory, TeamMemberFactory
from tests.projects.helpers import member_actor

pytestmark = pytest.mark.django_db

VALID = {"display_name": "Ada", "role": "data_scientist", "experience_level": "senior", "years_experience": 8,
         "contribution_hours": 320.5, "performance_score": 91}  # fmt: skip


@pytest.fixture
def project(tenant_a):
    with tenant_a.context():
        return ProjectFactory(name="Team project")


def test_crud(admin, tenant_a, project):
    base = f"/api/v1/projects/{project.pk}/team-members"
    created = admin.api.post(base, VALID)
    assert created.status_code == 201, created.content
    member = created.json()
    assert member["project"] == project.pk and member["contribution_hours"] == 320.5
    assert [m["display_name"] for m in admin.api.get(base).json()["results"]] == ["Ada"]
    patched = admin.api.patch(f"{base}/{member['id']}", {"performance_score": None, "role": "mlops"}).json()
    assert patched["performance_score"] is None and patched["role"] == "mlops"
    detail = admin.api.get(f"/api/v1/projects/{project.pk}").json()
    assert [(m["display_name"], m["role"]) for m in detail["team_members"]] == [("Ada", "mlops")]
    assert admin.api.delete(f"{base}/{member['id']}").status_code == 204
    with tenant_a.context():
        assert not TeamMember.objects.filter(project=project).exists()


def test_linked_user_gives_the_default_display_name(admin, tenant_a, project):
    other = member_actor(tenant_a, "grace")
    body = admin.api.post(
        f"/api/v1/projects/{project.pk}/team-members",
        {"user": other.user_id, "role": "ml_engineer", "experience_level": "staff"},
    ).json()
    assert (body["display_name"], body["username"]) == ("grace", "grace")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"years_experience": -1}, "years_experience"),
        ({"years_experience": 61}, "years_experience"),
        ({"contribution_hours": -0.5}, "contribution_hours"),
        ({"performance_score": 100.5}, "performance_score"),
        ({"performance_score": -3}, "performance_score"),
        ({"role": "wizard"}, "role"),
        ({"experience_level": "godlike"}, "experience_level"),
        ({"display_name": ""}, "display_name"),
        ({"user": 987654}, "user"),
    ],
)
def test_every_range_is_validated(admin, tenant_a, project, change, field):
    response = admin.api.post(f"/api/v1/projects/{project.pk}/team-members", {**VALID, **change})
    assert response.status_code == 400
    assert field in {error["field"] for error in response.json()["errors"]}, response.json()
    with tenant_a.context():
        assert not TeamMember.objects.filter(project=project).exists()


def test_unknown_project_is_404(admin):
    assert admin.api.get("/api/v1/projects/999999/team-members").status_code == 404
    assert admin.api.post("/api/v1/projects/999999/team-members", VALID).status_code == 404


def test_members_of_another_project_are_not_reachable_through_this_one(admin, tenant_a, project):
    with tenant_a.context():
        stranger = TeamMemberFactory(display_name="Elsewhere")
    assert admin.api.get(f"/api/v1/projects/{project.pk}/team-members/{stranger.pk}").status_code == 404
    assert admin.api.get(f"/api/v1/projects/{project.pk}/team-members").json()["results"] == []


def test_filter_by_role(admin, tenant_a, project):
    with tenant_a.context():
        TeamMemberFactory(project=project, display_name="A", role="analyst")
        TeamMemberFactory(project=project, display_name="B", role="mlops")
    results = admin.api.get(f"/api/v1/projects/{project.pk}/team-members?role=mlops").json()["results"]
    assert [m["display_name"] for m in results] == ["B"]
