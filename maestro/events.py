"""Outbound events: the registry of what can happen in a tenant, and ``emit`` for the services where it happens.

Domain and engine services (runs, projects, artifacts, the model registry) must tell others when something happens
— a run finished, a model was promoted — without knowing who listens: the webhooks and the notification bell live in
a higher layer (``apps.webhooks``), which the domain may not import. So the framework keeps the vocabulary
(``EVENT_TYPES``) and a list of handlers that higher apps register at start-up (``register_handler`` in
``AppConfig.ready``); a service calls ``emit("run.finished", payload=..., project_id=...)`` and is done.

Handlers run **inside the caller's transaction** rather than after it commits: they record the event durably (a
transactional outbox), so an event exists if and only if the change that caused it committed — a rolled-back
change emits nothing, and a process dying right after the commit loses nothing. Handlers defer every side effect
(sending a Celery task, a network call) to ``transaction.on_commit`` themselves. Each handler runs in a savepoint:
one that fails (database error or bug) is
logged and never fails the caller's write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name

logger = logging.getLogger("maestro.events")

# name → what it means (the events table of docs/webhooks.md and the API's choices are built from this).
EVENT_TYPES: dict[str, str] = {
    "run.finished": "A run's status changed to finished (API, dashboard or MLflow update-run).",
    "run.failed": "A run's status changed to failed.",
    "model.trained": "A retraining stored a new success-model version (promoted or not).",
    "model.promoted": "A model version became the active one (automatically after training, or by hand).",
    "model.rolled_back": "The active model was rolled back to the version active before it.",
    "training.failed": "A retraining run failed with an error.",
    "prediction.accuracy_dropped": "The active model's recent prediction error crossed the documented threshold "
    "(rolling MAE of its last N scored predictions above its cross-validated MAE × ratio); once per crossing.",
    "artifact.version_created": "A new version of a library artifact was added.",
    "project.completed": "A project was completed (its outcome and success score recorded).",
}


@dataclass(frozen=True)
class Event:
    """One occurrence, as handed to handlers. ``project_id`` names the project it concerns (None for tenant-wide
    events such as model promotions); ``schema`` is the tenant's schema the emitting connection was in."""

    type: str
    payload: dict[str, Any]
    project_id: int | None
    schema: str
    occurred_at: datetime = field(default_factory=timezone.now)


Handler = Callable[[Event], None]
_HANDLERS: list[Handler] = []


def register_handler(handler: Handler) -> None:
    """Call ``handler(event)`` for every emitted event (once per handler, however often registered)."""
    if handler not in _HANDLERS:
        _HANDLERS.append(handler)


def unregister_handler(handler: Handler) -> None:
    if handler in _HANDLERS:
        _HANDLERS.remove(handler)


class UnknownEventType(ValueError):
    """A service emitted a type missing from ``EVENT_TYPES`` (a programming error, raised at once)."""


def emit(event_type: str, *, payload: dict[str, Any], project_id: int | None = None) -> None:
    """Tell every registered handler that ``event_type`` happened in the current tenant. Outside a tenant schema
    (the platform's public schema) nothing is emitted: events belong to a tenant."""
    if event_type not in EVENT_TYPES:
        raise UnknownEventType(f"Unknown event type '{event_type}'; add it to maestro.events.EVENT_TYPES.")
    schema = getattr(connection, "schema_name", None)
    if not schema or schema == get_public_schema_name():
        return
    event = Event(type=event_type, payload=payload, project_id=project_id, schema=schema)
    for handler in list(_HANDLERS):
        try:
            with transaction.atomic():
                handler(event)
        except Exception:  # a listener's failure must never fail the change that happened
            logger.exception("event_not_recorded", extra={"event_type": event_type, "schema": schema})
