"""What MLflow knows about an experiment that a Maestro project does not (tenant schema).

An MLflow experiment *is* a Maestro project: the experiment id is the project's id, its name the project's name,
its runs the project's runs. These two small tables hold the rest: the experiment's lifecycle (MLflow deletes
experiments softly and can restore them), its artifact location, whether it is the tenant's ``Default`` experiment
(MLflow's experiment ``0``), and its tags (MLflow's experiment tags are key → string, unlike the project's list of
labels). A project that MLflow never touched has no row and reads as an active experiment without tags.

``ArtifactFile`` / ``ArtifactUpload`` index the MLflow artifacts stored through the artifact proxy.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.metrics.choices import LifecycleStage
from apps.metrics.models import KEY_MAX_LENGTH

EXPERIMENT_TAG_VALUE_MAX_LENGTH = 20000  # MLflow's MAX_EXPERIMENT_TAG_VAL_LENGTH
ARTIFACT_LOCATION_MAX_LENGTH = 2048


class Experiment(models.Model):
    """MLflow state of one project: lifecycle stage, artifact location, and the ``Default`` flag."""

    project = models.OneToOneField(
        "projects.Project", primary_key=True, on_delete=models.CASCADE, related_name="mlflow_experiment"
    )
    lifecycle_stage = models.CharField(max_length=8, choices=LifecycleStage.choices, default=LifecycleStage.ACTIVE)
    artifact_location = models.CharField(max_length=ARTIFACT_LOCATION_MAX_LENGTH, blank=True)
    is_default = models.BooleanField(
        default=False, help_text="The tenant's 'Default' experiment, which MLflow clients address as experiment 0."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project_id"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="mlflow_one_default")
        ]

    def __str__(self) -> str:
        return f"experiment {self.project_id} ({self.lifecycle_stage})"


class ExperimentTag(models.Model):
    """An MLflow experiment tag (key → string, last write wins) on a project."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="mlflow_tags")
    key = models.CharField(max_length=KEY_MAX_LENGTH)
    value = models.TextField(blank=True)

    class Meta:
        ordering = ["project_id", "key"]
        constraints = [models.UniqueConstraint(fields=["project", "key"], name="mlflow_experiment_tag_unique")]

    def __str__(self) -> str:
        return f"{self.key}={self.value[:40]}"


ARTIFACT_PATH_MAX_LENGTH = 800  # the storage key adds "mlflow/" and the tenant's prefix; S3 keys hold 1024 bytes


class ArtifactFile(models.Model):
    """One file under an MLflow artifact root (a run's ``<experiment>/<run>/artifacts/…``, or a root another part of
    the app registered, see ``artifact_roots``), uploaded through the artifact proxy.

    The content is in the tenant's file storage at key ``mlflow/<path>`` (``maestro.storage``); this row is its
    index entry: listings, downloads, the storage quota and the audit trail read it. ``sha256`` is computed while a
    proxied upload streams in; for a presigned multipart upload (whose bytes go straight to the object store) a
    background task computes it afterwards, so it may be empty for a short while.
    """

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="mlflow_artifact_files")
    path = models.CharField(max_length=ARTIFACT_PATH_MAX_LENGTH, unique=True)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, blank=True)
    content_type = models.CharField(max_length=120, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["path"]
        indexes = [
            # prefix scans (a directory's files: path LIKE '<dir>/%') whatever the database's collation
            models.Index(fields=["path"], name="mlflow_artifact_path_prefix", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["project", "path"], name="mlflow_artifact_project_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.path} ({self.size} bytes)"


class ArtifactUpload(models.Model):
    """A multipart upload in progress (MLflow's ``mpu/create`` until ``mpu/complete`` or ``mpu/abort``): which
    tenant file path the store's upload id belongs to, so only this tenant can finish or abort it, and when it began,
    so an abandoned one is aborted after ``MLFLOW_ARTIFACT_UPLOAD_TTL_SECONDS``."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="mlflow_artifact_uploads")
    path = models.CharField(max_length=ARTIFACT_PATH_MAX_LENGTH)
    upload_id = models.CharField(max_length=1024, unique=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["created_at"], name="mlflow_artifact_upload_age")]

    def __str__(self) -> str:
        return f"upload of {self.path}"
