"""Maestro's Prometheus metrics (what ``/metrics`` exposes): the single place where their names, label sets and
meaning are defined. Not to be confused with the experiment metrics runs log (``apps.metrics``) or a project's
delivery metrics (``apps.integrations.metrics``); the maestro_metric_* series below are about the former.

Call the ``record_*`` / ``set_*`` helpers from services and tasks; never create metrics elsewhere.

Label policy (cardinality must stay bounded):

* ``tenant`` — the tenant's schema name. Used only on per-tenant series whose other labels are a small fixed set,
  so a series count is at most (number of tenants) × (a handful). Never combined with user, project, run, route or
  any client-supplied value. Defaults to the schema of the current connection (``schema_context`` in tasks).
* ``reason`` / ``outcome`` / ``resource`` / ``source`` — fixed enumerations below; anything else is recorded as
  ``other``.
* ``task`` — registered Celery task names (bounded by the code base).
* ``queue`` — the queues in ``METRICS_CELERY_QUEUES``.

| metric | type | labels |
|---|---|---|
| ``maestro_metric_points_ingested_total`` | counter | tenant |
| ``maestro_metric_batches_rejected_total`` | counter | reason |
| ``maestro_metric_history_reads_total`` | counter | tenant, source (points, copy, copy_tail) |
| ``maestro_recommendations_served_total`` | counter | tenant |
| ``maestro_recommendation_latency_seconds`` | histogram | — |
| ``maestro_predictions_insufficient_data_total`` | counter | tenant |
| ``maestro_model_trainings_total`` | counter | tenant, outcome (success, failure) |
| ``maestro_model_training_duration_seconds`` | histogram | — |
| ``maestro_model_cv_mae`` | gauge | tenant (CV MAE of the active model) |
| ``maestro_model_last_trained_timestamp_seconds`` | gauge | tenant |
| ``maestro_embedding_backlog`` | gauge | tenant |
| ``maestro_celery_tasks_total`` | counter | task, outcome (success, failure, retry, skipped, other) |
| ``maestro_celery_task_duration_seconds`` | histogram | task |
| ``maestro_quota_refusals_total`` | counter | resource (users, projects, artifacts, storage) |

Scrape-time values (``maestro.observability.collectors``): ``maestro_celery_queue_length{queue}``,
``maestro_celery_broker_up``, ``maestro_dependency_up{dependency}``.

Gauges use the ``mostrecent`` multiprocess mode: the value last set by any process wins, and survives the exit of
the (Celery child) process that set it until the metrics directory is cleaned at the next full restart.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram

BATCH_REJECT_REASONS = frozenset(
    {"validation", "too_large", "unknown_run", "inactive_run", "permission", "quota", "conflict", "other"}
)
TRAINING_OUTCOMES = frozenset({"success", "failure"})
TASK_OUTCOMES = frozenset({"success", "failure", "retry", "skipped", "other"})
QUOTA_RESOURCES = frozenset({"users", "projects", "artifacts", "storage"})
HISTORY_SOURCES = frozenset({"points", "copy", "copy_tail"})

metric_points_ingested = Counter(
    "maestro_metric_points_ingested_total", "Metric points stored by the ingest API (duplicates excluded).", ["tenant"]
)
metric_batches_rejected = Counter(
    "maestro_metric_batches_rejected_total", "Metric batches refused as a whole, by reason.", ["reason"]
)
metric_history_reads = Counter(
    "maestro_metric_history_reads_total",
    "Metric series read for history, by where they were found: every point, the packed copy, or the copy plus the "
    "points logged after it.",
    ["tenant", "source"],
)
recommendations_served = Counter("maestro_recommendations_served_total", "Recommendation responses served.", ["tenant"])
recommendation_latency = Histogram(
    "maestro_recommendation_latency_seconds",
    "Time to compute one recommendation response.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
predictions_insufficient_data = Counter(
    "maestro_predictions_insufficient_data_total",
    "Predictions answered with status insufficient_data instead of a value.",
    ["tenant"],
)
model_trainings = Counter("maestro_model_trainings_total", "Model trainings by outcome.", ["tenant", "outcome"])
model_training_duration = Histogram(
    "maestro_model_training_duration_seconds",
    "Wall time of one model training (success or failure).",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200),
)
model_cv_mae = Gauge(
    "maestro_model_cv_mae",
    "Cross-validated mean absolute error of the tenant's active model.",
    ["tenant"],
    multiprocess_mode="mostrecent",
)
model_last_trained = Gauge(
    "maestro_model_last_trained_timestamp_seconds",
    "Unix time at which the tenant's active model finished training.",
    ["tenant"],
    multiprocess_mode="mostrecent",
)
embedding_backlog = Gauge(
    "maestro_embedding_backlog",
    "Items waiting for an embedding (as last measured).",
    ["tenant"],
    multiprocess_mode="mostrecent",
)
celery_tasks = Counter("maestro_celery_tasks_total", "Celery task executions by outcome.", ["task", "outcome"])
celery_task_duration = Histogram(
    "maestro_celery_task_duration_seconds",
    "Celery task run time.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
)
quota_refusals = Counter(
    "maestro_quota_refusals_total", "Writes refused because a plan limit was reached.", ["resource"]
)


def _tenant(tenant: str | None) -> str:
    if tenant:
        return tenant
    from django.db import connection

    return getattr(connection, "schema_name", None) or "public"


def _bounded(value: str, allowed: frozenset[str]) -> str:
    return value if value in allowed else "other"


def record_points_ingested(count: int, *, tenant: str | None = None) -> None:
    """``count`` metric points were stored (call after the batch committed; 0 is allowed and ignored)."""
    if count > 0:
        metric_points_ingested.labels(tenant=_tenant(tenant)).inc(count)


def record_history_read(source: str, *, tenant: str | None = None) -> None:
    """One metric series was read for history from ``source`` (one of ``HISTORY_SOURCES``, else ``other``)."""
    metric_history_reads.labels(tenant=_tenant(tenant), source=_bounded(source, HISTORY_SOURCES)).inc()


def record_batch_rejected(reason: str) -> None:
    """A metric batch was refused; ``reason`` is one of ``BATCH_REJECT_REASONS`` (else counted as ``other``)."""
    metric_batches_rejected.labels(reason=_bounded(reason, BATCH_REJECT_REASONS)).inc()


def record_recommendation_served(duration_seconds: float, *, tenant: str | None = None) -> None:
    """One recommendation response was computed in ``duration_seconds``."""
    recommendations_served.labels(tenant=_tenant(tenant)).inc()
    recommendation_latency.observe(duration_seconds)


@contextmanager
def time_recommendation(*, tenant: str | None = None) -> Iterator[None]:
    """``with time_recommendation(): ...`` records one served recommendation and its latency (on success only)."""
    started = time.perf_counter()
    yield
    record_recommendation_served(time.perf_counter() - started, tenant=tenant)


def record_prediction_insufficient_data(*, tenant: str | None = None) -> None:
    """A prediction could not be computed and answered ``{"status": "insufficient_data"}``."""
    predictions_insufficient_data.labels(tenant=_tenant(tenant)).inc()


def record_model_training(
    *,
    duration_seconds: float,
    succeeded: bool,
    cv_mae: float | None = None,
    trained_at: datetime | None = None,
    tenant: str | None = None,
) -> None:
    """A training finished. On success, ``cv_mae`` and ``trained_at`` describe the model that became active."""
    tenant = _tenant(tenant)
    model_trainings.labels(tenant=tenant, outcome="success" if succeeded else "failure").inc()
    model_training_duration.observe(duration_seconds)
    if succeeded:
        set_active_model(cv_mae=cv_mae, trained_at=trained_at, tenant=tenant)


def set_active_model(*, cv_mae: float | None, trained_at: datetime | None = None, tenant: str | None = None) -> None:
    """Publish the active model's CV MAE and training time (also usable at start-up to re-publish the state)."""
    tenant = _tenant(tenant)
    if cv_mae is not None:
        model_cv_mae.labels(tenant=tenant).set(cv_mae)
    model_last_trained.labels(tenant=tenant).set(trained_at.timestamp() if trained_at else time.time())


def set_embedding_backlog(count: int, *, tenant: str | None = None) -> None:
    """The number of items of ``tenant`` still waiting for an embedding."""
    embedding_backlog.labels(tenant=_tenant(tenant)).set(max(0, count))


def record_task(task: str, outcome: str, duration_seconds: float | None) -> None:
    """One Celery task execution (called by the signal handlers in ``maestro.observability.tasks``)."""
    celery_tasks.labels(task=task, outcome=_bounded(outcome, TASK_OUTCOMES)).inc()
    if duration_seconds is not None:
        celery_task_duration.labels(task=task).observe(duration_seconds)


def record_quota_refusal(resource: str) -> None:
    """A write was refused because the tenant's plan limit for ``resource`` was reached."""
    quota_refusals.labels(resource=_bounded(resource, QUOTA_RESOURCES)).inc()
