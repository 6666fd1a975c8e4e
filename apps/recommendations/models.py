"""Recommendation engine state (tenant schema): spec embeddings, model registry, training runs, predictions,
artifact impact."""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from apps.recommendations.choices import (
    ImpactStatus,
    ModelAction,
    ModelStatus,
    PredictionStatus,
    RunKind,
    RunReason,
    RunStatus,
)


class ProjectEmbedding(models.Model):
    """The embedding of one project's spec.

    ``vector`` holds the 384 float32 values little-endian (1,536 bytes) in a ``bytea``. Why not an array of
    ``real``: the vectors are only ever read in bulk into a NumPy matrix for exact in-memory search (never compared
    in SQL), and ``np.frombuffer`` over the concatenated bytes loads 100,000 of them without creating 38 million
    Python floats; it is also half the size of ``double precision[]``. pgvector is not available here.

    ``text_sha256`` is the hash of the exact text embedded; the embedding is stale when the project's spec hashes
    differently or ``model_name`` changed. ``index_version`` is the value of ``EmbeddingIndexState.version`` when
    the row was written: in-memory indexes fetch only rows newer than the version they hold.
    """

    project = models.OneToOneField(
        "projects.Project", on_delete=models.CASCADE, primary_key=True, related_name="embedding"
    )
    vector = models.BinaryField()
    dim = models.PositiveSmallIntegerField()
    model_name = models.CharField(max_length=200)
    text_sha256 = models.CharField(max_length=64)
    index_version = models.BigIntegerField(db_index=True)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project_id"]

    def __str__(self) -> str:
        return f"embedding of project {self.project_id}"


class EmbeddingIndexState(models.Model):
    """One row per tenant schema: a counter bumped (under its row lock, in the writing transaction) by every
    embedding write, so writers are serialised and versions become visible in commit order."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"embedding index v{self.version}"


class SuccessModel(models.Model):
    """One trained version of the tenant's success model (registry entry). Exactly one is active at a time."""

    version = models.PositiveIntegerField(unique=True)
    status = models.CharField(max_length=10, choices=ModelStatus.choices, default=ModelStatus.CANDIDATE)
    trained_at = models.DateTimeField()
    n_samples = models.PositiveIntegerField()
    features = models.JSONField(help_text="Feature names in column order.")
    cv_metrics = models.JSONField(help_text="Per target: folds, n, mae, r2, baseline_mae, … (K-fold CV).")
    cv_mae = models.FloatField(help_text="CV MAE of success_score: what promotion compares.")
    feature_importances = models.JSONField(help_text="Share of total split gain per feature (success model).")
    booster = models.BinaryField(help_text="zlib-compressed JSON: LightGBM model strings and metadata.")
    training_seconds = models.FloatField()
    data_fingerprint = models.CharField(max_length=64, db_index=True)
    params = models.JSONField(default=dict)
    validation = models.JSONField(
        default=dict,
        blank=True,
        help_text="Forward-in-time evaluation, skill gate (forward and K-fold), learning curve, promotion comparison "
        "(ml.evaluation). Empty for versions trained before the gate existed.",
    )
    training_data = models.BinaryField(
        null=True,
        blank=True,
        help_text="NumPy .npz (compressed): the training matrix and per-project out-of-sample predictions, as exported "
        "by GET /api/v1/models/{id}/training-data.",
    )
    training_run = models.OneToOneField(
        "TrainingRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="produced_model",
        help_text="The run that trained this version: the idempotency key that keeps a redelivered run from "
        "creating a second version.",
    )
    promoted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=Q(status=ModelStatus.ACTIVE), name="success_model_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"success model v{self.version} ({self.status})"

    @property
    def gate(self) -> dict:
        """The skill gate this version was judged by (``ml.evaluation``); empty for versions trained before it."""
        return (self.validation or {}).get("gate", {})

    @property
    def passes_gate(self) -> bool:
        return bool(self.gate.get("passed"))


class ModelEvent(models.Model):
    """Audit of the model registry: automatic and manual promotions and rollbacks, with who and why."""

    model = models.ForeignKey(SuccessModel, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=16, choices=ModelAction.choices)
    previous_active = models.ForeignKey(
        SuccessModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} v{self.model_id}"


class TrainingRun(models.Model):
    """A unit of background ML work (retrain, impact, embeddings) and what became of it.

    Created ``queued`` before the task is sent; sending happens after commit and may fail (broker down) — then
    ``dispatch_error`` says why and reconciliation sends it again. The task moves it to running and then to
    succeeded / skipped / failed exactly once (the queued → running transition is a conditional UPDATE, so a
    duplicate delivery does nothing). The executing worker holds a PostgreSQL advisory lock on the run while it
    works: when that worker dies (SIGKILL, OOM) the lock goes with its connection, and the redelivered message or
    reconciliation takes the ``running`` run over (``attempts`` counts the executions started).
    """

    kind = models.CharField(max_length=12, choices=RunKind.choices)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    reason = models.CharField(max_length=16, choices=RunReason.choices, default=RunReason.MANUAL)
    params = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatch_attempts = models.PositiveIntegerField(default=0)
    dispatch_error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Executions started (more than one: a worker died).")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    detail = models.TextField(blank=True)
    error = models.TextField(blank=True)
    model = models.ForeignKey(
        SuccessModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="training_runs"
    )
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["kind", "status"], name="trainingrun_kind_status_idx")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"


class Prediction(models.Model):
    """One recommendations call: the input, what was predicted, and — once the project completes — the actual."""

    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.SET_NULL, related_name="predictions"
    )
    model = models.ForeignKey(SuccessModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    model_version = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=PredictionStatus.choices)
    request = models.JSONField(encoder=DjangoJSONEncoder)
    response = models.JSONField(encoder=DjangoJSONEncoder)
    predicted_success = models.FloatField(null=True, blank=True)
    lower = models.FloatField(null=True, blank=True)
    upper = models.FloatField(null=True, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    predicted_duration_days = models.FloatField(null=True, blank=True)
    predicted_cost = models.FloatField(null=True, blank=True)
    project_completed_before = models.BooleanField(
        default=False, help_text="The project was already completed when predicted: excluded from accuracy."
    )
    actual_success = models.FloatField(null=True, blank=True)
    actual_duration_days = models.FloatField(null=True, blank=True)
    actual_cost = models.FloatField(null=True, blank=True)
    outcome_recorded_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["project"], condition=Q(actual_success__isnull=True), name="prediction_open_outcome_idx"
            ),
            models.Index(fields=["created_at"], name="prediction_created_idx"),
        ]

    def __str__(self) -> str:
        return f"prediction #{self.pk} ({self.status})"


class ArtifactImpact(models.Model):
    """The latest impact computation of one artifact (``Artifact.impact_score`` mirrors ``impact``): ``impact`` and
    its interval are the effect adjusted for the other features by double machine learning (``ml.effects``), an
    observational estimate; ``observed_lift`` is the unadjusted comparison within problem class."""

    artifact = models.OneToOneField(
        "artifacts.Artifact", on_delete=models.CASCADE, primary_key=True, related_name="impact_detail"
    )
    model = models.ForeignKey(SuccessModel, null=True, on_delete=models.SET_NULL, related_name="+")
    model_version = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=ImpactStatus.choices)
    n_projects = models.PositiveIntegerField()
    min_usage = models.PositiveIntegerField()
    impact = models.FloatField(null=True, blank=True)
    ci_low = models.FloatField(null=True, blank=True)
    ci_high = models.FloatField(null=True, blank=True)
    observed_lift = models.FloatField(null=True, blank=True)
    observed_lift_ci_low = models.FloatField(null=True, blank=True)
    observed_lift_ci_high = models.FloatField(null=True, blank=True)
    comparable_n = models.PositiveIntegerField(default=0)
    has_indicator = models.BooleanField(default=False)
    se = models.FloatField(null=True, blank=True, help_text="Standard error of the adjusted effect (impact).")
    verdict = models.CharField(
        max_length=20, blank=True, help_text="helps, hurts or no clear effect (the 95 % interval includes zero)."
    )
    method = models.CharField(max_length=80, blank=True)
    model_contribution = models.FloatField(
        null=True, blank=True, help_text="Mean SHAP contribution over the using projects: descriptive, not an effect."
    )
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["artifact_id"]

    def __str__(self) -> str:
        return f"impact of artifact {self.artifact_id}"
