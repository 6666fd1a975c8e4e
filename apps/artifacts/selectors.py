"""Reads on the artifact library. Each selector takes the acting ``user`` and narrows with
``apps.access.selectors.scope``, the one permission gate: artifacts and their versions are an open library (everyone
in the tenant reads them), usages follow the visibility of the project that used them. Ordered."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.access.selectors import scope
from apps.accounts.models import User
from apps.artifacts.models import Artifact, ArtifactUsage, ArtifactVersion

# An artifact usage as nested in the project representation: output key → ORM path (see projects.selectors).
ARTIFACT_USAGE_ROW = {
    "id": "id",
    "project": "project_id",
    "artifact": "artifact_id",
    "artifact_name": "artifact_version__artifact__name",
    "artifact_version": "artifact_version_id",
    "version": "artifact_version__version",
    "used_at": "used_at",
    "used_by": "used_by_id",
    "used_by_username": "used_by__username",
    "context": "context",
}


def artifact_list(*, user: User) -> QuerySet[Artifact]:
    return scope(Artifact.objects.all(), user=user).select_related("owner").order_by("name", "id")


def artifact_version_list(*, user: User, artifact: Artifact | None = None) -> QuerySet[ArtifactVersion]:
    """Versions, highest semantic version first (a release before its pre-releases)."""
    qs = scope(ArtifactVersion.objects.all(), user=user).select_related("artifact", "blob", "created_by")
    if artifact is not None:
        qs = qs.filter(artifact=artifact)
    return qs.order_by("artifact_id", "-major", "-minor", "-patch", "prerelease", "-id")


def artifact_usage_list(*, user: User) -> QuerySet[ArtifactUsage]:
    return (
        scope(ArtifactUsage.objects.all(), user=user)
        .select_related("project", "artifact_version__artifact", "used_by")
        .order_by("-used_at", "-id")
    )
