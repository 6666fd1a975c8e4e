"""Experiment runs of a project, their params, tags and metric time series: points, latest values and the packed
series that history reads use (tenant schema). These are experiment metrics (what a user's training code logs to a
run), not Prometheus metrics (``maestro.observability.metrics``) nor delivery metrics (``apps.integrations``).

Key and value limits follow MLflow's: keys ≤ 250 characters of ``[\\w.\\-/ :]``, param values ≤ 6000 characters,
tag values ≤ 8000 characters.
"""

import uuid

from django.conf import settings
from django.contrib.postgres.indexes import HashIndex
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Now

from apps.metrics.choices import LifecycleStage, RunStatus
from apps.metrics.expressions import NumericText

KEY_MAX_LENGTH = 250
PARAM_VALUE_MAX_LENGTH = 6000
TAG_VALUE_MAX_LENGTH = 8000


class Run(models.Model):
    """One experiment run inside a project. ``uuid`` is the MLflow-style run id (32 hex characters)."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="runs")
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=250, blank=True)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING)
    lifecycle_stage = models.CharField(max_length=8, choices=LifecycleStage.choices, default=LifecycleStage.ACTIVE)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-start_time", "-id"]
        indexes = [
            models.Index(fields=["project", "-start_time", "-id"], name="run_project_start_idx"),
            models.Index(fields=["status"], name="run_status_idx"),
            models.Index(fields=["-start_time", "-id"], name="run_start_idx"),
        ]

    def __str__(self) -> str:
        return self.name or self.uuid.hex

    def clean(self) -> None:
        if self.start_time and self.end_time and self.end_time < self.start_time:
            raise ValidationError({"end_time": "Must not be before start_time."})


def _key_value_indexes(prefix: str) -> list[models.Index]:
    """The search indexes of a run's key/value table, named after the table (``run_param_…``, ``run_tag_…``)."""
    return [
        models.Index(fields=["key", "value_number"], name=f"{prefix}_key_number_idx"),
        # String equality in search (``params.model = 'bert'``, ``tags.mlflow.parentRunId = '…'``): a hash
        # index holds only a hash of each value, so values of thousands of characters fit (a btree entry
        # cannot exceed ~2,700 bytes), and it serves ``value = …`` as written — no extra predicate that
        # would skew the planner's row estimates.
        HashIndex(fields=["value"], name=f"{prefix}_value_hash_idx"),
    ]


class RunKeyValue(models.Model):
    """What a run's params and tags share: a key, a text value, and that value as a number for search.

    Each subclass declares its own ``run`` foreign key (for its ``related_name``) and names its constraint and
    indexes explicitly: Django's ``%(class)s`` placeholder would spell them ``runparam``, not ``run_param``, and so
    rename the existing database objects.
    """

    key = models.CharField(max_length=KEY_MAX_LENGTH)
    value = models.TextField()
    value_number = models.GeneratedField(
        expression=NumericText("value"),
        output_field=models.FloatField(),
        db_persist=True,
        help_text="The value as a number when it looks like one (for numeric search and ordering), else null.",
    )

    class Meta:
        abstract = True
        ordering = ["run_id", "key"]

    def __str__(self) -> str:
        return f"{self.key}={self.value[:40]}"


class RunParam(RunKeyValue):
    """A run parameter. Immutable once set: the same value again is a no-op, a different value is refused."""

    # The unique (run, key) index serves lookups by run; (key, value_number) serves search by key across runs.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="params", db_index=False)

    class Meta(RunKeyValue.Meta):
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="run_param_unique")]
        indexes = _key_value_indexes("run_param")


class RunTag(RunKeyValue):
    """A run tag. Last write wins; the value may be empty."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="tags", db_index=False)
    value = models.TextField(blank=True)

    class Meta(RunKeyValue.Meta):
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="run_tag_unique")]
        indexes = _key_value_indexes("run_tag")


class MetricPoint(models.Model):
    """One point of a metric time series. value is float64 (NaN and ±Inf are kept as such); timestamp is in ms.

    The primary key is the point's identity ``(run, key, step, timestamp, value)`` (as in MLflow's metrics table):
    a retried batch is a no-op through ``INSERT … ON CONFLICT DO NOTHING``, and the one index serves history reads
    in step order (an index-only scan). A surrogate id would cost a second index and a sequence on every insert
    and serve no query. PostgreSQL treats NaN as equal to itself in indexes, so NaN points deduplicate too.
    """

    pk = models.CompositePrimaryKey("run", "key", "step", "timestamp", "value")
    # No database-level foreign key: PostgreSQL checks one per inserted row (a lookup and a row lock on the run),
    # which was a third of the database's work per ingested batch. Integrity is kept by locking instead: a batch
    # takes the run row FOR KEY SHARE before writing, run deletion takes it FOR UPDATE (services), so points can
    # never be written for a run being deleted. Django still cascades deletes from runs.
    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="metric_points", db_index=False, db_constraint=False
    )
    key = models.CharField(max_length=KEY_MAX_LENGTH)
    value = models.FloatField()
    step = models.BigIntegerField(default=0)
    timestamp = models.BigIntegerField()

    class Meta:
        ordering = ["run_id", "key", "step", "timestamp"]

    def __str__(self) -> str:
        return f"{self.key}[{self.step}]={self.value}"


class LatestMetric(models.Model):
    """The latest value of each (run, key): the point with the highest step, then the highest timestamp."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="latest_metrics", db_index=False)
    key = models.CharField(max_length=KEY_MAX_LENGTH)
    value = models.FloatField()
    step = models.BigIntegerField(default=0)
    timestamp = models.BigIntegerField()

    class Meta:
        ordering = ["run_id", "key"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="latest_metric_unique")]
        indexes = [models.Index(fields=["key", "value"], name="latest_metric_key_value_idx")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class MetricSeries(models.Model):
    """Per (run, key): how many points are stored, and a packed copy of the series for fast history reads.

    ``points`` (and ``written_at``) are kept by every batch that stores points, in the batch's transaction
    (``services._METRICS_SQL``). The packed copy (``packed_steps``, ``packed_timestamps``, ``packed_values``:
    big-endian int8, int8 and float8 arrays in step order, ending with the point ``packed_last_*``) is written by
    history reads (``selectors._load_series``) and holds ``packed_points`` points.

    Points are never updated or deleted one by one (only with their run). So when the copy, plus the points after its
    last point (an index range scan), add up to ``points`` — all read in one statement, one snapshot — no point arrived
    in the middle and the series is exactly the copy followed by those points; otherwise the series is read from all its
    points. A read packs every point into a new copy when there is none or it is unusable, and extends a usable copy
    with the points after it when those reach a quarter of it or the series has been quiet (no batch for
    ``METRIC_HISTORY_PACK_QUIET_SECONDS``). Either write re-checks the count on the row it updates, so a copy is only
    stored if it matches ``points``, and skips a row locked by a batch in flight.

    Anything that stores metric points must keep ``points`` and ``written_at`` (as the batch writer does); exports
    leave the packed copy out (the first read rebuilds it).
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="metric_series", db_index=False)
    key = models.CharField(max_length=KEY_MAX_LENGTH)
    points = models.BigIntegerField(help_text="Points stored for this run and key.")
    written_at = models.DateTimeField(db_default=Now(), help_text="When a batch last added points.")
    packed_points = models.BigIntegerField(null=True, blank=True, help_text="Points in the packed copy.")
    packed_last_step = models.BigIntegerField(null=True, blank=True, help_text="The packed copy's last point.")
    packed_last_timestamp = models.BigIntegerField(null=True, blank=True)
    packed_last_value = models.FloatField(null=True, blank=True)
    packed_steps = models.BinaryField(null=True, blank=True)
    packed_timestamps = models.BinaryField(null=True, blank=True)
    packed_values = models.BinaryField(null=True, blank=True)

    class Meta:
        ordering = ["run_id", "key"]
        verbose_name_plural = "metric series"
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="metric_series_unique")]

    def __str__(self) -> str:
        return f"{self.key} ({self.points} points)"
