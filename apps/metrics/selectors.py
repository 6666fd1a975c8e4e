"""Reads on experiment runs and their metric series. Every entry point takes the acting ``user``: ``run_list`` is the
one place that decides which runs a user may see — the runs of projects the user may see
(``apps.access.selectors.scope``), active ones only unless asked for other lifecycle stages — and every other read
goes through it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.http import Http404

from apps.access.selectors import scope
from apps.accounts.models import User
from apps.metrics.choices import LifecycleStage
from apps.metrics.downsample import minmax_indices
from apps.metrics.models import Run
from apps.metrics.search.compiler import MAX_RESULTS_LIMIT, SearchPage, search_runs
from apps.metrics.validation import INT64_MAX
from apps.projects.models import Project
from maestro.db import binary_results_cursor
from maestro.observability.metrics import record_history_read

ACTIVE_ONLY = (LifecycleStage.ACTIVE,)

logger = logging.getLogger(__name__)


def run_list(*, user: User, lifecycle_stages: Sequence[str] = ACTIVE_ONLY) -> QuerySet[Run]:
    """The runs ``user`` may see, newest first. Runs moved to the trash (``LifecycleStage.DELETED``, e.g. by the
    MLflow API's delete-run) are left out unless ``lifecycle_stages`` names them."""
    runs = Run.objects.filter(lifecycle_stage__in=list(lifecycle_stages))
    return scope(runs, user=user).order_by("-start_time", "-id")


def run_get(*, user: User, run_id: int | str) -> Run:
    """One visible run, or Http404 (also for ids that are not int64: they cannot exist)."""
    try:
        run_id = int(run_id)
    except (TypeError, ValueError):
        raise Http404("No such run.") from None
    if not 0 < run_id <= INT64_MAX:
        raise Http404("No such run.")
    # with its project: the permission check reads it (one statement fewer per request)
    run = run_list(user=user).select_related("project").filter(pk=run_id).first()
    if run is None:
        raise Http404("No such run.")
    return run


def run_get_by_uuid(
    *, user: User, run_uuid: str, lifecycle_stages: Sequence[str] = ACTIVE_ONLY, only: Sequence[str] = ()
) -> Run:
    """One visible run by its 32-hex run id (MLflow's ``run_id``), its project joined, or Http404. ``only`` names
    the fields to load (``project__…`` for the project's); any other loads when read."""
    try:
        parsed = uuid.UUID(hex=run_uuid) if isinstance(run_uuid, str) and len(run_uuid) <= 36 else None
    except ValueError:
        parsed = None
    # order_by(): the id is unique, so the list's ordering would only be compiled and sorted for nothing
    runs = run_list(user=user, lifecycle_stages=lifecycle_stages).select_related("project").order_by()
    if only:
        runs = runs.only(*only)
    run = next(iter(runs.filter(uuid=parsed)[:1]), None) if parsed else None
    if run is None:
        raise Http404("No such run.")
    return run


def project_for_runs(*, user: User, project_id: int) -> Project | None:
    """The visible project ``user`` names for a new run, or None (hidden and unknown look alike). Whether the user
    may create runs in it is the caller's ``require(user, "runs", "create", project)``."""
    if not 0 < project_id <= INT64_MAX:
        return None
    return scope(Project.objects.filter(pk=project_id), user=user).first()


@dataclass
class RunData:
    """Params, tags and latest metrics of a run, as plain dicts (key → value, key → (value, step, timestamp)), and
    the creator's username."""

    created_by: str | None
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, tuple[float, int, int]]


def _run_data_sql(run: str) -> str:
    """SQL of one JSON document (as text) with the creator's username, params, tags and latest metrics of the run
    aliased ``run``: PostgreSQL aggregates each run's rows into JSON (in C) and Python decodes one document per run
    with orjson. Three values_list queries building 3,000+ tuples for a page of 100 runs cost 3–5x more.
    json_build_array writes non-finite floats as "NaN"/"Infinity" strings, which float() reads back."""
    # ``run`` is a table alias written in this module, never input.
    return f"""json_build_array(
    (SELECT u.username FROM accounts_user u WHERE u.id = {run}.created_by_id),
    (SELECT json_object_agg(p.key, p.value ORDER BY p.key) FROM metrics_runparam p WHERE p.run_id = {run}.id),
    (SELECT json_object_agg(t.key, t.value ORDER BY t.key) FROM metrics_runtag t WHERE t.run_id = {run}.id),
    (SELECT json_object_agg(m.key, json_build_array(m.value, m.step, m.timestamp) ORDER BY m.key)
        FROM metrics_latestmetric m WHERE m.run_id = {run}.id))::text"""  # noqa: S608


_RUN_DATA_SQL = f"SELECT r.id, {_run_data_sql('r')} FROM metrics_run r WHERE r.id = ANY(%s)"  # noqa: S608


def _run_data(document: str) -> RunData:
    created_by, params, tags, metrics = orjson.loads(document)
    return RunData(
        created_by=created_by,
        params=params or {},
        tags=tags or {},
        metrics={key: (float(value), step, timestamp) for key, (value, step, timestamp) in (metrics or {}).items()},
    )


def with_run_data(runs: QuerySet[Run]) -> QuerySet[Run]:
    """``runs`` with each row's data (creator, params, tags, latest metrics) computed by the same query — for an
    ordered, limited page PostgreSQL evaluates it only for the page's rows, after the sort and limit. Call
    ``run_data_from_query`` on the runs the query returned. Saves ``run_data_attach``'s query."""
    run_data = RawSQL(_run_data_sql('"metrics_run"'), ())  # noqa: S611 (fixed SQL, no input)
    return runs.annotate(_run_data=run_data)


def run_data_from_query(runs: Sequence[Run]) -> Sequence[Run]:
    """Attach ``run.data`` to runs loaded from a ``with_run_data`` queryset."""
    for run in runs:
        run.data = _run_data(run._run_data)
    return runs


def run_data_attach(runs: Sequence[Run]) -> Sequence[Run]:
    """Load the creator's username, params, tags and latest metrics of ``runs`` (one query, no model instances)
    and attach them as ``run.data``. Used by run listings and details that did not load it with their own query
    (``with_run_data``)."""
    found: dict[int, RunData] = {}
    if runs:
        with connection.cursor() as cursor:
            cursor.execute(_RUN_DATA_SQL, [[run.pk for run in runs]])
            found = {run_id: _run_data(document) for run_id, document in cursor.fetchall()}
    for run in runs:
        run.data = found[run.pk]
    return runs


# ---------------------------------------------------------------------------------------------- metric history

# The three aggregates pack points as three bytea columns of big-endian values, which numpy reads without creating
# a Python object per point (~10 ms for 25,000 points instead of ~50 ms through row tuples); three column aggregates
# cost PostgreSQL ~15 % less than one of concatenated 24-byte records. The rows come from an index-only scan of the
# primary key (run_id, key, step, timestamp, value), already in order.
_PACK_COLUMNS = """count(*) AS total, string_agg(int8send(step), '') AS step_bytes,
    string_agg(int8send(timestamp), '') AS timestamp_bytes, string_agg(float8send(value), '') AS value_bytes"""
_HISTORY_SQL = f"""
SELECT {_PACK_COLUMNS} FROM (
    SELECT step, timestamp, value FROM metrics_metricpoint
    WHERE run_id = %(run)s AND key = %(key)s ORDER BY step, timestamp, value
) AS points
"""  # noqa: S608 (constants only)
# A counted series: its count, whether it is quiet (no batch for METRIC_HISTORY_PACK_QUIET_SECONDS, by the database's
# clock), its packed copy (``models.MetricSeries``) and the points after the copy's last point — an index range scan
# that is skipped (a one-time filter) when the copy is current — or, for a series too short to keep a copy, all its
# points (so a short series is one statement, as a chart of a few hundred points should be).
_SERIES_SQL = f"""
SELECT series.points, series.packed_points,
    statement_timestamp() - series.written_at >= make_interval(secs => %(quiet)s),
    series.packed_last_step, series.packed_last_timestamp, series.packed_last_value,
    series.packed_steps, series.packed_timestamps, series.packed_values,
    tail.total, tail.step_bytes, tail.timestamp_bytes, tail.value_bytes,
    whole.total, whole.step_bytes, whole.timestamp_bytes, whole.value_bytes
FROM metrics_metricseries AS series, LATERAL (
    SELECT {_PACK_COLUMNS} FROM (
        SELECT step, timestamp, value FROM metrics_metricpoint
        WHERE run_id = %(run)s AND key = %(key)s AND series.packed_points < series.points
            AND (step, timestamp, value)
                > (series.packed_last_step, series.packed_last_timestamp, series.packed_last_value)
        ORDER BY step, timestamp, value
    ) AS points
) AS tail, LATERAL (
    SELECT {_PACK_COLUMNS} FROM (
        SELECT step, timestamp, value FROM metrics_metricpoint
        WHERE run_id = %(run)s AND key = %(key)s AND series.packed_points IS NULL AND series.points < %(min_points)s
        ORDER BY step, timestamp, value
    ) AS points
) AS whole
WHERE series.run_id = %(run)s AND series.key = %(key)s
"""  # noqa: S608 (constants only)
# Rebuilding the copy: one statement packs every point and stores the result server-side (the ~600 kB never travel
# back), unless points arrived since its snapshot: the row is only locked and updated while ``points`` still equals
# the count packed (re-checked on the row's newest version), and a row locked by a batch being written is skipped
# rather than waited for (that batch changes the series anyway).
_PACK_SQL = f"""
WITH packed AS MATERIALIZED ({_HISTORY_SQL}), last AS (
    SELECT step, timestamp, value FROM metrics_metricpoint
    WHERE run_id = %(run)s AND key = %(key)s ORDER BY step DESC, timestamp DESC, value DESC LIMIT 1
), store AS (
    UPDATE metrics_metricseries AS series
    SET packed_points = packed.total, packed_steps = packed.step_bytes, packed_timestamps = packed.timestamp_bytes,
        packed_values = packed.value_bytes, packed_last_step = last.step, packed_last_timestamp = last.timestamp,
        packed_last_value = last.value
    FROM packed, last
    WHERE series.points = packed.total AND series.id = (
        SELECT id FROM metrics_metricseries, packed
        WHERE run_id = %(run)s AND key = %(key)s AND points = packed.total
        FOR UPDATE OF metrics_metricseries SKIP LOCKED
    )
)
SELECT total, step_bytes, timestamp_bytes, value_bytes FROM packed
"""  # noqa: S608 (constants only)
# Extending a usable copy with the points after it (it already holds the rest): no scan of the copied points. The
# same conditions as a rebuild, plus: the copy is still the one the read used (``packed_points``), and the copy and
# those points still add up to ``points`` on the row's newest version.
_EXTEND_SQL = f"""
WITH tail AS MATERIALIZED (
    SELECT {_PACK_COLUMNS} FROM (
        SELECT step, timestamp, value FROM metrics_metricpoint
        WHERE run_id = %(run)s AND key = %(key)s
            AND (step, timestamp, value) > (%(last_step)s::bigint, %(last_timestamp)s::bigint, %(last_value)s::float8)
        ORDER BY step, timestamp, value
    ) AS points
), last AS (
    SELECT step, timestamp, value FROM metrics_metricpoint
    WHERE run_id = %(run)s AND key = %(key)s ORDER BY step DESC, timestamp DESC, value DESC LIMIT 1
)
UPDATE metrics_metricseries AS series
SET packed_points = series.packed_points + tail.total, packed_steps = series.packed_steps || tail.step_bytes,
    packed_timestamps = series.packed_timestamps || tail.timestamp_bytes,
    packed_values = series.packed_values || tail.value_bytes, packed_last_step = last.step,
    packed_last_timestamp = last.timestamp, packed_last_value = last.value
FROM tail, last
WHERE tail.total > 0 AND series.packed_points = %(packed)s AND series.points = series.packed_points + tail.total
    AND series.id = (
        SELECT id FROM metrics_metricseries WHERE run_id = %(run)s AND key = %(key)s AND packed_points = %(packed)s
        FOR UPDATE SKIP LOCKED
    )
"""  # noqa: S608 (constants only)


class Source:
    """Where a history read found its series (``SeriesHistory.source``)."""

    POINTS = "points"  # every point (the copy was rebuilt from them if it was worth storing)
    COPY = "copy"  # the packed copy, current
    COPY_AND_TAIL = "copy_tail"  # the packed copy and the points logged after it


@dataclass
class SeriesHistory:
    """One run's series for one key, in step order (then timestamp), possibly downsampled."""

    run_id: int
    key: str
    total_points: int
    steps: np.ndarray
    timestamps: np.ndarray
    values: np.ndarray
    source: str = Source.POINTS

    @property
    def downsampled(self) -> bool:
        return len(self.steps) < self.total_points


def _unpack(step_bytes: bytes | None, timestamp_bytes: bytes | None, value_bytes: bytes | None):
    return (
        np.frombuffer(step_bytes or b"", dtype=">i8").astype(np.int64),
        np.frombuffer(timestamp_bytes or b"", dtype=">i8").astype(np.int64),
        np.frombuffer(value_bytes or b"", dtype=">f8").astype(np.float64),
    )


@contextmanager
def _cache_write(run_id: int) -> Iterator[None]:
    """A write of the packed copy: committed without waiting for the WAL flush (a copy lost in a crash is rebuilt),
    and given up, with a warning, where it cannot be written (e.g. in a read-only transaction)."""
    outermost = not connection.in_atomic_block
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if outermost:
                cursor.execute("SET LOCAL synchronous_commit = off")
            yield
    except DatabaseError:
        logger.warning("metric history: packed copy not stored", exc_info=True, extra={"run_id": run_id})


def _read_series(run_id: int, key: str) -> tuple[str, tuple]:
    """(source, (total, step bytes, timestamp bytes, value bytes)) of the whole series."""
    min_points = settings.METRIC_HISTORY_PACK_MIN_POINTS
    params = {"run": run_id, "key": key, "quiet": settings.METRIC_HISTORY_PACK_QUIET_SECONDS, "min_points": min_points}
    with binary_results_cursor() as cursor:  # the bytea columns as bytes, not hex text (maestro/db.py)
        cursor.execute(_SERIES_SQL, params)
        row = cursor.fetchone()
        if row is None:  # not counted (points written around the batch writer): read them, nothing to store
            cursor.execute(_HISTORY_SQL, params)
            return Source.POINTS, cursor.fetchone()
        points, packed_points, quiet, last_step, last_timestamp, last_value, *copy = row[:9]
        tail_total, *tail = row[9:13]
        worth_a_copy = points >= min_points
        if packed_points is None and not worth_a_copy:
            return Source.POINTS, row[13:]
        usable = packed_points is not None and packed_points + tail_total == points
        if usable and not tail_total:
            return Source.COPY, (points, *copy)
        if usable:
            if worth_a_copy and (quiet or tail_total * 4 >= packed_points):
                extend = {"packed": packed_points, "last_step": last_step, "last_timestamp": last_timestamp}
                with _cache_write(run_id):
                    cursor.execute(_EXTEND_SQL, {**params, **extend, "last_value": last_value})
            return Source.COPY_AND_TAIL, (points, *(a + b for a, b in zip(copy, tail, strict=True)))
        if worth_a_copy:  # no copy, or a point arrived inside the copied range: pack every point, keep the result
            with _cache_write(run_id):
                cursor.execute(_PACK_SQL, params)
                return Source.POINTS, cursor.fetchone()
        cursor.execute(_HISTORY_SQL, params)
        return Source.POINTS, cursor.fetchone()


def _load_series(run_id: int, key: str, max_points: int | None) -> SeriesHistory:
    source, (total, *columns) = _read_series(run_id, key)
    record_history_read(source)
    steps, timestamps, values = _unpack(*columns)
    # string_agg keeps the subquery's order in PostgreSQL's serial plans; a parallel plan could not, so verify
    # (one vectorised pass) and sort here if it ever happens.
    if len(steps) > 1:
        ordered = (steps[1:] > steps[:-1]) | ((steps[1:] == steps[:-1]) & (timestamps[1:] >= timestamps[:-1]))
        if not ordered.all():
            order = np.lexsort((values, timestamps, steps))
            steps, timestamps, values = steps[order], timestamps[order], values[order]
    if max_points is not None and len(values) > max_points:
        keep = minmax_indices(values, max_points)
        steps, timestamps, values = steps[keep], timestamps[keep], values[keep]
    return SeriesHistory(run_id, key, total, steps, timestamps, values, source)


def metric_history(*, user: User, run: Run, key: str, max_points: int | None = None) -> SeriesHistory:
    """The history of ``key`` in a visible ``run`` (an empty series when the run never logged it)."""
    return _load_series(run.pk, key, max_points)


def metric_history_many(
    *, user: User, run_ids: Iterable[int], key: str, max_points: int | None = None
) -> list[SeriesHistory]:
    """Histories of ``key`` for several runs (a comparison chart), in the order asked. Raises Http404 naming the
    ids that are not visible runs."""
    run_ids = list(dict.fromkeys(run_ids))
    found = set(run_list(user=user).filter(pk__in=run_ids).values_list("pk", flat=True))
    missing = [run_id for run_id in run_ids if run_id not in found]
    if missing:
        raise Http404(f"No such run: {', '.join(map(str, missing))}.")
    return [_load_series(run_id, key, max_points) for run_id in run_ids]


# ---------------------------------------------------------------------------------------------- search


def run_search(
    *,
    user: User,
    filter_text: str | None,
    order_by: list[str] | None = None,
    max_results: int = 100,
    page_token: str | None = None,
    project_ids: Sequence[int] | None = None,
    lifecycle_stages: Sequence[str] = ACTIVE_ONLY,
    max_results_limit: int = MAX_RESULTS_LIMIT,
    annotations: Mapping[str, Any] | None = None,
) -> SearchPage:
    """Visible runs matching a filter expression, ordered, one keyset page at a time (see ``apps.metrics.search``),
    optionally only in ``project_ids`` and in other lifecycle stages, with ``run.data`` attached (as
    ``run_data_attach`` does) and any further ``annotations`` (name → expression) the caller needs per run — all in
    the search's own query: PostgreSQL evaluates these correlated subqueries only for the page's rows, after the
    sort and limit. Raises SearchError (field, message, position) for requests that do not parse or are too
    complex."""
    runs = with_run_data(run_list(user=user, lifecycle_stages=lifecycle_stages))
    if annotations:
        runs = runs.annotate(**annotations)
    if project_ids is not None:
        runs = runs.filter(project_id__in=list(project_ids))
    page = search_runs(
        runs,
        filter_text=filter_text,
        order_by=order_by,
        max_results=max_results,
        page_token=page_token,
        max_results_limit=max_results_limit,
    )
    run_data_from_query(page.runs)
    return page
