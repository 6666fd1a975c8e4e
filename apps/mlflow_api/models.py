"""What MLflow knows about an experiment that a Maestro project does not (tenant schema).

An MLflow experiment *is* a Maestro project: the experiment id is the project's id, its name the project's name,
its runs the project's runs. These two small tables hold the rest: the experiment's lifecycle (MLflow deletes
experiments softly and can restore them), its artifact location, whether it is the tenant's ``Default`` experiment
(MLflow's experiment ``0``), and its tags (MLflow's experiment tags are key → string, unlike the project's list of
labels). A project that MLflow never touched has no row and reads as an active experiment without tags.
"""

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
