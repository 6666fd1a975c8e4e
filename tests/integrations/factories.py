"""factory_boy factories for integrations (use inside a tenant's ``ctx.context()``)."""

from __future__ import annotations

from datetime import UTC, datetime

import factory

from apps.integrations.choices import CiOutcome, Provider, PullRequestState
from apps.integrations.models import CiRun, Commit, Integration, PullRequest
from apps.integrations.services import integration_create
from apps.projects.models import Project


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Delivery project {n}")
    slug = factory.Sequence(lambda n: f"delivery-project-{n}")


def make_integration(project, provider=Provider.GITHUB, *, name="acme/churn-model", created_at=None, user=None):
    """An integration through the service (so it has a real secret); returns (integration, secret).
    ``created_at`` back-dates it, e.g. so that a past period counts as observed."""
    created = integration_create(user=user, project=project, provider=provider, name=name)
    if created_at is not None:
        Integration.objects.filter(pk=created.integration.pk).update(created_at=created_at)
        created.integration.refresh_from_db()
    return created.integration, created.secret


class CommitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Commit

    project = factory.LazyAttribute(lambda commit: commit.integration.project)
    sha = factory.Sequence(lambda n: f"{n:040x}")
    author_key = "alice@acme.test"
    author_name = "Alice"
    authored_at = factory.LazyFunction(lambda: datetime(2026, 3, 2, tzinfo=UTC))


class PullRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PullRequest

    project = factory.LazyAttribute(lambda pr: pr.integration.project)
    number = factory.Sequence(lambda n: n + 1)
    state = PullRequestState.OPEN
    opened_at = factory.LazyFunction(lambda: datetime(2026, 3, 2, tzinfo=UTC))
    snapshot_at = factory.LazyAttribute(lambda pr: pr.opened_at)
    snapshot_rank = 1


class CiRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CiRun

    project = factory.LazyAttribute(lambda run: run.integration.project)
    run_key = factory.Sequence(lambda n: f"workflow_run:{n}")
    outcome = CiOutcome.SUCCESS
    raw_status = "success"
    finished_at = factory.LazyFunction(lambda: datetime(2026, 3, 2, tzinfo=UTC))
    duration_seconds = 60.0
