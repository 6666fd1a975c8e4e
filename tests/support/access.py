"""Helpers for access-control tests: a user (or service account) per matrix principal, with a token."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from apps.access.policy import SERVICE
from apps.accounts.services import token_create, user_create
from apps.audit.models import AuditEvent

_counter = itertools.count(1)


@dataclass
class Principal:
    user: object
    token: str
    principal: str
    scope: str


def make_principal(ctx, principal: str, *, scope: str = "admin", username: str | None = None) -> Principal:
    """A user of ``ctx``'s tenant in the matrix column ``principal`` with a token of ``scope``."""
    username = username or f"{principal}-{scope}-{next(_counter)}"
    with ctx.context():
        if principal == SERVICE:
            user = user_create(username=username, role="member", is_service_account=True)
        else:
            user = user_create(username=username, email=f"{username}@{ctx.schema}.test", role=principal)
        created = token_create(user=user, name=f"{username}-token", scope=scope)
    return Principal(user=user, token=created.plaintext, principal=principal, scope=scope)


def denied_events(ctx) -> int:
    with ctx.context():
        return AuditEvent.objects.filter(action="access.denied").count()


def make_project(name: str, *, owner=None, visibility: str = "private", team=()):
    """A project (inside the current schema) with optional team members linked to users."""
    from apps.projects.models import Project, TeamMember

    project = Project.objects.create(name=name, slug=name.lower().replace(" ", "-"), owner=owner, visibility=visibility)
    for user in team:
        TeamMember.objects.create(
            project=project, user=user, display_name=user.username, role="ml_engineer", experience_level="mid"
        )
    return project


def make_run_with_metric(project, key: str = "loss"):
    from django.utils import timezone

    from apps.metrics.models import MetricPoint, Run

    run = Run.objects.create(project=project, name=f"{project.slug}-run", start_time=timezone.now())
    MetricPoint.objects.create(run=run, key=key, value=0.5, step=1, timestamp=1)
    return run


def make_artifact(name: str, *, owner=None):
    from apps.artifacts.models import Artifact, ArtifactVersion

    artifact = Artifact.objects.create(name=name, type="dataset", owner=owner)
    version = ArtifactVersion.objects.create(artifact=artifact, version="1.0.0")
    return artifact, version
