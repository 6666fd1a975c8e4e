"""MLflow's rules and JSON shapes for logged models, datasets and the model registry, as the pinned MLflow server
checks and renders them (``mlflow/utils/validation.py``, ``mlflow/server/handlers.py``, the entities'
``to_proto``): name, alias and version rules with MLflow's messages, and the representations a client parses.

Like ``protocol.py`` (runs and experiments) it has no dependency on the ``mlflow`` package and no ORM queries: it
receives rows already loaded and permission-checked.
"""

from __future__ import annotations

import posixpath
import re
import urllib.parse
from collections.abc import Iterable, Sequence
from typing import Any

from apps.metrics.validation import float64_to_json
from apps.mlflow_api.choices import ModelStage
from apps.mlflow_api.protocol import MlflowError, invalid_value, missing, to_ms

# ---------------------------------------------------------------------------------------------- names and values

_ALIAS = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS = re.compile(r"^[vV]\d+$")
LATEST_ALIAS = "latest"
_LOGGED_MODEL_NAME_BAD_CHARS = ("/", ":", ".", "%", '"', "'")
STAGES = [stage.value for stage in ModelStage]  # None, Staging, Production, Archived
ACTIVE_STAGES = (ModelStage.STAGING.value, ModelStage.PRODUCTION.value)  # get-latest-versions' default


def _path_not_unique(name: str) -> bool:
    norm = posixpath.normpath(name)
    return norm != str(name) or norm == "." or norm.startswith("..") or norm.startswith("/")


def check_model_name(name: str, field: str = "name") -> None:
    """MLflow's ``_validate_model_name`` (registered models): not blank, no ``/`` or ``:``, a path that does not
    resolve to another name."""
    if not name or not name.strip():
        raise missing(field)
    if "/" in name or ":" in name:
        raise MlflowError(f"Invalid model name '{name}'. Names cannot contain '/' or ':'.")
    if _path_not_unique(name):
        raise MlflowError(
            invalid_value(
                field,
                name,
                "Names may be treated as files in certain cases, and must not resolve to other names when treated "
                f"as such. This name would resolve to {posixpath.normpath(name)!r}",
            )
        )


def check_logged_model_name(name: str) -> None:
    """MLflow's ``_validate_logged_model_name``."""
    if any(char in name for char in _LOGGED_MODEL_NAME_BAD_CHARS):
        raise MlflowError(
            f"Invalid model name ({name!r}) provided. Model name must be a non-empty string and cannot contain the "
            f"following characters: {_LOGGED_MODEL_NAME_BAD_CHARS}"
        )


def check_alias(alias: str, *, for_write: bool) -> None:
    """MLflow's alias rules: ``[\\w-]``, at most 255 characters; ``latest`` and ``v<N>`` are reserved for writes."""
    if not alias:
        raise MlflowError("Registered model alias name cannot be empty.")
    if not _ALIAS.match(alias):
        raise MlflowError(
            f"Invalid alias name: '{alias}'. Names may only contain alphanumerics, underscores (_), and dashes (-)."
        )
    if len(alias) > 255:
        raise MlflowError("'Registered model alias name' exceeds the maximum length of 255 characters")
    if for_write:
        if alias.lower() == LATEST_ALIAS:
            raise MlflowError("'latest' alias name (case insensitive) is reserved.")
        if _VERSION_ALIAS.match(alias):
            raise MlflowError(f"Version alias name '{alias}' is reserved.")


def parse_version(raw: Any, field: str = "version") -> int:
    """A model version number as MLflow parses it (``int(value)``), within the range a version can have."""
    text = str(raw).strip() if isinstance(raw, (str, int)) and not isinstance(raw, bool) else None
    if text is None or not re.fullmatch(r"[-+]?\d{1,18}", text):
        raise MlflowError(f"Parameter '{field}' must be an integer, got '{raw}'.")
    return int(text)


def canonical_stage(stage: str) -> str:
    """MLflow's ``get_canonical_stage``: case-insensitive, one of None/Staging/Production/Archived."""
    for known in STAGES:
        if known.lower() == stage.lower():
            return known
    raise MlflowError(f"Invalid Model Version stage: {stage}. Value must be one of {', '.join(STAGES)}.")


def check_length(field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise MlflowError(f"'{field}' exceeds the maximum length of {limit} characters")


# ---------------------------------------------------------------------------------------------- model URIs


def parse_models_uri(uri: str) -> tuple[str | None, str | None, str | None, str | None]:
    """``models:/`` URIs as MLflow parses them (``_parse_model_uri``): (model_id, name, version, alias) with
    exactly one of model_id or name set. ``models:/m-…`` is a logged model; ``models:/name/3`` a version;
    ``models:/name@alias`` an alias; ``models:/name/Staging`` a stage (returned as ``version`` = the stage name)."""
    parsed = urllib.parse.urlparse(uri)
    path = parsed.path
    if parsed.scheme != "models" or parsed.netloc or not path.startswith("/") or len(path) <= 1:
        raise MlflowError(
            f"Not a proper models:/ URI: {uri}. Models URIs must be of the form 'models:/model_name/"
            "suffix' or 'models:/model_name@alias' where suffix is a model version, stage, or the "
            "string 'latest' and where alias is a registered model alias. Only one of suffix or alias "
            "can be defined at a time."
        )
    parts = path.lstrip("/").split("/")
    if len(parts) == 1:
        if "@" in parts[0]:
            name, alias = parts[0].split("@", 1)
            if name and alias:
                return None, name, None, alias
        elif parts[0].startswith("m-"):
            return parts[0], None, None, None
    elif len(parts) == 2 and parts[0] and parts[1] and "@" not in parts[0]:
        return None, parts[0], parts[1], None
    raise MlflowError(
        f"Not a proper models:/ URI: {uri}. Models URIs must be of the form 'models:/model_name/"
        "suffix' or 'models:/model_name@alias' where suffix is a model version, stage, or the string "
        "'latest' and where alias is a registered model alias. Only one of suffix or alias can be "
        "defined at a time."
    )


def has_relative_parts(source: str) -> bool:
    """MLflow's check that a model version source holds no relative path references (``..``, NUL, non-canonical
    paths after repeated URL-decoding), which could reach files outside the run's or model's artifacts."""
    while (unquoted := urllib.parse.unquote_plus(source)) != source:
        source = unquoted
    path = re.sub(r"/+", "/", urllib.parse.urlparse(source).path.rstrip("/"))
    if "\x00" in path or any(part == ".." for part in source.split("/")):
        return True
    return posixpath.normpath(path) != path if path else False


def uri_within(source: str, root: str) -> bool:
    """Whether ``source`` lies under ``root`` (same scheme and authority, root's path segments a prefix)."""

    def parts(uri: str):
        split = urllib.parse.urlsplit(uri)
        segments = tuple(urllib.parse.unquote(p) for p in split.path.split("/") if p)
        return split.scheme.lower(), split.netloc.lower(), segments

    s_scheme, s_host, s_path = parts(source)
    r_scheme, r_host, r_path = parts(root)
    return s_scheme == r_scheme and s_host == r_host and bool(r_path) and s_path[: len(r_path)] == r_path


def invalid_source(source: str, id_name: str) -> MlflowError:
    return MlflowError(
        f"Invalid model version source: '{source}'. The {id_name} request parameter must identify the resource "
        "that contains the source."
    )


# ---------------------------------------------------------------------------------------------- representations


def key_value_list(items: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in items]


def model_metric_json(metric) -> dict[str, Any]:
    """A metric of a logged model (a ``LoggedModelMetric`` with ``model`` and ``run`` joined), as MLflow's
    ``Metric``."""
    body: dict[str, Any] = {
        "key": metric.key,
        "value": float64_to_json(metric.value),
        "timestamp": metric.timestamp,
        "step": metric.step,
    }
    if metric.dataset_name:
        body["dataset_name"] = metric.dataset_name
    if metric.dataset_digest:
        body["dataset_digest"] = metric.dataset_digest
    body["model_id"] = metric.model.model_id
    body["run_id"] = metric.run.uuid.hex
    return body


def logged_model_json(model, tags: Sequence, params: Sequence, metrics: Sequence) -> dict[str, Any]:
    """A ``LoggedModel``: ``info`` (identity, status, artifact URI, tags) and ``data`` (params, metrics)."""
    info: dict[str, Any] = {
        "model_id": model.model_id,
        "experiment_id": str(model.project_id),
        "name": model.name,
        "creation_timestamp_ms": to_ms(model.created_at),
        "last_updated_timestamp_ms": to_ms(model.updated_at),
        "artifact_uri": model.artifact_location,
        "status": model.status,
        "model_type": model.model_type,
    }
    if model.source_run_id is not None:
        info["source_run_id"] = model.source_run.uuid.hex
    if model.status_message:
        info["status_message"] = model.status_message
    if tags:
        info["tags"] = key_value_list((tag.key, tag.value) for tag in tags)
    data: dict[str, Any] = {}
    if params:
        data["params"] = key_value_list((param.key, param.value) for param in params)
    if metrics:
        data["metrics"] = [model_metric_json(metric) for metric in metrics]
    return {"info": info, "data": data}


def dataset_input_json(run_input) -> dict[str, Any]:
    """A run's dataset input (``RunInput`` with ``dataset`` joined)."""
    dataset = run_input.dataset
    body: dict[str, Any] = {
        "name": dataset.name,
        "digest": dataset.digest,
        "source_type": dataset.source_type,
        "source": dataset.source,
    }
    if dataset.schema:
        body["schema"] = dataset.schema
    if dataset.profile:
        body["profile"] = dataset.profile
    out: dict[str, Any] = {}
    if run_input.tags:
        out["tags"] = key_value_list((key, value) for key, value in run_input.tags)
    out["dataset"] = body
    return out


def model_version_json(version, *, name: str, description: str, tags: Sequence, aliases: Sequence[str]) -> dict:
    """A ``ModelVersion`` (``run``, ``created_by`` joined); ``name`` and ``description`` come from the library
    artifact and artifact version it is."""
    body: dict[str, Any] = {
        "name": name,
        "version": str(version.version),
        "creation_timestamp": to_ms(version.created_at),
        "last_updated_timestamp": to_ms(version.updated_at),
    }
    if version.created_by_id is not None:
        body["user_id"] = version.created_by.username
    body["current_stage"] = version.stage
    body["description"] = description
    body["source"] = version.source
    if version.run_id is not None:
        body["run_id"] = version.run.uuid.hex
    body["status"] = "READY"
    if tags:
        body["tags"] = key_value_list((tag.key, tag.value) for tag in tags)
    body["run_link"] = version.run_link
    if aliases:
        body["aliases"] = list(aliases)
    return body


def registered_model_json(
    registered, *, name: str, description: str, created, tags: Sequence, aliases: Sequence, latest: Sequence[dict]
) -> dict[str, Any]:
    """A ``RegisteredModel``: name and description from its artifact, the latest version per stage, tags and
    aliases (``alias`` → version)."""
    body: dict[str, Any] = {
        "name": name,
        "creation_timestamp": to_ms(created),
        "last_updated_timestamp": to_ms(registered.updated_at),
    }
    if description:
        body["description"] = description
    if latest:
        body["latest_versions"] = list(latest)
    if tags:
        body["tags"] = key_value_list((tag.key, tag.value) for tag in tags)
    if aliases:
        body["aliases"] = [{"alias": alias, "version": str(version)} for alias, version in aliases]
    return body
