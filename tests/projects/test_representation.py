"""The hand-written list representations produce exactly what DRF's generic field machinery would."""

from datetime import date

import pytest
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from apps.artifacts.serializers import ArtifactUsageSerializer
from apps.artifacts.services import artifact_usage_create
from apps.projects import selectors
from apps.projects.api.serializers import ProjectSerializer, TeamMemberSerializer
from apps.projects.services import project_create, team_member_create
from tests.artifacts.factories import ArtifactVersionFactory
from tests.projects.factories import UserFactory

pytestmark = pytest.mark.django_db


def _generic(serializer_class, instance) -> bytes:
    return JSONRenderer().render(serializers.ModelSerializer.to_representation(serializer_class(), instance))


def _fast(serializer_class, instance) -> bytes:
    return JSONRenderer().render(serializer_class(instance).data)


def test_fast_representations_equal_the_generic_ones(tenant_a):
    with tenant_a.context():
        user = UserFactory(username="rep-user")
        fresh = project_create(
            user=user,
            data={"name": "Rep", "status": "completed", "model_performance": 1, "business_impact": 50,
                  "compute_cost": 2500, "start_date": date(2026, 1, 2), "tags": ["A", "b"], "spec": "s"},
        )  # fmt: skip
        bare = project_create(user=None, data={"name": "Bare"})
        member = team_member_create(project=fresh, data={"user": user, "role": "analyst", "experience_level": "mid",
                                                          "years_experience": 3, "contribution_hours": 7})  # fmt: skip
        team_member_create(project=fresh, data={"display_name": "No user", "role": "mlops", "experience_level": "staff",
                                                "performance_score": 88.5})  # fmt: skip
        usage = artifact_usage_create(project=fresh, artifact_version=ArtifactVersionFactory(), used_by=user,
                                      context="ctx")  # fmt: skip
        artifact_usage_create(project=fresh, artifact_version=ArtifactVersionFactory(), used_by=None)

        # straight from the services (values as the client sent them) and as loaded by the selector
        for instance in (member, *selectors.team_member_list(user=user, project=fresh)):
            assert _fast(TeamMemberSerializer, instance) == _generic(TeamMemberSerializer, instance)
        for instance in (usage, *selectors.project_get(user=user, pk=fresh.pk).usages):
            assert _fast(ArtifactUsageSerializer, instance) == _generic(ArtifactUsageSerializer, instance)
        for instance in (fresh, bare, *selectors.project_list(user=user).filter(pk__in=[fresh.pk, bare.pk])):
            assert _fast(ProjectSerializer, instance) == _generic(ProjectSerializer, instance)
        loaded = selectors.project_get(user=user, pk=fresh.pk)
        assert set(ProjectSerializer(loaded).data) == set(ProjectSerializer().fields)
        assert ProjectSerializer(loaded).data["compute_cost"] == 2500
        assert len(ProjectSerializer(loaded).data["team_members"]) == 2
