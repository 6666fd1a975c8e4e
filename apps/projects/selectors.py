"""Reads on projects, teams and scoring settings.

Every selector takes the acting ``user``. Projects and team members go through ``apps.access.selectors.scope``, the
one permission gate: a user sees the projects visible to the whole tenant, those they own or are on the team of, and
those they hold an object grant on (owners and admins see all). Scoring settings and project attribute definitions
are tenant-wide: their selectors return them unscoped. Every queryset is ordered.
"""

from __future__ import annotations

import functools

from django.db.models import OuterRef, QuerySet
from django.db.models.functions import JSONObject
from django.db.models.sql import Query

from apps.access.selectors import scope
from apps.accounts.models import User
from apps.artifacts.models import ArtifactUsage
from apps.artifacts.selectors import ARTIFACT_USAGE_ROW
from apps.projects.models import Project, ProjectAttribute, ScoringSettings, TeamMember
from maestro.db import CompiledOnceArraySubquery, CompiledOnceSubquery

# A team member row of the project representation: output key → ORM path. The list reads such rows as JSON arrays
# built by PostgreSQL in the page query itself; single objects resolve the same paths on model instances
# (maestro.api.representation.resolve_row). ARTIFACT_USAGE_ROW is its artifact-usage counterpart.
TEAM_MEMBER_ROW = {
    "id": "id",
    "project": "project_id",
    "user": "user_id",
    "username": "user__username",
    "display_name": "display_name",
    "role": "role",
    "experience_level": "experience_level",
    "years_experience": "years_experience",
    "contribution_hours": "contribution_hours",
    "performance_score": "performance_score",
}


@functools.cache
def _base_query(owner: bool) -> Query:
    """The list's query before any per-request narrowing, built once per process: the owner (joined, or only the
    username as a subquery), the team and artifact usages as JSON arrays, the ordering. Building it took ~1.2 ms per
    request and compiling its subqueries ~1.9 ms; built once, its resolved subqueries are shared by every clone and
    compile once (``CompiledOnceArraySubquery``). Only a ``Query`` is cached, never a ``QuerySet``: results live on
    querysets, so nothing of one request (or tenant) can stay behind in it. The SQL names no schema."""
    queryset = Project.objects.all()
    if owner:
        queryset = queryset.select_related("owner")
    else:
        username = User.objects.filter(pk=OuterRef("owner_id")).order_by().values("username")[:1]
        queryset = queryset.annotate(owner_username=CompiledOnceSubquery(username))
    team = TeamMember.objects.filter(project_id=OuterRef("pk")).order_by("id")
    usages = ArtifactUsage.objects.filter(project_id=OuterRef("pk")).order_by("-used_at", "-id")
    return (
        queryset.annotate(
            team_json=CompiledOnceArraySubquery(team.values(row=JSONObject(**TEAM_MEMBER_ROW))),
            usages_json=CompiledOnceArraySubquery(usages.values(row=JSONObject(**ARTIFACT_USAGE_ROW))),
        )
        .order_by("-created_at", "-id")
        .query
    )


def project_list(*, user: User, owner: bool = True) -> QuerySet[Project]:
    """Projects visible to ``user``, newest first, with the owner joined and the team and artifact usages as JSON
    arrays (``team_json``, ``usages_json``) built by PostgreSQL inside the same query. With ``owner=False`` only the
    owner's ``owner_username`` is annotated instead of the whole user row (the API's representation needs no more,
    and loading 50 users costs about 1.5 ms per page). It is a correlated subquery, not a join: a query that reads
    only ids (the paginator's late row lookup, its count) then carries no join, and PostgreSQL can answer it with an
    index-only scan — a join, even one the planner removes, still needs ``owner_id`` from the table (measured: ids at
    offset 9,950 of ``status=active&ordering=-complexity_score`` took 10 ms with the join, 3.6 ms without).

    One statement instead of a page query plus two prefetches: every statement is a round trip (two when
    django-tenants still set ``search_path`` before each), and prefetching cost more CPU than the rest of the list
    (bench/projects_list.py).
    Counting must not carry the annotations: count ``.values("pk")`` (the project list's paginator does)."""
    return scope(QuerySet(model=Project, query=_base_query(owner).chain()), user=user)


def project_get(*, user: User, pk: int) -> Project:
    """One project visible to ``user`` (Project.DoesNotExist otherwise)."""
    return project_list(user=user).get(pk=pk)


def team_member_list(*, user: User, project: Project) -> QuerySet[TeamMember]:
    return scope(TeamMember.objects.filter(project=project), user=user).select_related("user").order_by("id")


def cost_unit() -> str:
    """The unit compute costs are counted in ("cost units" until an admin names it in the scoring settings)."""
    return ScoringSettings.objects.filter(pk=1).values_list("cost_unit", flat=True).first() or "cost units"


def scoring_settings_get(*, user: User) -> ScoringSettings:
    """The tenant's scoring settings; the defaults (unsaved) until an admin changes them."""
    return ScoringSettings.objects.filter(pk=1).first() or ScoringSettings(pk=1)


def project_attribute_list() -> QuerySet[ProjectAttribute]:
    """The tenant's project attribute definitions (everyone in the tenant may read them)."""
    return ProjectAttribute.objects.order_by("key")
