"""Shared helpers of the webhook tests: subscriptions, events from the real services, the docs' recipe."""

from __future__ import annotations

import re
from pathlib import Path

from django.utils import timezone

from apps.metrics.models import Run
from apps.metrics.services import run_update
from apps.projects.models import Project
from apps.webhooks import services
from apps.webhooks.models import Delivery

DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def readme_verify():
    """The ``verify`` function exactly as the "Verifying a delivery" paragraph of docs/webhooks.md prints it."""
    text = DOCS_PAGE.read_text()
    section = text[text.index("**Verifying a delivery.**") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "docs/webhooks.md (verify recipe)", "exec"), namespace)
    return namespace["verify"]


def subscribe(url: str, event_types=("run.finished",), **data):
    return services.subscription_create(
        user=None, data={"name": data.pop("name", "hook"), "url": url, "event_types": list(event_types), **data}
    )


def project(name: str = "Hooked", **fields) -> Project:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return Project.objects.create(name=name, slug=slug, **{"visibility": "tenant", **fields})


def finish_run(project_obj: Project, name: str = "run-1", status: str = "finished") -> Run:
    """A run created running and moved to ``status`` through the real service (which emits the event)."""
    run = Run.objects.create(project=project_obj, name=name, start_time=timezone.now())
    return run_update(run=run, status=status)


def deliveries(**filters) -> list[Delivery]:
    return list(Delivery.objects.filter(**filters).select_related("event", "subscription").order_by("id"))
