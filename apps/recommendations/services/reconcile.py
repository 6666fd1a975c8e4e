"""Periodic reconciliation of one tenant (Celery beat, every ``RECOMMENDATIONS_RECONCILE_SECONDS``).

It heals whatever a lost message, a stopped worker or a broker outage left behind, so no work depends on a single
send succeeding:

1. runs stuck in ``running`` past ``RECOMMENDATIONS_RUN_TIMEOUT_SECONDS`` are marked failed; younger running runs
   whose worker died (nobody holds their lock) are queued again, to run on the next worker;
2. queued runs that were never sent (broker down) or not started long after sending are sent again;
3. missing or stale embeddings (spec hash or model changed, blank spec still embedded) get one embeddings run;
4. completed projects whose predictions lack the actual outcome get it recorded;
5. a retraining is queued when there are enough completed projects and either no model exists, the active one was
   trained before the skill gate existed (it has no gate result, so it cannot serve), or at least
   ``RECOMMENDATIONS_RETRAIN_AFTER_NEW_OUTCOMES`` completed projects changed since the last training attempt;
6. impact is recomputed when the active model has none (e.g. after a lost impact run).
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from apps.artifacts.models import Artifact
from apps.recommendations import dataset
from apps.recommendations.choices import ModelStatus, RunKind, RunReason, RunStatus
from apps.recommendations.models import ArtifactImpact, SuccessModel, TrainingRun
from apps.recommendations.services.embeddings import embeddings_request_stale
from apps.recommendations.services.predictions import predictions_reconcile_outcomes
from apps.recommendations.services.runs import run_request, runs_fail_lost, runs_redispatch, runs_requeue_orphaned

PENDING = [RunStatus.QUEUED, RunStatus.RUNNING]


def _new_outcomes_since_last_training() -> tuple[int, bool]:
    """(completed projects changed since the last training attempt, whether a model exists)."""
    latest = SuccessModel.objects.aggregate(t=Max("trained_at"))["t"]
    attempt = TrainingRun.objects.filter(
        kind=RunKind.TRAIN, status__in=[RunStatus.SUCCEEDED, RunStatus.SKIPPED]
    ).aggregate(t=Max("started_at"))["t"]
    since = max((t for t in (latest, attempt) if t is not None), default=None)
    completed = dataset.completed_projects()
    return (completed.filter(updated_at__gt=since).count() if since else completed.count()), latest is not None


def reconcile() -> dict:
    """Run every reconciliation step for the current tenant; returns what was done."""
    summary: dict = {
        "lost_runs_failed": runs_fail_lost(older_than_seconds=settings.RECOMMENDATIONS_RUN_TIMEOUT_SECONDS),
        "orphaned_runs_requeued": runs_requeue_orphaned(),
        "redispatched": runs_redispatch(older_than_seconds=settings.RECOMMENDATIONS_REDISPATCH_AFTER_SECONDS),
    }
    with transaction.atomic():
        stale = embeddings_request_stale(reason=RunReason.RECONCILE)
    summary["embeddings_run"] = stale.pk if stale else None
    summary["outcomes_recorded"] = predictions_reconcile_outcomes()

    summary["train_run"] = None
    n_completed = dataset.completed_projects().count()
    if n_completed >= settings.RECOMMENDATIONS_MIN_COMPLETED_PROJECTS:
        new, has_model = _new_outcomes_since_last_training()
        pending = TrainingRun.objects.filter(kind=RunKind.TRAIN, status__in=PENDING).exists()
        ungated = SuccessModel.objects.filter(status=ModelStatus.ACTIVE, validation={}).exists()
        if not pending and (not has_model or ungated or new >= settings.RECOMMENDATIONS_RETRAIN_AFTER_NEW_OUTCOMES):
            reason = RunReason.NEW_OUTCOMES if has_model else RunReason.RECONCILE
            with transaction.atomic():
                summary["train_run"] = run_request(kind=RunKind.TRAIN, reason=reason).pk
        summary["new_outcomes"] = new

    summary["impact_run"] = None
    active = SuccessModel.objects.filter(status=ModelStatus.ACTIVE).values_list("version", flat=True).first()
    if active is not None and Artifact.objects.exists():
        current = ArtifactImpact.objects.filter(model_version=active).count()
        pending = TrainingRun.objects.filter(kind=RunKind.IMPACT, status__in=PENDING).exists()
        if current < Artifact.objects.count() and not pending:
            with transaction.atomic():
                summary["impact_run"] = run_request(kind=RunKind.IMPACT, reason=RunReason.RECONCILE).pk
    return summary
