"""Factories for runs and metrics tests. Create objects inside the tenant's schema (``with ctx.context():``)."""

from __future__ import annotations

import factory
from django.utils import timezone

from apps.metrics.models import Run
from apps.projects.models import Project


class ProjectFactory(factory.django.DjangoModelFactory):
    """Projects are built directly here (the projects API is another area's); only what runs need."""

    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")


class RunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Run

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"run-{n}")
    start_time = factory.LazyFunction(timezone.now)


def points(key: str, values, *, start_step: int = 0, timestamp: int = 1_700_000_000_000) -> list[dict]:
    """Batch items for ``values`` at consecutive steps."""
    return [
        {"key": key, "value": value, "step": start_step + i, "timestamp": timestamp + i}
        for i, value in enumerate(values)
    ]
