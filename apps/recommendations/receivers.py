"""The engine's subscriptions to domain events, connected in ``RecommendationsConfig.ready``.

The projects app announces each project write (``apps.projects.signals.project_written``) instead of calling the
engine, which sits above it in the layer map. Keeping the engine in step is this module's job: a changed spec is
re-embedded (the run is queued now and sent to the worker on commit) and a completed project's actual outcome is
recorded on its predictions after the write commits. Reconciliation (``services.reconcile``) repairs both if either
is lost, so nothing depends on these calls alone.
"""

from __future__ import annotations

from functools import partial

from django.db import transaction

from apps.recommendations.services import embedding_schedule_for_project, prediction_record_outcome


def on_project_written(sender, *, project_id: int, completed: bool, **kwargs) -> None:
    embedding_schedule_for_project(project_id)
    if completed:
        transaction.on_commit(partial(prediction_record_outcome, project_id))
