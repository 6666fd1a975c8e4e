"""Writes on runs: create/update/delete, params (immutable), tags (last write wins) and batch logging.

Batch logging is the ingest hot path. It validates everything first (``apps.metrics.validation``), then writes in
one transaction with set-based SQL: each column travels as one array parameter and ``unnest`` turns them into rows,
so a 1000-point batch is one statement whatever its size. Retries are no-ops: metric points are identified by their
primary key, and a batch that repeats stored points is written again skipping them (``ON CONFLICT DO NOTHING``, see
``run_log_batch``); params ``DO NOTHING`` then a conflict check, tags and latest values ``DO UPDATE … WHERE``
something actually changes. Nothing is written for a failing batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import orjson
import psycopg
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.utils import IntegrityError, OperationalError
from django.http import Http404
from django.utils import timezone
from psycopg import errors as pg_errors

from apps.accounts.models import User
from apps.audit.services import audit_ingest, audited_update
from apps.metrics.choices import LifecycleStage, RunStatus
from apps.metrics.models import MetricPoint, Run, RunParam, RunTag
from apps.metrics.validation import LogBatch, validate_param, validate_tag
from apps.projects.models import Project
from maestro.db import server_binding
from maestro.events import emit
from maestro.observability.metrics import record_points_ingested

logger = logging.getLogger(__name__)

TERMINAL_STATUSES = frozenset({RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED})
# Run statuses announced as outbound events (maestro.events) when a run reaches them.
STATUS_EVENTS = {RunStatus.FINISHED: "run.finished", RunStatus.FAILED: "run.failed"}
# Concurrent batches that touch the same rows in different orders can deadlock; PostgreSQL aborts one of them.
# Rows are written in a fixed order to make that rare, and the aborted transaction is simply run again.
DEADLOCK_RETRIES = 3


def _check_times(start_time: datetime | None, end_time: datetime | None) -> None:
    if start_time and end_time and end_time < start_time:
        raise ValidationError({"end_time": "Must not be before start_time."})


def run_create(
    *,
    user: User | None,
    project: Project,
    name: str = "",
    status: str = RunStatus.RUNNING,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
) -> Run:
    """Create a run in ``project`` with optional initial params and tags (validated like batch items)."""
    errors: dict[str, str] = {}
    for prefix, items, validate in (("params", params or {}, validate_param), ("tags", tags or {}, validate_tag)):
        for key, value in items.items():
            problems = validate(key, value)
            if "key" in problems:
                errors[prefix] = f"Key {str(key)[:260]!r}: {problems['key']}"
            elif "value" in problems:
                errors[f"{prefix}.{key}"] = problems["value"]
    if status not in RunStatus.values:
        errors["status"] = f"Unknown status '{status}'."
    if errors:
        raise ValidationError(errors)
    start_time = start_time or timezone.now()
    if status in TERMINAL_STATUSES and end_time is None:
        end_time = timezone.now()
    _check_times(start_time, end_time)
    with transaction.atomic():
        run = Run.objects.create(
            project=project,
            name=name,
            status=status,
            start_time=start_time,
            end_time=end_time,
            created_by=user if user and user.is_authenticated else None,
        )
        RunParam.objects.bulk_create([RunParam(run=run, key=k, value=v) for k, v in sorted((params or {}).items())])
        RunTag.objects.bulk_create([RunTag(run=run, key=k, value=v) for k, v in sorted((tags or {}).items())])
        _emit_status(run, previous=None)
    return run


def _emit_status(run: Run, *, previous: str | None) -> None:
    """``run.finished`` / ``run.failed`` when ``run`` has just reached that status (in the caller's transaction)."""
    event_type = STATUS_EVENTS.get(run.status)
    if event_type is None or run.status == previous:
        return
    project = Project.objects.filter(pk=run.project_id).values("id", "name").first()
    run_data = {
        "id": run.pk,
        "uuid": run.uuid.hex,
        "name": run.name,
        "status": run.status,
        "start_time": run.start_time,
        "end_time": run.end_time,
    }
    emit(event_type, payload={"run": run_data, "project": project}, project_id=run.project_id)


def run_update(*, run: Run, **changes) -> Run:
    """Change a run's name, status or end time. Moving to a terminal status sets end_time when it is missing."""
    allowed = {"name", "status", "end_time"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError({name: "This field cannot be changed." for name in sorted(unknown)})
    if "status" in changes and changes["status"] not in RunStatus.values:
        raise ValidationError({"status": f"Unknown status '{changes['status']}'."})
    for name, value in changes.items():
        setattr(run, name, value)
    if run.status in TERMINAL_STATUSES and run.end_time is None:
        run.end_time = timezone.now()
    _check_times(run.start_time, run.end_time)
    fields = sorted({*changes, "end_time"})
    with transaction.atomic():
        # The stored status, locked: of two concurrent updates to finished, one announces it.
        previous = (
            Run.objects.select_for_update().filter(pk=run.pk).values_list("status", flat=True).first()
            if "status" in changes
            else run.status
        )
        run.save(update_fields=fields)
        _emit_status(run, previous=previous)
    return run


def run_delete(*, run: Run) -> None:
    """Delete a run with its params, tags and metric history (one DELETE per table: no rows are loaded).

    The run row is locked FOR UPDATE first: a batch being written holds it FOR KEY SHARE, so deletion waits for it
    and then removes its points too, and later batches find the run gone (metric points have no database-level
    foreign key; see MetricPoint)."""
    with transaction.atomic():
        Run.objects.select_for_update().filter(pk=run.pk).exists()
        run.delete()


def project_runs_delete(*, project: Project) -> int:
    """Delete every run of ``project`` with their params, tags and metric history: the bulk ``run_delete``, for
    project deletion. Returns the number of runs deleted.

    The runs are locked FOR UPDATE in id order (a fixed lock order against concurrent deletions), so batches in
    flight finish first and later ones find their run gone; then one DELETE per table removes the runs' rows
    (metric points have no database-level foreign key, so the database alone would orphan them). Each run is
    audited as ``run.deleted`` by the model's signal, as when one run is deleted."""
    with transaction.atomic():
        run_ids = list(
            Run.objects.select_for_update().filter(project=project).order_by("pk").values_list("pk", flat=True)
        )
        if run_ids:
            Run.objects.filter(pk__in=run_ids).delete()
        return len(run_ids)


def run_set_lifecycle(*, run: Run, stage: str) -> Run:
    """Move a run to the trash (``deleted``) or back (``active``): MLflow's delete-run and restore-run. A trashed
    run keeps its data but leaves run lists, searches and histories (``selectors.run_list``) and refuses new
    data (batches lock only active runs). Audited as a ``run.updated`` event by the model's signal."""
    if stage not in LifecycleStage.values:
        raise ValidationError({"lifecycle_stage": f"Unknown lifecycle stage '{stage}'."})
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.lifecycle_stage != stage:
            locked.lifecycle_stage = stage
            locked.save(update_fields=["lifecycle_stage"])
    run.lifecycle_stage = stage
    return run


def runs_set_lifecycle(*, project: Project, stage: str) -> int:
    """Move every run of ``project`` to ``stage`` (MLflow's delete/restore of an experiment); one audit event for
    the whole operation. Returns the number of runs changed."""
    if stage not in LifecycleStage.values:
        raise ValidationError({"lifecycle_stage": f"Unknown lifecycle stage '{stage}'."})
    with transaction.atomic():
        changing = Run.objects.filter(project=project).exclude(lifecycle_stage=stage)
        if not changing.exists():
            return 0
        return audited_update(changing, lifecycle_stage=stage)


@dataclass(frozen=True)
class KeyValueResult:
    """A param or tag as stored after a write, and whether the key is new."""

    key: str
    value: str
    created: bool


def run_param_set(*, run: Run, key: str, value: str) -> KeyValueResult:
    """Set a param. Params are immutable: the same value again is a no-op, a different value is a ValidationError
    naming the key."""
    problems = validate_param(key, value)
    if problems:
        raise ValidationError(problems)
    with transaction.atomic():
        param, created = RunParam.objects.get_or_create(run=run, key=key, defaults={"value": value})
        if created:
            audit_ingest(run=run, metrics=0, params=1, extra={"param": key})
    if not created and param.value != value:
        raise ValidationError(
            {"value": f"Param '{key}' is already set to a different value; params cannot be changed once logged."}
        )
    return KeyValueResult(key=param.key, value=param.value, created=created)


def run_tag_set(*, run: Run, key: str, value: str) -> KeyValueResult:
    """Set a tag; the last write wins."""
    problems = validate_tag(key, value)
    if problems:
        raise ValidationError(problems)
    with transaction.atomic():
        tag, created = RunTag.objects.update_or_create(run=run, key=key, defaults={"value": value})
        audit_ingest(run=run, metrics=0, tags=1, extra={"tag": key})
    return KeyValueResult(key=tag.key, value=tag.value, created=created)


def run_tag_delete(*, run: Run, key: str) -> bool:
    """Delete a tag; False when the run has no such tag."""
    with transaction.atomic():
        deleted, _ = RunTag.objects.filter(run=run, key=key).delete()
        if deleted:
            audit_ingest(run=run, metrics=0, tags=1, extra={"tag": key, "deleted": True})
    return bool(deleted)


@dataclass(frozen=True)
class BatchResult:
    metrics_received: int
    metrics_written: int
    params_written: int
    tags_written: int
    latest_updated: int


_PARAMS_SQL = """
INSERT INTO metrics_runparam (run_id, key, value)
SELECT %s, t.key, t.value FROM unnest(%s::varchar[], %s::text[]) AS t(key, value) ORDER BY t.key
ON CONFLICT (run_id, key) DO NOTHING
"""
_PARAMS_CHECK_SQL = "SELECT key, value FROM metrics_runparam WHERE run_id = %s AND key = ANY(%s::varchar[])"
_TAGS_SQL = """
INSERT INTO metrics_runtag AS tag (run_id, key, value)
SELECT %s, t.key, t.value FROM unnest(%s::varchar[], %s::text[]) AS t(key, value) ORDER BY t.key
ON CONFLICT (run_id, key) DO UPDATE SET value = EXCLUDED.value WHERE tag.value IS DISTINCT FROM EXCLUDED.value
"""
# One statement for the points, their per-key counts and the latest values. Each column arrives as one comma-separated
# string that PostgreSQL splits and casts in C (string_to_array(...)::float8[]): psycopg adapts Python lists element
# by element in Python, which cost ~3 ms per 1000-element column — more than the insert. Commas cannot occur in
# validated keys (``[\w.\-/ :]``), floats are written with repr (shortest round-trip form; "nan", "inf", "-inf" are
# accepted by float8in), so the round trip is exact. The latest value per key (computed in Python: a handful of rows)
# is only rewritten when the batch holds a later point, and the per-key point count (``MetricSeries.points``, which
# tells history reads whether their packed copy is current) only grows by the points actually inserted, so a retried
# batch writes nothing at all. Rows of both are written in key order (a fixed lock order).
# The statement also takes the run's lock (``_LOCK_RUN_SQL``, as an InitPlan evaluated before any row is written) and
# writes nothing when the run is not active: one round trip instead of two for the commonest batch, metrics only.
_METRICS_SQL_TEMPLATE = """
WITH run AS (
    SELECT id FROM metrics_run WHERE id = %(run)s AND lifecycle_stage = 'active' FOR KEY SHARE
), points AS (
    INSERT INTO metrics_metricpoint (run_id, key, value, step, timestamp)
    SELECT %(run)s, t.* FROM unnest(
        string_to_array(%(keys)s, ','),
        string_to_array(%(values)s, ',')::float8[],
        string_to_array(%(steps)s, ',')::bigint[],
        string_to_array(%(timestamps)s, ',')::bigint[]
    ) AS t
    WHERE EXISTS (SELECT FROM run)
    -- points conflict --
    RETURNING key
), series AS (
    INSERT INTO metrics_metricseries AS series (run_id, key, points)
    SELECT %(run)s, key, count(*) FROM points GROUP BY key ORDER BY key
    ON CONFLICT (run_id, key) DO UPDATE SET points = series.points + EXCLUDED.points, written_at = statement_timestamp()
), latest AS (
    INSERT INTO metrics_latestmetric AS latest (run_id, key, value, step, timestamp)
    SELECT %(run)s, t.* FROM unnest(
        string_to_array(%(latest_keys)s, ','),
        string_to_array(%(latest_values)s, ',')::float8[],
        string_to_array(%(latest_steps)s, ',')::bigint[],
        string_to_array(%(latest_timestamps)s, ',')::bigint[]
    ) AS t
    WHERE EXISTS (SELECT FROM run)
    ON CONFLICT (run_id, key) DO UPDATE
        SET value = EXCLUDED.value, step = EXCLUDED.step, timestamp = EXCLUDED.timestamp
        WHERE (EXCLUDED.step, EXCLUDED.timestamp, EXCLUDED.value) > (latest.step, latest.timestamp, latest.value)
    RETURNING 1
)
SELECT (SELECT count(*) FROM run), (SELECT count(*) FROM points), (SELECT count(*) FROM latest)
"""
# Two forms of the statement. New points (the common case) are inserted plainly: ``ON CONFLICT DO NOTHING`` makes
# PostgreSQL insert each row speculatively (check, insert, confirm), which costs it more CPU per point
# (docs/performance.md, "Plain inserts for new points"). A batch that repeats stored points (a client's retry) fails
# the plain form on the primary key and is written again with the skipping form (``run_log_batch``).
_METRICS_SQL = _METRICS_SQL_TEMPLATE.replace("    -- points conflict --\n", "")
_METRICS_SQL_SKIPPING_STORED = _METRICS_SQL_TEMPLATE.replace("-- points conflict --", "ON CONFLICT DO NOTHING")


def _float_order(value: float) -> tuple[bool, float]:
    """PostgreSQL's float8 order in Python: NaN above every number (Python's own comparisons are false for NaN)."""
    return (True, 0.0) if value != value else (False, value)


def latest_points(batch: LogBatch) -> list[tuple[str, float, int, int]]:
    """The latest point per key of a batch — highest (step, timestamp, value) in PostgreSQL's order — sorted by
    key, so concurrent writers lock the latest-value rows in the same order."""
    best: dict[str, tuple[int, int, tuple[bool, float], float]] = {}
    for key, value, step, timestamp in zip(
        batch.metric_keys, batch.metric_values, batch.metric_steps, batch.metric_timestamps, strict=True
    ):
        current = best.get(key)
        if (
            current is None
            or (step, timestamp) > current[:2]
            or ((step, timestamp) == current[:2] and _float_order(value) > current[2])
        ):
            best[key] = (step, timestamp, _float_order(value), value)
    return [(key, best[key][3], best[key][0], best[key][1]) for key in sorted(best)]


_LOCK_RUN_SQL = "SELECT 1 FROM metrics_run WHERE id = %s AND lifecycle_stage = 'active' FOR KEY SHARE"


def _csv_numbers(numbers: list[float] | list[int]) -> str:
    """The numbers as PostgreSQL's ``string_to_array(…, ',')`` input: orjson writes the list in C, each float in its
    shortest round-trip form (which ``float8in`` reads back to the same double) and each int64 as is — a tenth of the
    CPU of joining ``repr`` per number: 0.5 ms less per 1000-point batch (``bench/wire_text.py``). orjson
    writes NaN and ±Infinity as ``null``, so a batch holding one is joined with ``repr`` ("nan", "inf", "-inf",
    which ``float8in`` reads too)."""
    try:
        text = orjson.dumps(numbers)[1:-1]
    except TypeError:  # not a float or int64 (validation lets none through): the general form
        text = b"n"
    if b"n" in text:  # null; no finite float or int64 is written with an "n"
        return ",".join(map(repr, numbers))
    return text.decode()


def _write_metrics(run_id: int, batch: LogBatch, *, skip_stored: bool) -> tuple[int, int]:
    """Points, counts and latest values in one statement, which also locks the run: (points written, latest
    values updated); Http404 when the run is not active. Without ``skip_stored`` a point already stored (or repeated
    in the batch) fails the statement with IntegrityError on the points' primary key."""
    latest = latest_points(batch)
    # Server-side parameter binding (a plain psycopg cursor on the connection whose search_path Django set to the
    # tenant's when it opened a cursor): the ~30 KB of column strings travel as parameters instead of being escaped
    # into the SQL text, which Django's client-side-binding cursor would do. Kept prepared (``server_binding``):
    # planning this statement cost PostgreSQL ~0.35 ms of CPU per call, half of what a one-point call cost it and
    # ~8 % of a 1000-point batch (docs/performance.md, "The ingest statement prepared").
    with connection.cursor():  # opens the connection and sets the tenant's search_path, as for any statement
        pass
    raw = psycopg.Cursor(connection.connection)
    with server_binding(), connection.wrap_database_errors:
        raw.execute(
            _METRICS_SQL_SKIPPING_STORED if skip_stored else _METRICS_SQL,
            {
                "run": run_id,
                "keys": ",".join(batch.metric_keys),
                "values": _csv_numbers(batch.metric_values),
                "steps": _csv_numbers(batch.metric_steps),
                "timestamps": _csv_numbers(batch.metric_timestamps),
                "latest_keys": ",".join(point[0] for point in latest),
                "latest_values": ",".join(repr(point[1]) for point in latest),
                "latest_steps": ",".join(str(point[2]) for point in latest),
                "latest_timestamps": ",".join(str(point[3]) for point in latest),
            },
        )
        locked, metrics_written, latest_updated = raw.fetchone()
    if not locked:
        raise Http404("No such run.")
    return metrics_written, latest_updated


def _write_batch(run_id: int, batch: LogBatch, *, skip_stored: bool = True) -> BatchResult:
    """The batch's rows, metrics first. The run is locked FOR KEY SHARE by the first statement (the metrics', or
    ``_LOCK_RUN_SQL`` for a batch without metrics) and held until commit: it cannot be deleted under this batch
    (run_delete locks it FOR UPDATE). ``skip_stored``: see ``_write_metrics``."""
    params_written = tags_written = metrics_written = latest_updated = 0
    if batch.metric_keys:
        metrics_written, latest_updated = _write_metrics(run_id, batch, skip_stored=skip_stored)
    with connection.cursor() as cursor:
        if not batch.metric_keys:
            cursor.execute(_LOCK_RUN_SQL, [run_id])
            if cursor.fetchone() is None:
                raise Http404("No such run.")
        if batch.params:
            keys = sorted(batch.params)
            cursor.execute(_PARAMS_SQL, [run_id, keys, [batch.params[k][1] for k in keys]])
            params_written = cursor.rowcount
            cursor.execute(_PARAMS_CHECK_SQL, [run_id, keys])
            errors = {
                f"params[{batch.params[key][0]}].value": (
                    f"Param '{key}' is already set to a different value; params cannot be changed once logged."
                )
                for key, stored in cursor.fetchall()
                if stored != batch.params[key][1]
            }
            if errors:
                raise ValidationError(errors)
        if batch.tags:
            keys = sorted(batch.tags)
            cursor.execute(_TAGS_SQL, [run_id, keys, [batch.tags[k] for k in keys]])
            tags_written = cursor.rowcount
    return BatchResult(
        metrics_received=len(batch.metric_keys),
        metrics_written=metrics_written,
        params_written=params_written,
        tags_written=tags_written,
        latest_updated=latest_updated,
    )


def run_log_batch(*, run: Run, batch: LogBatch) -> BatchResult:
    """Write a validated batch to ``run``, all or nothing.

    A param that is already stored with a different value raises ValidationError naming its batch index, and the
    whole transaction (tags and metrics included) is rolled back.

    The points are first inserted plainly; when some are stored already (a retried batch, or a point repeated in
    the batch), that transaction fails on the points' primary key, is rolled back (to its savepoint when the caller
    holds a transaction) and the batch is written again skipping the stored points: the outcome is the same as
    with one skipping insert, which costs more for new points (``_METRICS_SQL``). PostgreSQL's log shows each such
    retry as a ``duplicate key`` error.
    """
    if batch.is_empty:
        return BatchResult(0, 0, 0, 0, 0)
    skip_stored, attempt = False, 1
    while True:
        try:
            with transaction.atomic():
                result = _write_batch(run.pk, batch, skip_stored=skip_stored)
                audit_ingest(
                    run=run,
                    metrics=result.metrics_written,
                    params=result.params_written,
                    tags=result.tags_written,
                    extra={"metrics_received": result.metrics_received},
                )
                transaction.on_commit(partial(record_points_ingested, result.metrics_written))
                return result
        except IntegrityError as exc:
            if skip_stored or not _stored_point_conflict(exc):
                raise
            skip_stored = True
        except OperationalError as exc:
            if not isinstance(exc.__cause__, pg_errors.DeadlockDetected) or attempt == DEADLOCK_RETRIES:
                raise
            logger.warning("log_batch deadlock, retrying", extra={"run_id": run.pk, "attempt": attempt})
            attempt += 1


def _stored_point_conflict(exc: IntegrityError) -> bool:
    """Whether ``exc`` is a point that is already stored: a unique violation on the points' table (its only unique
    index is the primary key)."""
    cause = exc.__cause__
    return isinstance(cause, pg_errors.UniqueViolation) and cause.diag.table_name == MetricPoint._meta.db_table
