"""Writes of MLflow 3 logged models and of what runs read and produce: ``logged-models`` (create, finalize,
delete, tags, params), ``runs/log-inputs`` (datasets and model inputs), ``runs/outputs`` (models a run produced),
MLflow 2's ``runs/log-model`` (the ``mlflow.log-model.history`` tag), and the metric points of ``log-batch`` that
name a ``model_id`` (stored again for the model, as MLflow's ``logged_model_metrics``).

Permissions: every function takes the acting ``user`` and checks the object it writes with
``apps.access.selectors.require``. Every logged model, run or dataset named in a request body is looked up through
the permission-scoped selectors first: an id of another tenant or of a project the user cannot see is answered as
unknown (RESOURCE_DOES_NOT_EXIST) and nothing is written.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from apps.access.selectors import require
from apps.accounts.models import User
from apps.audit.services import audited_bulk_create
from apps.metrics import services as run_services
from apps.metrics.choices import LifecycleStage
from apps.metrics.models import TAG_VALUE_MAX_LENGTH, Run
from apps.metrics.validation import key_problem
from apps.mlflow_api.choices import LOGGED_MODEL_STATUS_NUMBERS, LoggedModelStatus, ModelLinkKind
from apps.mlflow_api.model_selectors import logged_model_list
from apps.mlflow_api.models import (
    DATASET_DIGEST_MAX_LENGTH,
    DATASET_NAME_MAX_LENGTH,
    DATASET_SOURCE_TYPE_MAX_LENGTH,
    LOGGED_MODEL_NAME_MAX_LENGTH,
    REGISTRY_TAG_VALUE_MAX_LENGTH,
    Dataset,
    LoggedModel,
    LoggedModelMetric,
    LoggedModelParam,
    LoggedModelTag,
    RunInput,
    RunModelLink,
)
from apps.mlflow_api.protocol import MlflowError, invalid_value, not_found
from apps.mlflow_api.registry_protocol import check_length, check_logged_model_name
from apps.mlflow_api.selectors import artifact_locations, check_experiment_active, check_run_active
from apps.projects.models import Project

MODELS_FOLDER = "models"
LOG_MODEL_HISTORY_TAG = "mlflow.log-model.history"  # MLflow's MLFLOW_LOGGED_MODELS
# MLflow's dataset limits (mlflow/utils/validation.py)
MAX_DATASET_SOURCE = 65535
MAX_DATASET_SCHEMA = 1048575
MAX_DATASET_PROFILE = 16777215
MAX_INPUT_TAG_KEY = 255
MAX_INPUT_TAG_VALUE = 500
MAX_DATASETS_PER_CALL = 1000


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: str


def check_key(key: str, path: str) -> None:
    r"""MLflow's rule for tag and param keys (``[\w.\-/ :]``, no path tricks), as Maestro checks its own keys."""
    if problem := key_problem(key):
        raise MlflowError(invalid_value(path, key, problem))


def _check_key_values(kind: str, items: Sequence[KeyValue]) -> dict[str, str]:
    """Keys by MLflow's key rule, values at most REGISTRY_TAG_VALUE_MAX_LENGTH; the last value of a key wins."""
    out: dict[str, str] = {}
    for index, item in enumerate(items):
        check_key(item.key, f"{kind}[{index}].key")
        check_length(f"{kind}[{index}].value", item.value, REGISTRY_TAG_VALUE_MAX_LENGTH)
        out[item.key] = item.value
    return out


def _lock_run(run: Run) -> None:
    """Serialise read-modify-writes of one run's inputs, outputs and model history (``FOR NO KEY UPDATE`` does not
    wait for metric batches, which hold the run ``FOR KEY SHARE``)."""
    Run.objects.select_for_update(no_key=True).filter(pk=run.pk).exists()


# ---------------------------------------------------------------------------------------------- logged models


def logged_model_create(
    *,
    user: User,
    project: Project,
    name: str,
    model_type: str,
    source_run: Run | None,
    params: Sequence[KeyValue],
    tags: Sequence[KeyValue],
) -> LoggedModel:
    """MLflow's create-logged-model: a PENDING model in an active experiment, with its artifact root under the
    experiment's artifact location (``<location>/models/<model_id>/artifacts``), params and tags. ``source_run``
    was found by the caller through the run selectors (visible to ``user``)."""
    require(user, "logged_models", "create", project)
    check_experiment_active(project)
    if name:
        check_logged_model_name(name)
        check_length("name", name, LOGGED_MODEL_NAME_MAX_LENGTH)
    check_length("model_type", model_type, 500)
    param_map = _check_key_values("params", params)
    tag_map = _check_key_values("tags", tags)
    model_id = f"m-{uuid.uuid4().hex}"
    location = artifact_locations([project.pk])[project.pk].rstrip("/")
    with transaction.atomic():
        model = LoggedModel.objects.create(
            model_id=model_id,
            project=project,
            # MLflow makes up a random name; Maestro names the model after its id, which is unique and stable.
            name=name or f"model-{model_id[2:10]}",
            model_type=model_type,
            artifact_location=f"{location}/{MODELS_FOLDER}/{model_id}/artifacts",
            source_run=source_run,
            created_by=user,
        )
        if param_map:
            audited_bulk_create(
                LoggedModelParam, [LoggedModelParam(model=model, key=k, value=v) for k, v in param_map.items()]
            )
        if tag_map:
            audited_bulk_create(
                LoggedModelTag, [LoggedModelTag(model=model, key=k, value=v) for k, v in tag_map.items()]
            )
    return model


def parse_status(raw) -> str:
    """A LoggedModelStatus as a finalize request sends it: the enum name or its protobuf number."""
    if isinstance(raw, str) and raw in LoggedModelStatus.values:
        return raw
    if isinstance(raw, str) and raw.isdecimal():
        raw = int(raw)
    if isinstance(raw, int) and not isinstance(raw, bool) and raw in LOGGED_MODEL_STATUS_NUMBERS:
        return LOGGED_MODEL_STATUS_NUMBERS[raw]
    raise MlflowError(invalid_value("status", raw, f"Expected one of {sorted(LoggedModelStatus.values)}."))


def logged_model_finalize(*, user: User, model: LoggedModel, status: str) -> LoggedModel:
    """MLflow's finalize-logged-model: the upload ended (READY) or failed (LOGGED_MODEL_UPLOAD_FAILED)."""
    require(user, "logged_models", "change", model)
    with transaction.atomic():
        model.status = status
        model.updated_at = timezone.now()
        model.save(update_fields=["status", "updated_at"])
    return model


def logged_model_delete(*, user: User, model: LoggedModel) -> None:
    """MLflow's delete-logged-model: soft (the model leaves searches and reads; its files and rows stay)."""
    require(user, "logged_models", "delete", model)
    with transaction.atomic():
        model.lifecycle_stage = LifecycleStage.DELETED
        model.updated_at = timezone.now()
        model.save(update_fields=["lifecycle_stage", "updated_at"])


def logged_model_set_tags(*, user: User, model: LoggedModel, tags: Sequence[KeyValue]) -> None:
    """MLflow's set-logged-model-tags: each key set to its value (the last one when a key repeats)."""
    require(user, "logged_models", "change", model)
    tag_map = _check_key_values("tags", tags)
    with transaction.atomic():
        for key, value in sorted(tag_map.items()):  # a fixed lock order
            tag, created = LoggedModelTag.objects.get_or_create(model=model, key=key, defaults={"value": value})
            if not created and tag.value != value:
                tag.value = value
                tag.save(update_fields=["value"])


def logged_model_delete_tag(*, user: User, model: LoggedModel, key: str) -> None:
    require(user, "logged_models", "change", model)
    tag = LoggedModelTag.objects.filter(model=model, key=key).first()
    if tag is None:
        raise not_found(f"No tag with key {key!r} found for model with ID {model.model_id!r}.")
    tag.delete()


def logged_model_log_params(*, user: User, model: LoggedModel, params: Sequence[KeyValue]) -> None:
    """MLflow's log-logged-model-params: params are immutable (the same value again is accepted)."""
    require(user, "logged_models", "change", model)
    param_map = _check_key_values("params", params)
    with transaction.atomic():
        LoggedModel.objects.select_for_update(no_key=True).filter(pk=model.pk).exists()
        stored = dict(LoggedModelParam.objects.filter(model=model, key__in=list(param_map)).values_list("key", "value"))
        for key, value in param_map.items():
            if key in stored and stored[key] != value:
                raise MlflowError(
                    f"Changing param values is not allowed. Param with key='{key}' was already logged with "
                    f"value='{stored[key]}' for logged model ID='{model.model_id}'. Attempted logging new value "
                    f"'{value}'."
                )
        new = [LoggedModelParam(model=model, key=k, value=v) for k, v in param_map.items() if k not in stored]
        if new:
            audited_bulk_create(LoggedModelParam, new)


def models_for_ids(*, user: User, model_ids: Sequence[str]) -> dict[str, LoggedModel]:
    """The logged models (deleted ones too) ``user`` may see among ``model_ids``; RESOURCE_DOES_NOT_EXIST for the
    first one it may not see or that does not exist."""
    wanted = set(model_ids)
    found = {m.model_id: m for m in logged_model_list(user=user, include_deleted=True).filter(model_id__in=wanted)}
    for model_id in model_ids:
        if model_id not in found:
            raise not_found(f"Logged model with ID '{model_id}' not found.")
    return found


# ---------------------------------------------------------------------------------------------- run inputs, outputs


@dataclass(frozen=True)
class DatasetInput:
    """A dataset input of a ``log-inputs`` request, already type-checked by the view."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str
    profile: str
    tags: tuple[tuple[str, str], ...]


def _check_dataset(index: int, item: DatasetInput) -> None:
    path = f"datasets[{index}].dataset"
    for field, value, limit in (
        ("name", item.name, DATASET_NAME_MAX_LENGTH),
        ("digest", item.digest, DATASET_DIGEST_MAX_LENGTH),
        ("source_type", item.source_type, DATASET_SOURCE_TYPE_MAX_LENGTH),
        ("source", item.source, MAX_DATASET_SOURCE),
        ("schema", item.schema, MAX_DATASET_SCHEMA),
        ("profile", item.profile, MAX_DATASET_PROFILE),
    ):
        check_length(f"{path}.{field}", value, limit)
    for tag_index, (key, value) in enumerate(item.tags):
        check_length(f"datasets[{index}].tags[{tag_index}].key", key, MAX_INPUT_TAG_KEY)
        check_length(f"datasets[{index}].tags[{tag_index}].value", value, MAX_INPUT_TAG_VALUE)


def _datasets_of(project: Project, wanted: Sequence[DatasetInput]) -> dict[tuple[str, str], Dataset]:
    """The experiment's dataset rows for ``wanted`` (name, digest), created when missing: MLflow stores a dataset
    once per experiment, and the first stored source/schema/profile stays."""
    with connection.cursor() as cursor:  # creation of one experiment's datasets is serialised
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"mlflow-datasets:{project.pk}"])
    keys = {(item.name, item.digest) for item in wanted}
    existing = {
        (d.name, d.digest): d
        for d in Dataset.objects.filter(project=project, name__in={k[0] for k in keys}, digest__in={k[1] for k in keys})
    }
    new = [
        Dataset(
            project=project,
            name=item.name,
            digest=item.digest,
            source_type=item.source_type,
            source=item.source,
            schema=item.schema,
            profile=item.profile,
        )
        for item in wanted
        if (item.name, item.digest) not in existing
    ]
    if new:
        for dataset in audited_bulk_create(Dataset, new):
            existing[(dataset.name, dataset.digest)] = dataset
    return existing


def run_log_inputs(*, user: User, run: Run, datasets: Sequence[DatasetInput], model_ids: Sequence[str]) -> None:
    """MLflow's log-inputs: the datasets a run read (the first of each name and digest; a dataset already logged
    to the run is kept as it is) and the logged models it used. All or nothing."""
    require(user, "runs", "create", run)
    if len(datasets) > MAX_DATASETS_PER_CALL:
        raise MlflowError(f"A log-inputs request can contain at most {MAX_DATASETS_PER_CALL} datasets.")
    for index, item in enumerate(datasets):
        _check_dataset(index, item)
    check_run_active(run)
    models = models_for_ids(user=user, model_ids=model_ids)
    unique: dict[tuple[str, str], DatasetInput] = {}
    for item in datasets:
        unique.setdefault((item.name, item.digest), item)
    with transaction.atomic():
        _lock_run(run)
        if unique:
            rows = _datasets_of(run.project, list(unique.values()))
            logged = set(RunInput.objects.filter(run=run).values_list("dataset_id", flat=True))
            new = [
                RunInput(run=run, dataset=rows[key], tags=[list(tag) for tag in item.tags])
                for key, item in unique.items()
                if rows[key].pk not in logged
            ]
            if new:
                audited_bulk_create(RunInput, new)
        _link_models(run, [(models[model_id], ModelLinkKind.INPUT, 0) for model_id in dict.fromkeys(model_ids)])


def _link_models(run: Run, links: Sequence[tuple[LoggedModel, str, int]]) -> None:
    if not links:
        return
    existing = set(RunModelLink.objects.filter(run=run).values_list("model_id", "kind", "step"))
    new = [
        RunModelLink(run=run, model=model, kind=kind, step=step)
        for model, kind, step in dict.fromkeys(links)
        if (model.pk, kind, step) not in existing
    ]
    if new:
        audited_bulk_create(RunModelLink, new)


def run_log_outputs(*, user: User, run: Run, outputs: Sequence[tuple[str, int]]) -> None:
    """MLflow 3's log-outputs: the logged models a run produced, each at a step."""
    require(user, "runs", "create", run)
    check_run_active(run)
    models = models_for_ids(user=user, model_ids=[model_id for model_id, _ in outputs])
    with transaction.atomic():
        _lock_run(run)
        _link_models(run, [(models[model_id], ModelLinkKind.OUTPUT, step) for model_id, step in outputs])


_LOG_MODEL_FIELDS = ("run_id", "utc_time_created", "artifact_path", "model_uuid")


def run_log_model(*, user: User, run: Run, model_json: str) -> None:
    """MLflow 2's log-model: the model's metadata (``MLmodel`` as JSON) appended to the run's
    ``mlflow.log-model.history`` tag, as MLflow's ``record_logged_model`` does (flavors without their
    ``config``)."""
    require(user, "runs", "create", run)
    try:
        model = json.loads(model_json)
    except (ValueError, RecursionError):
        raise MlflowError(f"Malformed model info. \n {model_json[:1000]} \n is not a valid JSON.") from None
    if not isinstance(model, dict):
        raise MlflowError("Malformed model info: model_json must be a JSON object.")
    missing_fields = {"artifact_path", "flavors", "utc_time_created", "run_id"} - set(model)
    if missing_fields:
        raise MlflowError(f"Model json is missing mandatory fields: {sorted(missing_fields)}")
    flavors = model["flavors"] if isinstance(model["flavors"], dict) else {}
    entry = {key: model[key] for key in _LOG_MODEL_FIELDS if key in model}
    entry["flavors"] = {
        name: ({k: v for k, v in config.items() if k != "config"} if isinstance(config, dict) else config)
        for name, config in flavors.items()
    }
    check_run_active(run)
    with transaction.atomic():
        _lock_run(run)
        stored = run.tags.filter(key=LOG_MODEL_HISTORY_TAG).values_list("value", flat=True).first()
        try:
            history = json.loads(stored) if stored else []
        except ValueError:
            history = []
        history = [*history, entry] if isinstance(history, list) else [entry]
        value = json.dumps(history)
        if len(value) > TAG_VALUE_MAX_LENGTH:
            raise MlflowError(
                f"The run's {LOG_MODEL_HISTORY_TAG} tag would exceed {TAG_VALUE_MAX_LENGTH} characters; log fewer "
                "models to this run."
            )
        run_services.run_tag_set(run=run, key=LOG_MODEL_HISTORY_TAG, value=value)


# ---------------------------------------------------------------------------------------------- model metrics


def model_metrics_prepare(*, user: User, run: Run, items: Sequence, keys, values, steps, timestamps) -> list:
    """The rows of ``LoggedModelMetric`` for the metric points of a log-batch that name a ``model_id``.

    ``items`` are the batch's metric objects as sent; ``keys``/``values``/``steps``/``timestamps`` the same points
    as validated (same order). The models must be visible to ``user`` (RESOURCE_DOES_NOT_EXIST otherwise);
    ``dataset_name``/``dataset_digest`` must be strings within MLflow's limits. Nothing is written."""
    wanted = []
    for index, item in enumerate(items):
        model_id = item.get("model_id") if isinstance(item, dict) else None
        if model_id in (None, ""):
            continue
        if not isinstance(model_id, str) or len(model_id) > 36:
            raise MlflowError(invalid_value(f"metrics[{index}].model_id", model_id, "Expected a logged model id."))
        dataset = []
        for field, limit in (("dataset_name", DATASET_NAME_MAX_LENGTH), ("dataset_digest", DATASET_DIGEST_MAX_LENGTH)):
            value = item.get(field) or ""
            if not isinstance(value, str):
                raise MlflowError(invalid_value(f"metrics[{index}].{field}", value, "Expected a string."))
            check_length(f"metrics[{index}].{field}", value, limit)
            dataset.append(value)
        wanted.append((index, model_id, *dataset))
    if not wanted:
        return []
    models = models_for_ids(user=user, model_ids=[model_id for _, model_id, _, _ in wanted])
    rows, seen = [], set()
    for index, model_id, dataset_name, dataset_digest in wanted:
        identity = (model_id, keys[index], timestamps[index], steps[index])
        if identity in seen:  # MLflow's first point of an identity wins
            continue
        seen.add(identity)
        rows.append(
            LoggedModelMetric(
                model=models[model_id],
                run=run,
                key=keys[index],
                value=values[index],
                step=steps[index],
                timestamp=timestamps[index],
                dataset_name=dataset_name,
                dataset_digest=dataset_digest,
            )
        )
    return rows


def model_metrics_write(rows: Sequence[LoggedModelMetric]) -> None:
    """Store prepared model metric points; a point already stored (a retried batch) is skipped. Covered by the
    batch's own audit event."""
    if rows:
        LoggedModelMetric.objects.bulk_create(rows, ignore_conflicts=True)
