"""The one proposal service behind POST /api/v1/recommendations and the what-if page (services/proposals.py):
validation names the field, a project fills what the body omits, and another tenant's project does not exist."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.http import Http404
from rest_framework.exceptions import ValidationError

from apps.projects.models import Project, TeamMember
from apps.recommendations.services import proposal_build

pytestmark = pytest.mark.django_db


def _project(spec: str) -> Project:
    project = Project.objects.create(name="Churn", slug="churn", spec=spec, problem_class="regression",
                                     complexity_score=40)  # fmt: skip
    TeamMember.objects.create(project=project, display_name="P", role="data_scientist", experience_level="senior",
                              years_experience=6, contribution_hours=200)  # fmt: skip
    return project


def _admin(ctx):
    return get_user_model().objects.get(username=ctx.admin_username)


def test_a_proposal_takes_what_the_body_omits_from_its_project(tenant_a):
    with tenant_a.context():
        project = _project("Predict churn from usage logs.")
        proposal = proposal_build(user=_admin(tenant_a), data={"project_id": project.pk, "complexity_score": 70})
    assert (proposal.project, proposal.spec, proposal.problem_class) == (project, project.spec, "regression")
    assert proposal.complexity == 70  # given in the body
    assert [(m.role, m.level) for m in proposal.members] == [("data_scientist", "senior")]


def test_bad_bodies_and_a_project_without_a_spec_are_refused_naming_the_field(tenant_a):
    with tenant_a.context():
        user = _admin(tenant_a)
        with pytest.raises(ValidationError) as missing:
            proposal_build(user=user, data={"spec": "Forecast demand."})
        assert set(missing.value.detail) == {"problem_class", "complexity_score"}
        blank = _project("  ")
        with pytest.raises(ValidationError) as no_spec:
            proposal_build(user=user, data={"project_id": blank.pk})
        assert str(no_spec.value.detail["spec"]) == "The project has no spec; send one."


def test_another_tenants_project_is_not_found(tenant_a, tenant_b):
    with tenant_a.context():
        project_id = _project("Predict churn from usage logs.").pk
    with tenant_b.context():
        assert not Project.objects.filter(pk=project_id).exists()
        with pytest.raises(Http404):
            proposal_build(user=_admin(tenant_b), data={"project_id": project_id})
