"""The reusable artifact library (tenant schema): artifacts, their versions, stored content and usage by projects."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.artifacts.choices import ArtifactType


class Artifact(models.Model):
    """A reusable thing in the library: a prompt, a code template, a dataset, a model, a pipeline, …

    ``usage_count`` is maintained by the usage services; ``impact_score`` (and its interval) is written only by the
    recommendations engine after each training — no client can set either.
    """

    name = models.CharField(max_length=200, unique=True)
    type = models.CharField(max_length=20, choices=ArtifactType.choices)
    description = models.TextField(blank=True)
    tags = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_artifacts"
    )
    is_active = models.BooleanField(default=True)
    usage_count = models.PositiveIntegerField(default=0, editable=False)
    impact_score = models.FloatField(null=True, blank=True, editable=False)
    impact_updated_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            models.Index(fields=["type", "name"], name="artifact_type_idx"),
            models.Index(fields=["-usage_count", "id"], name="artifact_usage_idx"),
            models.Index(fields=["-impact_score", "id"], name="artifact_impact_idx"),
            GinIndex(fields=["tags"], name="artifact_tags_gin"),
        ]

    def __str__(self) -> str:
        return self.name


def blob_upload_to(instance: "ArtifactBlob", filename: str) -> str:
    # Content-addressed: the path depends only on the hash, never on the client's file name.
    return f"artifacts/{instance.sha256[:2]}/{instance.sha256}"


class ArtifactBlob(models.Model):
    """Stored file content, addressed by its SHA-256: identical content uploaded twice is stored once."""

    sha256 = models.CharField(max_length=64, unique=True)
    file = models.FileField(upload_to=blob_upload_to, max_length=255)
    size = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.sha256[:12]}… ({self.size} bytes)"


class ArtifactVersion(models.Model):
    """One version of an artifact: a semantic version, a changelog and (optionally) its content: an uploaded file
    (``blob``) or a folder already in the tenant's storage (``storage_prefix``), never both."""

    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=64, help_text="Semantic version, e.g. 1.4.0 or 2.0.0-rc.1")
    major = models.PositiveIntegerField(editable=False, default=0)
    minor = models.PositiveIntegerField(editable=False, default=0)
    patch = models.PositiveIntegerField(editable=False, default=0)
    prerelease = models.CharField(max_length=64, blank=True, editable=False)
    changelog = models.TextField(blank=True)
    blob = models.ForeignKey(ArtifactBlob, null=True, blank=True, on_delete=models.PROTECT, related_name="versions")
    storage_prefix = models.CharField(
        max_length=1024,
        blank=True,
        help_text="Instead of one uploaded file: a folder of the tenant's storage holding this version's files "
        "(a registered MLflow model version: the files its run or logged model wrote; nothing is copied). "
        "Downloaded as a zip of the folder.",
    )
    filename = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=120, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["artifact_id", "-major", "-minor", "-patch", "prerelease", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["artifact", "version"], name="artifact_version_unique"),
            models.CheckConstraint(
                condition=Q(blob__isnull=True) | Q(storage_prefix=""), name="artifact_version_one_content"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.artifact_id}@{self.version}"


class ArtifactUsage(models.Model):
    """A project's use of one artifact version: when, by whom, and why."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="artifact_usages")
    artifact_version = models.ForeignKey(ArtifactVersion, on_delete=models.PROTECT, related_name="usages")
    # Denormalised from artifact_version so per-artifact queries (counts, impact) need no join.
    artifact = models.ForeignKey(Artifact, on_delete=models.PROTECT, related_name="usages")
    used_at = models.DateTimeField(default=timezone.now)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    context = models.TextField(blank=True)

    class Meta:
        ordering = ["-used_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "artifact_version"], name="usage_project_version_unique"),
        ]
        indexes = [models.Index(fields=["artifact", "project"], name="usage_artifact_project_idx")]

    def __str__(self) -> str:
        return f"{self.project_id} uses {self.artifact_version_id}"
