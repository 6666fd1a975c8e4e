"""Reads on projects, teams and scoring settings.

Every selector takes the acting ``user``: it is the one place a permission gate will narrow what a user may see
(object permissions come with the access-control work). Today every user of a tenant sees all of the tenant's rows —
the schema already confines them to the tenant. Every queryset is ordered.
"""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from apps.accounts.models import User
from apps.projects.models import Project, ScoringSettings, TeamMember


def project_list(*, user: User) -> QuerySet[Project]:
    """Projects visible to ``user``, newest first, with owner, team and artifact usages loaded in bounded queries.

    The prefetches land in plain lists (``to_attr``; read them through ``Project.team``/``Project.usages``): Django's
    default prefetch builds a related-manager queryset per row, a third of the list endpoint's CPU time."""
    from apps.artifacts.models import ArtifactUsage

    usages = ArtifactUsage.objects.select_related("artifact_version__artifact", "used_by").order_by("-used_at", "-id")
    return (
        Project.objects.select_related("owner")
        .prefetch_related(
            Prefetch(
                "team_members",
                queryset=TeamMember.objects.select_related("user").order_by("id"),
                to_attr="prefetched_team_members",
            ),
            Prefetch("artifact_usages", queryset=usages, to_attr="prefetched_artifact_usages"),
        )
        .order_by("-created_at", "-id")
    )


def project_get(*, user: User, pk: int) -> Project:
    """One project visible to ``user`` (Project.DoesNotExist otherwise)."""
    return project_list(user=user).get(pk=pk)


def team_member_list(*, user: User, project: Project) -> QuerySet[TeamMember]:
    return TeamMember.objects.filter(project=project).select_related("user").order_by("id")


def scoring_settings_get(*, user: User) -> ScoringSettings:
    """The tenant's scoring settings; the defaults (unsaved) until an admin changes them."""
    return ScoringSettings.objects.filter(pk=1).first() or ScoringSettings(pk=1)
