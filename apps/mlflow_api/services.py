"""Writes behind the MLflow API. MLflow's operations are mapped onto Maestro's own services — projects for
experiments, ``apps.metrics.services`` for runs, params, tags and metric batches — after the checks MLflow's server
makes (lifecycle state, name rules, limits) with MLflow's error codes and messages. Nothing here writes runs or
metrics on its own: ingest, immutability of params, idempotent retries and auditing are the native services'.

Permissions: every function takes the acting ``user`` and checks the object it acts on with
``apps.access.selectors.require`` (hidden objects were already turned into RESOURCE_DOES_NOT_EXIST by the
selectors; visible ones the user may not act on raise PermissionDenied → PERMISSION_DENIED).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.access.selectors import Decision, decide, require
from apps.accounts.models import User
from apps.audit.services import audited_bulk_create
from apps.metrics import services as run_services
from apps.metrics.models import PARAM_VALUE_MAX_LENGTH, TAG_VALUE_MAX_LENGTH, Run
from apps.metrics.validation import (
    MAX_METRICS_PER_BATCH,
    MAX_PARAMS_PER_BATCH,
    MAX_TAGS_PER_BATCH,
    key_problem,
    parse_log_batch,
)
from apps.mlflow_api import model_services
from apps.mlflow_api.models import EXPERIMENT_TAG_VALUE_MAX_LENGTH, Experiment, ExperimentTag
from apps.mlflow_api.protocol import (
    INVALID_STATE,
    RESOURCE_ALREADY_EXISTS,
    STATUS_FROM_MLFLOW,
    MlflowError,
    from_ms,
    invalid_value,
    not_found,
)
from apps.mlflow_api.selectors import (
    ACTIVE,
    DEFAULT_EXPERIMENT_NAME,
    DELETED,
    check_experiment_active,
    check_run_active,
    default_project,
    experiment_list,
    lifecycle_of,
)
from apps.projects import services as project_services
from apps.projects.models import Project

RUN_NAME_TAG = "mlflow.runName"
MAX_ENTITIES_PER_BATCH = 1000
MAX_EXPERIMENT_NAME_LENGTH = Project._meta.get_field("name").max_length  # MLflow allows 500; projects hold 200


# ---------------------------------------------------------------------------------------------- validation


def _check_name_key(name: str, path: str) -> None:
    """MLflow's key rule (``validate_param_and_metric_name`` + ``path_not_unique``), as Maestro checks keys."""
    if problem := key_problem(name):
        raise MlflowError(invalid_value(path, name, problem))


def _truncate(value: str, limit: int) -> str:
    """MLflow's server truncates over-long param and tag values (MLFLOW_TRUNCATE_LONG_VALUES, on by default)."""
    return value[:limit] if len(value) > limit else value


def _check_experiment_name(name: str) -> None:
    if not name:
        raise MlflowError(f"Invalid experiment name: '{name}'")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise MlflowError(f"'name' exceeds the maximum length of {MAX_EXPERIMENT_NAME_LENGTH} characters")


def _check_experiment_tag(key: str, value: str) -> None:
    _check_name_key(key, "key")
    if len(value) > EXPERIMENT_TAG_VALUE_MAX_LENGTH:
        raise MlflowError(f"'value' exceeds the maximum length of {EXPERIMENT_TAG_VALUE_MAX_LENGTH} characters")


def _name_lock(name: str) -> None:
    """Serialise creations and renames to one experiment name (experiment names are unique in MLflow; projects
    have no such constraint, so two concurrent set_experiment calls must not both create one)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"mlflow-experiment:{name}"])


def _name_taken(user: User, name: str, exclude_pk: int | None = None) -> bool:
    taken = experiment_list(user=user).filter(name=name)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    return taken.exists()


def _state_for_update(project: Project) -> Experiment:
    state, _ = Experiment.objects.select_for_update().get_or_create(project=project)
    return state


# ---------------------------------------------------------------------------------------------- experiments


def experiment_create(
    *, user: User, name: str, artifact_location: str = "", tags: Sequence[tuple[str, str]] = ()
) -> Project:
    """MLflow's create-experiment: a new project named ``name`` (RESOURCE_ALREADY_EXISTS when the user already
    sees an experiment of that name) with its MLflow state and tags."""
    _check_experiment_name(name)
    for key, value in tags:
        _check_experiment_tag(key, value)
    require(user, "projects", "create")
    with transaction.atomic():
        _name_lock(name)
        if _name_taken(user, name):
            raise MlflowError(f"Experiment(name={name}) already exists.", RESOURCE_ALREADY_EXISTS)
        project = project_services.project_create(user=user, data={"name": name, "status": "active"})
        Experiment.objects.create(project=project, artifact_location=artifact_location)
        last = {key: value for key, value in tags}
        audited_bulk_create(ExperimentTag, [ExperimentTag(project=project, key=k, value=v) for k, v in last.items()])
    return project


def default_experiment_ensure(*, user: User) -> Project | None:
    """The tenant's ``Default`` experiment (MLflow's experiment 0), created on first use by a user who may create
    projects; None when it does not exist and ``user`` may not create it."""
    project = default_project(user=user)
    if project is not None:
        return project
    if decide(user, "projects", "create") is not Decision.ALLOWED:
        return None
    try:
        with transaction.atomic():
            project = project_services.project_create(
                user=user, data={"name": DEFAULT_EXPERIMENT_NAME, "status": "active", "visibility": "tenant"}
            )
            Experiment.objects.create(project=project, is_default=True)
    except IntegrityError:  # created concurrently by another request
        return default_project(user=user)
    return project


def experiment_rename(*, user: User, project: Project, new_name: str) -> Project:
    require(user, "projects", "change", project)
    _check_experiment_name(new_name)
    if lifecycle_of(project) != ACTIVE:
        raise MlflowError("Cannot rename a non-active experiment.", INVALID_STATE)
    with transaction.atomic():
        _name_lock(new_name)
        if _name_taken(user, new_name, exclude_pk=project.pk):
            raise MlflowError(f"Experiment(name={new_name}) already exists.", RESOURCE_ALREADY_EXISTS)
        return project_services.project_update(project=project, user=user, data={"name": new_name})


def experiment_set_lifecycle(*, user: User, project: Project, stage: str) -> None:
    """MLflow's delete-experiment / restore-experiment: the experiment and all its runs move to the trash or back.
    The project itself stays in Maestro (delete it there to remove it and its runs for good)."""
    require(user, "projects", "delete", project)
    current = lifecycle_of(project)
    expected = ACTIVE if stage == DELETED else DELETED
    if current != expected:
        raise not_found(f"No Experiment with id={project.pk} exists")
    with transaction.atomic():
        state = _state_for_update(project)
        state.lifecycle_stage = stage
        state.save(update_fields=["lifecycle_stage", "updated_at"])
        run_services.runs_set_lifecycle(project=project, stage=stage)


def experiment_set_tag(*, user: User, project: Project, key: str, value: str) -> None:
    require(user, "projects", "change", project)
    _check_experiment_tag(key, value)
    check_experiment_active(project)
    with transaction.atomic():
        _state_for_update(project)
        tag = ExperimentTag.objects.filter(project=project, key=key).first()
        if tag is None:
            ExperimentTag.objects.create(project=project, key=key, value=value)
        elif tag.value != value:
            tag.value = value
            tag.save(update_fields=["value"])
        Experiment.objects.filter(project=project).update(updated_at=timezone.now())


def experiment_delete_tag(*, user: User, project: Project, key: str) -> None:
    require(user, "projects", "change", project)
    check_experiment_active(project)
    tag = ExperimentTag.objects.filter(project=project, key=key).first()
    if tag is None:
        raise not_found(f"No tag with name: {key} in experiment with id {project.pk}")
    tag.delete()


# ---------------------------------------------------------------------------------------------- runs


def run_create(
    *,
    user: User,
    project: Project,
    start_time: int | None,
    tags: Sequence[tuple[str, str]],
    run_name: str,
) -> Run:
    """MLflow's create-run: a running run in an active experiment. The name comes from ``run_name`` or the
    ``mlflow.runName`` tag (different values are refused, as MLflow does); without either, from the run id.
    The ``mlflow.runName`` tag is always set to the name."""
    check_experiment_active(project)
    require(user, "runs", "create", project)
    tag_map: dict[str, str] = {}
    for index, (key, value) in enumerate(tags):
        _check_name_key(key, f"tags[{index}].key")
        tag_map[key] = _truncate(value, TAG_VALUE_MAX_LENGTH)
    name_tag = tag_map.get(RUN_NAME_TAG)
    if run_name and name_tag and run_name != name_tag:
        raise MlflowError(
            "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values "
            f"(run_name='{run_name}', mlflow.runName='{name_tag}')."
        )
    name = (run_name or name_tag or "")[:250]
    start = from_ms("start_time", start_time) if start_time is not None else timezone.now()
    with transaction.atomic():
        run = run_services.run_create(user=user, project=project, name=name, start_time=start, tags=tag_map)
        if not name:
            # MLflow makes up a random name; Maestro names the run after its id, which is unique and stable.
            name = f"run-{run.uuid.hex[:8]}"
            run = run_services.run_update(run=run, name=name)
        if tag_map.get(RUN_NAME_TAG) != name:
            run_services.run_tag_set(run=run, key=RUN_NAME_TAG, value=name)
    return run


def run_update(*, user: User, run: Run, status: str | None, end_time: int | None, run_name: str | None) -> Run:
    """MLflow's update-run: status, end time and name (the name also rewrites the ``mlflow.runName`` tag)."""
    require(user, "runs", "change", run)
    check_run_active(run)
    changes: dict = {}
    if status is not None:
        if status not in STATUS_FROM_MLFLOW:
            raise MlflowError(invalid_value("status", status, f"Expected one of {sorted(STATUS_FROM_MLFLOW)}."))
        changes["status"] = STATUS_FROM_MLFLOW[status]
    if end_time is not None:
        changes["end_time"] = from_ms("end_time", end_time)
    if run_name:
        changes["name"] = run_name[:250]
    with transaction.atomic():
        if changes:
            run = run_services.run_update(run=run, **changes)
        if run_name:
            run_services.run_tag_set(run=run, key=RUN_NAME_TAG, value=_truncate(run_name, TAG_VALUE_MAX_LENGTH))
    return run


def run_set_lifecycle(*, user: User, run: Run, stage: str) -> None:
    """MLflow's delete-run (to the trash) and restore-run."""
    require(user, "runs", "delete", run)
    run_services.run_set_lifecycle(run=run, stage=stage)


def _param_conflict(run: Run, key: str, value: str) -> MlflowError:
    stored = run.params.filter(key=key).values_list("value", flat=True).first()
    return MlflowError(
        f"Changing param values is not allowed. Param with key='{key}' was already logged with value='{stored}' "
        f"for run ID='{run.uuid.hex}'. Attempted logging new value '{value}'."
    )


def log_param(*, user: User, run: Run, key: str, value: str) -> None:
    """MLflow's log-parameter: immutable; the same value again is accepted, another value is refused."""
    require(user, "runs", "create", run)
    _check_name_key(key, "key")
    value = _truncate(value, PARAM_VALUE_MAX_LENGTH)
    check_run_active(run)
    try:
        run_services.run_param_set(run=run, key=key, value=value)
    except ValidationError:
        raise _param_conflict(run, key, value) from None


def set_tag(*, user: User, run: Run, key: str, value: str) -> None:
    """MLflow's set-tag (last write wins); ``mlflow.runName`` renames the run."""
    require(user, "runs", "create", run)
    _check_name_key(key, "key")
    value = _truncate(value, TAG_VALUE_MAX_LENGTH)
    check_run_active(run)
    with transaction.atomic():
        run_services.run_tag_set(run=run, key=key, value=value)
        if key == RUN_NAME_TAG and value and value[:250] != run.name:
            run_services.run_update(run=run, name=value[:250])


def delete_tag(*, user: User, run: Run, key: str) -> None:
    require(user, "runs", "change", run)
    check_run_active(run)
    if not run_services.run_tag_delete(run=run, key=key):
        raise not_found(f"No tag with name: {key} in run with id {run.uuid.hex}")


# ---------------------------------------------------------------------------------------------- metric batches


@dataclass(frozen=True)
class BatchRequest:
    """A log-batch body as MLflow sends it: lists of metric, param and tag objects (not yet validated)."""

    metrics: list
    params: list
    tags: list


def _batch_limit(name: str, limit: int, length: int) -> None:
    if length > limit:
        raise MlflowError(
            f"A batch logging request can contain at most {limit} {name}. Got {length} {name}. Please split up "
            f"{name} across multiple requests and try again."
        )


_METRIC_FIELDS = frozenset({"key", "value", "timestamp", "step"})


def _native_metric(index: int, item) -> dict:
    """The metric as Maestro's batch parser takes it: MLflow's extra fields (model_id, dataset_name,
    dataset_digest, run_id) are left out — the run's history has no place for them; points naming a model are
    also stored for the model (``model_services.model_metrics_prepare``) — and numeric strings (protobuf's JSON
    accepts "0.5") become numbers."""
    if not isinstance(item, dict):
        raise MlflowError(invalid_value(f"metrics[{index}]", item, "A metric must be an object."))
    for name in ("key", "value", "timestamp"):
        if item.get(name) in (None, ""):
            raise MlflowError(f"Missing value for required parameter 'metrics[{index}].{name}'.")
    native = {name: item[name] for name in _METRIC_FIELDS if name in item}
    for name in ("value", "timestamp", "step"):
        raw = native.get(name)
        if isinstance(raw, str) and raw not in _NON_FINITE:
            try:
                native[name] = float(raw) if name == "value" else int(raw)
            except ValueError:
                raise MlflowError(invalid_value(f"metrics[{index}].{name}", raw)) from None
    return native


_NON_FINITE = frozenset({"NaN", "Infinity", "-Infinity", "nan", "inf", "-inf"})


def _key_values(kind: str, items: list, limit: int) -> list[dict]:
    """Params or tags with MLflow's rules: key required, value optional (empty), long values truncated."""
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise MlflowError(invalid_value(f"{kind}[{index}]", item, "Must be an object with key and value."))
        key = item.get("key")
        if key in (None, ""):
            raise MlflowError(f"Missing value for required parameter '{kind}[{index}].key'.")
        value = item.get("value")
        if value is None:
            value = ""
        if isinstance(value, str):
            value = _truncate(value, limit)
        out.append({"key": key, "value": value})
    return out


_ITEM_PATH = re.compile(r"^(metrics|params|tags)\[(\d+)\]\.(\w+)$")


def _to_mlflow_error(exc: ValidationError, items: dict[str, list]) -> MlflowError:
    """Maestro's batch validation errors (``metrics[3].value: …``) in MLflow's message form, with the value."""
    by_path = exc.error_dict if hasattr(exc, "error_dict") else {"__all__": exc.error_list}
    problems = []
    for path, errors in by_path.items():
        for error in errors:
            for message in error.messages:
                match = _ITEM_PATH.match(path)
                if match:
                    item = items[match[1]][int(match[2])]
                    value = item.get(match[3]) if isinstance(item, dict) else item
                    problems.append(invalid_value(path, value, message))
                else:
                    problems.append(message if path == "__all__" else f"{path}: {message}")
    return MlflowError(" ".join(problems[:5]))


def log_batch(*, user: User, run: Run, batch: BatchRequest) -> run_services.BatchResult:
    """MLflow's log-batch, validated as MLflow validates it (per-item rules, then the 1000/100/100 limits and at
    most 1000 entities in total, then unique param keys), written by Maestro's ingest service all or nothing.
    A param already stored with another value fails the whole batch with MLflow's message."""
    require(user, "metrics", "create", run)
    params = _key_values("params", batch.params, PARAM_VALUE_MAX_LENGTH)
    tags = _key_values("tags", batch.tags, TAG_VALUE_MAX_LENGTH)
    _batch_limit("metrics", MAX_METRICS_PER_BATCH, len(batch.metrics))
    _batch_limit("params", MAX_PARAMS_PER_BATCH, len(params))
    _batch_limit("tags", MAX_TAGS_PER_BATCH, len(tags))
    _batch_limit("metrics, params, and tags", MAX_ENTITIES_PER_BATCH, len(batch.metrics) + len(params) + len(tags))
    keys = [param["key"] for param in params]
    if len(set(keys)) != len(keys):
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        raise MlflowError(
            f"Duplicate parameter keys have been submitted: {duplicates}. Please ensure the request contains "
            "only one param value per param key."
        )
    try:
        # The metrics as MLflow's client sends them are already in the shape Maestro's parser takes.
        parsed = parse_log_batch({"metrics": batch.metrics, "params": params, "tags": tags})
    except ValidationError:
        # Anything else (MLflow's extra fields, numbers as strings, missing fields): normalise, then report
        # the problems of what is left in MLflow's words.
        items = {
            "metrics": [_native_metric(i, item) for i, item in enumerate(batch.metrics)],
            "params": params,
            "tags": tags,
        }
        try:
            parsed = parse_log_batch(items)
        except ValidationError as exc:
            raise _to_mlflow_error(exc, items) from None
    if parsed.metric_timestamps and min(parsed.metric_timestamps) < 0:
        index = next(i for i, timestamp in enumerate(parsed.metric_timestamps) if timestamp < 0)
        raise MlflowError(
            invalid_value(
                f"metrics[{index}].timestamp", parsed.metric_timestamps[index], "Timestamp must be a nonnegative long."
            )
        )
    check_run_active(run)
    model_metrics = model_services.model_metrics_prepare(
        user=user,
        run=run,
        items=batch.metrics,
        keys=parsed.metric_keys,
        values=parsed.metric_values,
        steps=parsed.metric_steps,
        timestamps=parsed.metric_timestamps,
    )
    new_name = (parsed.tags.get(RUN_NAME_TAG) or "")[:250]
    try:
        if (new_name and new_name != run.name) or model_metrics:
            # the mlflow.runName tag renames the run, and points naming a logged model are also stored for the
            # model: in the same transaction as the batch
            with transaction.atomic():
                result = run_services.run_log_batch(run=run, batch=parsed)
                if new_name and new_name != run.name:
                    run_services.run_update(run=run, name=new_name)
                model_services.model_metrics_write(model_metrics)
        else:
            result = run_services.run_log_batch(run=run, batch=parsed)
    except ValidationError:
        conflicts = [
            {"key": key, "old_value": stored, "new_value": parsed.params[key][1]}
            for key, stored in run.params.filter(key__in=list(parsed.params)).values_list("key", "value")
            if stored != parsed.params[key][1]
        ]
        raise MlflowError(
            f"Changing param values is not allowed. Params were already logged='{conflicts}' for run "
            f"ID='{run.uuid.hex}'."
        ) from None
    return result


def log_metric(
    *, user: User, run: Run, key: str, value, timestamp: int, step: int, model: dict | None = None
) -> run_services.BatchResult:
    """MLflow's log-metric: a batch of one point through the same ingest path. ``model`` holds the point's
    ``model_id``/``dataset_name``/``dataset_digest`` when the client sent them (MLflow 3)."""
    point = {"key": key, "value": value, "timestamp": timestamp, "step": step, **(model or {})}
    return log_batch(user=user, run=run, batch=BatchRequest([point], [], []))
