"""TrainingRun lifecycle: request (queued row + send after commit), dispatch, execute exactly once, finish.

Sending never blocks a request for long and never loses work: the row is committed first, the Celery message is
sent after commit with ``retry=False`` (broker connect timeout 2 s, see settings), and a failure to send is recorded
in ``dispatch_error`` — reconciliation (``services.reconcile``) sends queued runs again.

A run is executed by one live worker at a time and completes once. The executing worker holds a session-level
PostgreSQL advisory lock on the run (``_run_lock``) from claim to finish. A claim takes the lock without waiting and
then moves the run from queued — or from running, when no live worker holds it — to running with a conditional
UPDATE. So a duplicate delivery while the run executes is a no-op, and when a worker is SIGKILLed mid-run the lock is
released with its database connection: the redelivered message (``acks_late`` + ``reject_on_worker_lost``) or
reconciliation (``runs_requeue_orphaned``) runs it again on the next worker, up to ``MAX_ATTEMPTS`` executions. What
a run writes is committed atomically and keyed by the run (``SuccessModel.training_run``), so a re-execution after a
crash between that commit and the status update finds its result instead of writing a second one.
"""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.recommendations.choices import RunKind, RunReason, RunStatus
from apps.recommendations.models import SuccessModel, TrainingRun
from maestro.events import emit

logger = logging.getLogger("maestro.recommendations")

MAX_ATTEMPTS = 5  # executions of one run before a worker death is taken to be caused by the run (e.g. OOM)


@dataclass
class RunOutcome:
    status: str
    detail: str = ""
    model: SuccessModel | None = None
    result: dict = field(default_factory=dict)


def _task_for(kind: str):
    # Imported here: the tasks and the embeddings, impact and training services import this module (cycle).
    from apps.recommendations import tasks

    return tasks.RUN_TASKS[kind]


def run_request(
    *, kind: str, reason: str = RunReason.MANUAL, user=None, params: dict | None = None, dispatch: bool = True
) -> TrainingRun:
    """Queue a run (or return the identical one already queued). It is sent to the ``ml`` queue after commit."""
    params = params or {}
    existing = (
        TrainingRun.objects.filter(kind=kind, status=RunStatus.QUEUED, params=params).order_by("created_at").first()
    )
    if existing is not None:
        return existing
    run = TrainingRun.objects.create(
        kind=kind, reason=reason, params=params, requested_by=user if getattr(user, "pk", None) else None
    )
    if dispatch:
        schema, run_id = connection.schema_name, run.pk
        transaction.on_commit(lambda: run_dispatch(run_id=run_id, schema_name=schema))
    return run


def run_dispatch(*, run_id: int, schema_name: str | None = None) -> bool:
    """Send a queued run to the broker. Returns False (and records why) when the broker cannot be reached."""
    schema_name = schema_name or connection.schema_name
    with schema_context(schema_name):
        kind = TrainingRun.objects.filter(pk=run_id).values_list("kind", flat=True).first()
        if kind is None:
            return False
        try:
            _task_for(kind).apply_async(kwargs={"schema_name": schema_name, "run_id": run_id}, retry=False)
        except Exception as exc:  # any broker failure: the run stays queued for reconciliation
            TrainingRun.objects.filter(pk=run_id).update(
                dispatch_attempts=F("dispatch_attempts") + 1, dispatch_error=f"{type(exc).__name__}: {exc}"[:1000]
            )
            logger.warning(
                "ml_run_dispatch_failed", extra={"run_id": run_id, "schema": schema_name, "error": str(exc)[:200]}
            )
            return False
        TrainingRun.objects.filter(pk=run_id).update(
            dispatched_at=timezone.now(), dispatch_attempts=F("dispatch_attempts") + 1, dispatch_error=""
        )
        return True


def _lock_key(run_id: int) -> str:
    # Advisory locks are database-wide and run ids are per tenant schema: the key names both.
    return f"{connection.schema_name}:run:{run_id}"


def _run_lock_try(run_id: int) -> bool:
    """Take the run's session-level advisory lock without waiting; False when a live session holds it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_lock(hashtext('maestro.recommendations.run'), hashtext(%s))", [_lock_key(run_id)]
        )
        return bool(cursor.fetchone()[0])


def _run_unlock(run_id: int) -> None:
    """Release the lock (when the connection is gone, so is the lock)."""
    with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_unlock(hashtext('maestro.recommendations.run'), hashtext(%s))", [_lock_key(run_id)]
        )


def _start(run_id: int) -> TrainingRun | None:
    """Claim the run (its lock must be held): queued, or running with its worker gone. Past ``MAX_ATTEMPTS`` a
    running run is failed instead."""
    claimed = (
        TrainingRun.objects.filter(pk=run_id, status__in=[RunStatus.QUEUED, RunStatus.RUNNING])
        .filter(attempts__lt=MAX_ATTEMPTS)
        .update(status=RunStatus.RUNNING, started_at=timezone.now(), attempts=F("attempts") + 1)
    )
    if claimed:
        return TrainingRun.objects.get(pk=run_id)
    TrainingRun.objects.filter(
        pk=run_id, status__in=[RunStatus.QUEUED, RunStatus.RUNNING], attempts__gte=MAX_ATTEMPTS
    ).update(
        status=RunStatus.FAILED,
        finished_at=timezone.now(),
        error=f"Lost: its worker died in each of {MAX_ATTEMPTS} attempts.",
    )
    return None


def _finish(run: TrainingRun, outcome: RunOutcome, started: float, error: str = "") -> TrainingRun:
    run.status = outcome.status
    run.detail = outcome.detail
    run.error = error
    run.model = outcome.model
    run.result = outcome.result
    run.finished_at = timezone.now()
    run.duration_seconds = time.perf_counter() - started
    run.save(update_fields=["status", "detail", "error", "model", "result", "finished_at", "duration_seconds"])
    return run


def run_execute(*, run_id: int, inline_follow_up: bool = False) -> TrainingRun | None:
    """Execute a queued run once (the Celery tasks call this). Returns None when it was already taken.

    A successful training queues an impact recomputation; ``inline_follow_up`` runs it right here instead
    (``seed_demo``)."""
    if not _run_lock_try(run_id):
        logger.info("ml_run_already_taken", extra={"run_id": run_id})
        return None
    try:
        run = _start(run_id)
        if run is None:
            logger.info("ml_run_already_done", extra={"run_id": run_id})
            return None
        if run.attempts > 1:
            logger.warning("ml_run_resumed", extra={"run_id": run_id, "attempt": run.attempts})
        return _execute(run, inline_follow_up=inline_follow_up)
    finally:
        _run_unlock(run_id)


def _execute(run: TrainingRun, *, inline_follow_up: bool) -> TrainingRun:
    # Imported here: the tasks and the embeddings, impact and training services import this module (cycle).
    from apps.recommendations.services.embeddings import embeddings_run
    from apps.recommendations.services.impact import impact_recompute
    from apps.recommendations.services.training import model_train

    run_id = run.pk
    started = time.perf_counter()
    handlers = {RunKind.TRAIN: model_train, RunKind.IMPACT: impact_recompute, RunKind.EMBEDDINGS: embeddings_run}
    try:
        outcome = handlers[run.kind](run)
    except Exception as exc:
        logger.exception("ml_run_failed", extra={"run_id": run_id, "kind": run.kind})
        if run.kind == RunKind.TRAIN:
            emit("training.failed", payload={"training_run_id": run_id, "error": str(exc)[:500]})
        return _finish(
            run, RunOutcome(RunStatus.FAILED, detail=str(exc)[:500]), started, traceback.format_exc()[-8000:]
        )
    run = _finish(run, outcome, started)
    if run.kind == RunKind.TRAIN and run.status == RunStatus.SUCCEEDED:
        follow = run_request(kind=RunKind.IMPACT, reason=RunReason.AFTER_TRAINING, dispatch=not inline_follow_up)
        if inline_follow_up:
            run_execute(run_id=follow.pk)
    return run


def runs_fail_lost(*, older_than_seconds: int) -> int:
    """Mark runs ``running`` for longer than the run timeout as failed, so new ones can be requested (a run whose
    worker died more recently is resumed instead: ``runs_requeue_orphaned``)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return TrainingRun.objects.filter(status=RunStatus.RUNNING, started_at__lt=cutoff).update(
        status=RunStatus.FAILED, finished_at=timezone.now(), error="Lost: still running after the run timeout."
    )


def runs_requeue_orphaned() -> list[int]:
    """Put back in the queue every running run whose worker is gone (nobody holds its lock), so that the next
    worker runs it without waiting for the broker to redeliver the unacknowledged message (with Redis, after the
    visibility timeout). Returns their ids; ``runs_redispatch`` sends them."""
    requeued = []
    for run_id in TrainingRun.objects.filter(status=RunStatus.RUNNING).values_list("id", flat=True).order_by("id"):
        if not _run_lock_try(run_id):
            continue  # a live worker executes it
        try:
            if TrainingRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
                status=RunStatus.QUEUED, dispatched_at=None
            ):
                requeued.append(run_id)
        finally:
            _run_unlock(run_id)
    if requeued:
        logger.warning("ml_runs_requeued", extra={"run_ids": requeued})
    return requeued


def runs_redispatch(*, older_than_seconds: int) -> list[int]:
    """Send again every queued run never sent successfully, or sent but not started for too long."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(
        TrainingRun.objects.filter(status=RunStatus.QUEUED)
        .filter(dispatched_at__isnull=True)
        .values_list("id", flat=True)
        .union(
            TrainingRun.objects.filter(status=RunStatus.QUEUED, dispatched_at__lt=cutoff).values_list("id", flat=True)
        )
    )
    return [run_id for run_id in sorted(ids) if run_dispatch(run_id=run_id)]
