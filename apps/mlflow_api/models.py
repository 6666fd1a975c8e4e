"""What MLflow knows about an experiment that a Maestro project does not (tenant schema).

An MLflow experiment *is* a Maestro project: the experiment id is the project's id, its name the project's name,
its runs the project's runs. These two small tables hold the rest: the experiment's lifecycle (MLflow deletes
experiments softly and can restore them), its artifact location, whether it is the tenant's ``Default`` experiment
(MLflow's experiment ``0``), and its tags (MLflow's experiment tags are key → string, unlike the project's list of
labels). A project that MLflow never touched has no row and reads as an active experiment without tags.

``ArtifactFile`` / ``ArtifactUpload`` index the MLflow artifacts stored through the artifact proxy.
Below them: MLflow 3's logged models and the datasets runs read (tenant data of their project), and the model
registry, whose registered models and versions are artifacts and artifact versions of Maestro's library (see the
comment above ``RegisteredModel``).

Why the registry lives here and not in an app of its own: its vocabulary (versions numbered per name, aliases, stages,
``models:/`` URIs, sources resolved from runs and logged models) is MLflow's protocol, and everything Maestro-specific
about it is already an existing domain object — the artifact and artifact version it *is*, the run and project its
files belong to — which this engines-layer app may use. A separate engines app would have to be imported by this one
(same layer), and moving it down to the domain layer would put MLflow's protocol there.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.metrics.choices import LifecycleStage
from apps.metrics.models import KEY_MAX_LENGTH
from apps.mlflow_api.choices import LoggedModelStatus, ModelLinkKind, ModelStage

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


# ---------------------------------------------------------------------------------------------- logged models
#
# MLflow 3's logged models and the datasets runs read: tenant data of the experiment (project) they belong to,
# guarded by that project's permissions (``logged_models`` and ``runs`` in the permission matrix).

LOGGED_MODEL_NAME_MAX_LENGTH = 500
MODEL_ID_MAX_LENGTH = 36  # "m-" and 32 hex digits; MLflow's column is 36 wide
DATASET_NAME_MAX_LENGTH = 500  # MLflow's MAX_DATASET_NAME_SIZE
DATASET_DIGEST_MAX_LENGTH = 36  # MAX_DATASET_DIGEST_SIZE
DATASET_SOURCE_TYPE_MAX_LENGTH = 36


class LoggedModel(models.Model):
    """An MLflow 3 logged model: a model's identity (``m-<32 hex>``) in an experiment, with its own artifact root
    (``mlflow-artifacts:/<experiment>/models/<model_id>/artifacts``), status, params, tags and metrics.

    The model's files are written by the MLflow client through the artifact proxy under that root; this row is
    their metadata. Deleting it through MLflow is soft (``lifecycle_stage``), as in MLflow."""

    model_id = models.CharField(max_length=MODEL_ID_MAX_LENGTH, unique=True)
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="mlflow_logged_models")
    name = models.CharField(max_length=LOGGED_MODEL_NAME_MAX_LENGTH)
    model_type = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=32, choices=LoggedModelStatus.choices, default=LoggedModelStatus.PENDING)
    status_message = models.CharField(max_length=1000, blank=True)
    lifecycle_stage = models.CharField(max_length=8, choices=LifecycleStage.choices, default=LifecycleStage.ACTIVE)
    artifact_location = models.CharField(max_length=ARTIFACT_LOCATION_MAX_LENGTH)
    source_run = models.ForeignKey(
        "metrics.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="mlflow_logged_models"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "model_id"]
        indexes = [models.Index(fields=["project", "-created_at", "model_id"], name="mlflow_logged_model_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.model_id})"


class LoggedModelTag(models.Model):
    """A tag of a logged model (key → string, last write wins)."""

    model = models.ForeignKey(LoggedModel, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=KEY_MAX_LENGTH)
    value = models.TextField(blank=True)

    class Meta:
        ordering = ["model_id", "key"]
        constraints = [models.UniqueConstraint(fields=["model", "key"], name="mlflow_logged_model_tag_unique")]

    def __str__(self) -> str:
        return f"{self.key}={self.value[:40]}"


class LoggedModelParam(models.Model):
    """A parameter of a logged model (immutable once logged, like a run's)."""

    model = models.ForeignKey(LoggedModel, on_delete=models.CASCADE, related_name="params")
    key = models.CharField(max_length=KEY_MAX_LENGTH)
    value = models.TextField(blank=True)

    class Meta:
        ordering = ["model_id", "key"]
        constraints = [models.UniqueConstraint(fields=["model", "key"], name="mlflow_logged_model_param_unique")]

    def __str__(self) -> str:
        return f"{self.key}={self.value[:40]}"


class LoggedModelMetric(models.Model):
    """A metric point logged for a model: a run's metric sent with ``model_id`` (and optionally the dataset it was
    computed on). The point is also in the run's own history; this row links it to the model, as MLflow's
    ``logged_model_metrics`` table does (same identity: model, key, timestamp, step, run)."""

    model = models.ForeignKey(LoggedModel, on_delete=models.CASCADE, related_name="metrics")
    run = models.ForeignKey("metrics.Run", on_delete=models.CASCADE, related_name="mlflow_model_metrics")
    key = models.CharField(max_length=KEY_MAX_LENGTH)
    value = models.FloatField()
    step = models.BigIntegerField(default=0)
    timestamp = models.BigIntegerField()
    dataset_name = models.CharField(max_length=DATASET_NAME_MAX_LENGTH, blank=True)
    dataset_digest = models.CharField(max_length=DATASET_DIGEST_MAX_LENGTH, blank=True)

    class Meta:
        ordering = ["model_id", "key", "step", "timestamp", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "key", "timestamp", "step", "run"], name="mlflow_logged_model_metric_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key}@{self.step}={self.value}"


class Dataset(models.Model):
    """A dataset an experiment's runs read (MLflow's ``Dataset``: name, digest, source, schema, profile), stored
    once per (experiment, name, digest) as MLflow does."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="mlflow_datasets")
    name = models.CharField(max_length=DATASET_NAME_MAX_LENGTH)
    digest = models.CharField(max_length=DATASET_DIGEST_MAX_LENGTH)
    source_type = models.CharField(max_length=DATASET_SOURCE_TYPE_MAX_LENGTH)
    source = models.TextField()
    schema = models.TextField(blank=True)
    profile = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "name", "digest"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name", "digest"], name="mlflow_dataset_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.digest})"


class RunInput(models.Model):
    """A dataset a run read (``log-inputs``), with the input's tags (e.g. ``mlflow.data.context = training``)."""

    run = models.ForeignKey("metrics.Run", on_delete=models.CASCADE, related_name="mlflow_inputs")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="run_inputs")
    tags = models.JSONField(default=list, blank=True, help_text="[[key, value], …] in the order logged.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run_id", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "dataset"], name="mlflow_run_input_unique")]

    def __str__(self) -> str:
        return f"run {self.run_id} read dataset {self.dataset_id}"


class RunModelLink(models.Model):
    """A logged model a run used (``log-inputs`` models) or produced (``log-outputs``, with the step)."""

    run = models.ForeignKey("metrics.Run", on_delete=models.CASCADE, related_name="mlflow_model_links")
    model = models.ForeignKey(LoggedModel, on_delete=models.CASCADE, related_name="run_links")
    kind = models.CharField(max_length=6, choices=ModelLinkKind.choices)
    step = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["run_id", "kind", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "model", "kind", "step"], name="mlflow_run_model_link_unique")
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} {self.kind} {self.model_id}"


# ---------------------------------------------------------------------------------------------- model registry
#
# A registered model *is* an artifact of type ``model`` in Maestro's library, and each of its versions an
# artifact version ("N.0.0" for MLflow's version N) whose files are the model's files where the client wrote them
# (``ArtifactVersion.storage_prefix``; nothing is copied). The name and description live on the artifact, a
# version's description is the library version's changelog; these rows hold what only the registry has: version
# numbers, sources, stages, aliases and tags. Permissions follow the artifact (``registered_models`` and
# ``model_versions`` in the permission matrix), so the library and the registry can never disagree on who sees what.

MODEL_SOURCE_MAX_LENGTH = 500  # MLflow's model_versions.source / storage_location columns
MODEL_ALIAS_MAX_LENGTH = 255  # MAX_REGISTERED_MODEL_ALIAS_LENGTH
REGISTRY_TAG_VALUE_MAX_LENGTH = 100_000  # MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH


class RegisteredModel(models.Model):
    """A model in the registry: the registry side of one library artifact (its name and description)."""

    artifact = models.OneToOneField("artifacts.Artifact", on_delete=models.CASCADE, related_name="registered_model")
    last_version = models.PositiveIntegerField(
        default=0, help_text="The highest version number given so far: numbers of deleted versions are not reused."
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["artifact_id"]

    def __str__(self) -> str:
        return f"registered model {self.artifact_id}"


class RegisteredModelTag(models.Model):
    """A tag of a registered model (key → string)."""

    registered_model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=KEY_MAX_LENGTH)
    value = models.TextField(blank=True)

    class Meta:
        ordering = ["registered_model_id", "key"]
        constraints = [
            models.UniqueConstraint(fields=["registered_model", "key"], name="mlflow_registered_model_tag_unique")
        ]

    def __str__(self) -> str:
        return f"{self.key}={self.value[:40]}"


class ModelVersion(models.Model):
    """Version N of a registered model: the library version ``N.0.0`` of its artifact, plus where the model comes
    from (``source`` as the client gave it, ``storage_location`` as resolved), the run and logged model that
    produced it, and its (deprecated) stage."""

    registered_model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="versions")
    artifact_version = models.OneToOneField(
        "artifacts.ArtifactVersion", on_delete=models.CASCADE, related_name="model_version"
    )
    version = models.PositiveIntegerField()
    source = models.CharField(max_length=MODEL_SOURCE_MAX_LENGTH)
    storage_location = models.CharField(max_length=MODEL_SOURCE_MAX_LENGTH)
    run = models.ForeignKey(
        "metrics.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="mlflow_model_versions"
    )
    logged_model = models.ForeignKey(
        LoggedModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_versions"
    )
    run_link = models.CharField(max_length=MODEL_SOURCE_MAX_LENGTH, blank=True)
    stage = models.CharField(max_length=10, choices=ModelStage.choices, default=ModelStage.NONE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["registered_model_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["registered_model", "version"], name="mlflow_model_version_unique")
        ]

    def __str__(self) -> str:
        return f"version {self.version} of registered model {self.registered_model_id}"


class ModelVersionTag(models.Model):
    """A tag of a model version (key → string)."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=KEY_MAX_LENGTH)
    value = models.TextField(blank=True)

    class Meta:
        ordering = ["version_id", "key"]
        constraints = [models.UniqueConstraint(fields=["version", "key"], name="mlflow_model_version_tag_unique")]

    def __str__(self) -> str:
        return f"{self.key}={self.value[:40]}"


class RegisteredModelAlias(models.Model):
    """A named pointer (``champion``) from a registered model to one of its versions (``models:/name@champion``)."""

    registered_model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="aliases")
    alias = models.CharField(max_length=MODEL_ALIAS_MAX_LENGTH)
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="aliases")

    class Meta:
        ordering = ["registered_model_id", "alias"]
        constraints = [
            models.UniqueConstraint(fields=["registered_model", "alias"], name="mlflow_registered_model_alias_unique")
        ]

    def __str__(self) -> str:
        return f"@{self.alias} → {self.version_id}"
