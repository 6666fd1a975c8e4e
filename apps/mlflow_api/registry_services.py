"""Writes of the model registry: registered models, versions, tags, aliases and (deprecated) stages, with MLflow's
rules and messages — and their place in Maestro's artifact library.

One library: a registered model is created as an artifact of type ``model`` (through ``apps.artifacts.services``,
so quotas, the creator's *manage* grant and auditing apply as to any artifact), and each version as the artifact
version ``N.0.0`` whose content is the folder the model's files are in (``storage_prefix``; nothing is copied).
Renaming or describing the registered model renames or describes the artifact; a version's description is the
library version's changelog; deleting either goes through the library's delete, which refuses while a project uses
the artifact. Projects record reuse (usages), the dashboard shows usage and impact, and the success model learns
from them exactly as for any other artifact.

Permissions: each function checks the acting ``user`` against the ``registered_models`` / ``model_versions`` rows
of the matrix on the registered model's artifact. The run or logged model a version comes from must be visible to
the user (looked up through the permission-scoped selectors).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from apps.access.selectors import require
from apps.accounts.models import User
from apps.artifacts import services as artifact_services
from apps.artifacts.choices import ArtifactType
from apps.artifacts.models import Artifact
from apps.metrics.models import Run
from apps.mlflow_api import model_services
from apps.mlflow_api.model_selectors import logged_model_get
from apps.mlflow_api.models import (
    MODEL_SOURCE_MAX_LENGTH,
    REGISTRY_TAG_VALUE_MAX_LENGTH,
    LoggedModel,
    LoggedModelTag,
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelAlias,
    RegisteredModelTag,
)
from apps.mlflow_api.protocol import RESOURCE_ALREADY_EXISTS, MlflowError
from apps.mlflow_api.registry_protocol import (
    ACTIVE_STAGES,
    canonical_stage,
    check_alias,
    check_length,
    check_model_name,
    has_relative_parts,
    invalid_source,
    parse_models_uri,
    uri_within,
)
from apps.mlflow_api.registry_selectors import (
    latest_versions,
    model_version_by_alias,
    model_version_get,
    registered_model_get,
)
from apps.mlflow_api.selectors import artifact_locations, run_get

REGISTERED_MODEL_NAME_MAX_LENGTH = Artifact._meta.get_field("name").max_length  # MLflow allows 256; artifacts 200
MODEL_VERSIONS_TAG = "mlflow.modelVersions"  # on a logged model: the versions registered from it
MLFLOW_STORAGE_ROOT = "mlflow"  # MLflow artifacts live under this key of the tenant's storage (maestro.storage)
_ARTIFACTS_ROUTE = ("api", "2.0", "mlflow-artifacts", "artifacts")


def _now():
    return timezone.now()


def _check_tags(tags: Sequence[tuple[str, str]], path: str = "tags") -> dict[str, str]:
    """MLflow's registry tag rules: keys by the key rule, values at most 100,000 characters; last value wins."""
    out: dict[str, str] = {}
    for index, (key, value) in enumerate(tags):
        model_services.check_key(key, f"{path}[{index}].key")
        check_length(f"{path}[{index}].value", value, REGISTRY_TAG_VALUE_MAX_LENGTH)
        out[key] = value
    return out


def _name_lock(name: str) -> None:
    """Serialise creations and renames to one name (the library's artifact names are unique)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"mlflow-registered-model:{name}"])


def _check_name_free(name: str) -> None:
    artifact = Artifact.objects.filter(name=name).select_related("registered_model").first()
    if artifact is None:
        return
    if hasattr(artifact, "registered_model"):
        raise MlflowError(f"Registered Model (name={name}) already exists.", RESOURCE_ALREADY_EXISTS)
    raise MlflowError(
        f"Registered Model (name={name}) cannot be created: the artifact library already has an artifact named "
        f"'{name}', and a registered model is an artifact of the library. Choose another name.",
        RESOURCE_ALREADY_EXISTS,
    )


def _check_registered_name(name: str, field: str = "name") -> None:
    check_model_name(name, field)
    check_length(field, name, REGISTERED_MODEL_NAME_MAX_LENGTH)


# ---------------------------------------------------------------------------------------------- registered models


def registered_model_create(
    *, user: User, name: str, description: str, tags: Sequence[tuple[str, str]]
) -> RegisteredModel:
    """MLflow's create-registered-model: a new artifact of type ``model`` in the library (the user becomes its
    owner) and its registry row; RESOURCE_ALREADY_EXISTS when the name is taken by a registered model or by another
    artifact of the library."""
    _check_registered_name(name)
    tag_map = _check_tags(tags)
    require(user, "registered_models", "create")
    with transaction.atomic():
        _name_lock(name)
        _check_name_free(name)
        artifact = artifact_services.artifact_create(
            user=user, data={"name": name, "type": ArtifactType.MODEL, "description": description or ""}
        )
        registered = RegisteredModel.objects.create(artifact=artifact)
        for key, value in tag_map.items():
            RegisteredModelTag.objects.create(registered_model=registered, key=key, value=value)
    return registered


def _touch(registered: RegisteredModel) -> None:
    RegisteredModel.objects.filter(pk=registered.pk).update(updated_at=_now())


def registered_model_update(*, user: User, registered: RegisteredModel, description: str) -> RegisteredModel:
    """MLflow's update-registered-model: the description (the library artifact's)."""
    require(user, "registered_models", "change", registered)
    with transaction.atomic():
        artifact_services.artifact_update(artifact=registered.artifact, data={"description": description or ""})
        _touch(registered)
    registered.refresh_from_db()
    return registered


def registered_model_rename(*, user: User, registered: RegisteredModel, new_name: str) -> RegisteredModel:
    """MLflow's rename-registered-model: the artifact is renamed; ``models:/<old name>/…`` URIs stop resolving."""
    _check_registered_name(new_name, "new_name")
    require(user, "registered_models", "change", registered)
    with transaction.atomic():
        _name_lock(new_name)
        if new_name != registered.artifact.name:
            _check_name_free(new_name)
        artifact_services.artifact_update(artifact=registered.artifact, data={"name": new_name})
        now = _now()
        RegisteredModel.objects.filter(pk=registered.pk).update(updated_at=now)
        ModelVersion.objects.filter(registered_model=registered).update(updated_at=now)
    registered.refresh_from_db()
    registered.artifact.refresh_from_db()
    return registered


def registered_model_delete(*, user: User, registered: RegisteredModel) -> None:
    """MLflow's delete-registered-model: the artifact with all its versions, tags and aliases. Refused while a
    project of the library uses one of its versions (remove those usages first). The model files stay where the
    runs and logged models that wrote them keep them."""
    require(user, "registered_models", "delete", registered)
    artifact_services.artifact_delete(artifact=registered.artifact)


def registered_model_set_tag(*, user: User, registered: RegisteredModel, key: str, value: str) -> None:
    require(user, "registered_models", "change", registered)
    _check_tags([(key, value)], "tag")
    with transaction.atomic():
        RegisteredModelTag.objects.update_or_create(registered_model=registered, key=key, defaults={"value": value})


def registered_model_delete_tag(*, user: User, registered: RegisteredModel, key: str) -> None:
    """Delete a tag; a missing tag is not an error (MLflow's behaviour)."""
    require(user, "registered_models", "change", registered)
    model_services.check_key(key, "key")
    tag = RegisteredModelTag.objects.filter(registered_model=registered, key=key).first()
    if tag is not None:
        tag.delete()


def alias_set(*, user: User, registered: RegisteredModel, alias: str, version: ModelVersion) -> None:
    """MLflow's set-registered-model-alias: ``alias`` now points at ``version`` (moved if it pointed elsewhere)."""
    check_alias(alias, for_write=True)
    require(user, "registered_models", "change", registered)
    with transaction.atomic():
        RegisteredModelAlias.objects.update_or_create(
            registered_model=registered, alias=alias, defaults={"version": version}
        )


def alias_delete(*, user: User, registered: RegisteredModel, alias: str) -> None:
    check_alias(alias, for_write=False)
    require(user, "registered_models", "change", registered)
    found = RegisteredModelAlias.objects.filter(registered_model=registered, alias=alias).first()
    if found is not None:
        found.delete()


# ---------------------------------------------------------------------------------------------- model versions


@dataclass(frozen=True)
class Lineage:
    """Where a new version comes from, resolved and permission-checked."""

    source: str
    storage_location: str
    run: Run | None
    logged_model: LoggedModel | None


def storage_key_of(uri: str) -> str:
    """The key in the tenant's storage of an ``mlflow-artifacts:/…`` URI (the MLflow artifact proxy stores
    ``mlflow-artifacts:/<path>`` under ``mlflow/<path>``); "" for a URI outside Maestro's storage."""
    parsed = urllib.parse.urlparse(uri)
    path = urllib.parse.unquote(parsed.path).strip("/")
    if parsed.scheme != "mlflow-artifacts" or parsed.netloc or not path or has_relative_parts(uri):
        return ""
    return f"{MLFLOW_STORAGE_ROOT}/{path}"


def _is_mlflow_artifact_source(source: str) -> bool:
    parsed = urllib.parse.urlsplit(source)
    if parsed.scheme.lower() == "mlflow-artifacts":
        return True
    parts = tuple(urllib.parse.unquote(part) for part in parsed.path.split("/") if part)
    return parsed.scheme.lower() in ("http", "https") and any(
        parts[i : i + 4] == _ARTIFACTS_ROUTE for i in range(len(parts) - 3)
    )


def _run_artifact_uri(run: Run) -> str:
    return f"{artifact_locations([run.project_id])[run.project_id].rstrip('/')}/{run.uuid.hex}/artifacts"


def _source_run(user: User, run_id: str, source: str) -> Run:
    try:
        return run_get(user=user, run_id=run_id)
    except MlflowError:
        raise invalid_source(source, "run_id") from None


def _source_model(user: User, model_id: str, source: str) -> LoggedModel:
    try:
        return logged_model_get(user=user, model_id=model_id)
    except MlflowError:
        raise invalid_source(source, "model_id") from None


def _resolve_lineage(
    *, user: User, source: str, run_id: str, model_id: str, has_run_id: bool, has_model_id: bool
) -> Lineage:
    """MLflow's source rules for a new version (``_resolve_registered_model_source_lineage``,
    ``_validate_source_run``/``_validate_source_model``): ``models:/<model_id>`` (a logged model), ``models:/<name>/
    <version>`` (copied from another version), ``runs:/<run_id>/<path>`` and ``mlflow-artifacts`` URIs inside the
    run's or model's artifacts; local paths are refused (Maestro's runs keep no local artifacts); sources elsewhere
    (``s3://…``) are recorded as given. Every run and model named must be visible to ``user``."""
    parsed = urllib.parse.urlparse(source)
    scheme = parsed.scheme.lower()
    if scheme == "models":
        if parsed.netloc:
            raise MlflowError(
                f"Invalid model version source: '{source}'. Registered model sources must use the active model "
                "registry."
            )
        try:
            source_model_id, name, version, alias = parse_models_uri(source)
        except MlflowError:
            raise invalid_source(source, "model_id") from None
        if source_model_id is None:  # models:/<name>/<version|stage|latest> or models:/<name>@<alias>
            origin = _version_for_uri(user, name, version, alias)
            origin_run_id = origin.run.uuid.hex if origin.run_id else ""
            origin_model_id = origin.logged_model.model_id if origin.logged_model_id else ""
            if (has_run_id and (run_id or "") != origin_run_id) or (
                has_model_id and (model_id or "") != origin_model_id
            ):
                raise MlflowError(
                    f"Invalid model version source: '{source}'. The run_id and model_id request parameters must "
                    "match the referenced model version."
                )
            return Lineage(f"models:/{name}/{origin.version}", origin.storage_location, origin.run, origin.logged_model)
        if source_model_id != model_id:  # MLflow requires the model_id parameter to name the same model
            raise invalid_source(source, "model_id")
        model = _source_model(user, source_model_id, source)
        run = _source_run(user, run_id, source) if run_id else model.source_run
        return Lineage(source, model.artifact_location, run, model)
    if has_relative_parts(source):
        raise MlflowError(
            f"Invalid model version source: '{source}'. If supplying a source as an http, https, local file path, "
            "ftp, objectstore, or mlflow-artifacts uri, an absolute path must be provided without relative path "
            "references present. Please provide an absolute path."
        )
    if model_id:
        model = _source_model(user, model_id, source)
        if scheme == "runs" or (_is_mlflow_artifact_source(source) and not uri_within(source, model.artifact_location)):
            raise invalid_source(source, "model_id")
        if scheme in ("", "file"):
            raise _local_source(source, "model_id")
        run = _source_run(user, run_id, source) if run_id else model.source_run
        return Lineage(source, source, run, model)
    if scheme in ("", "file"):
        raise _local_source(source, "run_id")
    run = _source_run(user, run_id, source) if run_id else None
    if scheme == "runs":
        if parsed.netloc or run is None or parsed.path.lstrip("/").split("/", 1)[0] != run.uuid.hex:
            raise invalid_source(source, "run_id")
        return Lineage(source, source, run, None)
    if _is_mlflow_artifact_source(source) and (run is None or not uri_within(source, _run_artifact_uri(run))):
        raise invalid_source(source, "run_id")
    return Lineage(source, source, run, None)


def _local_source(source: str, id_name: str) -> MlflowError:
    return MlflowError(
        f"Invalid model version source: '{source}'. To use a local path as a model version source, the {id_name} "
        f"request parameter has to be specified and the local path has to be contained within the artifact "
        f"directory of the {'run' if id_name == 'run_id' else 'model'} specified by the {id_name}."
    )


def _version_for_uri(user: User, name: str, version: str | None, alias: str | None) -> ModelVersion:
    """The version a ``models:/<name>/<version|stage|latest>`` or ``models:/<name>@<alias>`` URI names."""
    if alias is not None:
        return model_version_by_alias(user=user, name=name, alias=alias)
    if version is not None and version.isdecimal():
        return model_version_get(user=user, name=name, version=version)
    registered = registered_model_get(user=user, name=name)
    stages = None if version.lower() == "latest" else [canonical_stage(version)]
    candidates = [v for versions in latest_versions([registered.pk], stages).values() for v in versions]
    if not candidates:
        raise MlflowError(f"No versions of model with name '{name}' and stage '{version}' found")
    return max(candidates, key=lambda v: v.version)


def library_prefix(lineage: Lineage) -> str:
    """The folder of the tenant's storage holding the version's files, for the library ("" when the files are not
    in Maestro's storage, e.g. an ``s3://`` source)."""
    location = lineage.storage_location
    if location.startswith("runs:/") and lineage.run is not None:
        path = location[len("runs:/") :].split("/", 1)
        location = _run_artifact_uri(lineage.run) + (f"/{path[1]}" if len(path) > 1 and path[1] else "")
    return storage_key_of(location)


def model_version_create(
    *,
    user: User,
    registered: RegisteredModel,
    source: str,
    run_id: str,
    model_id: str,
    has_run_id: bool,
    has_model_id: bool,
    run_link: str,
    description: str,
    tags: Sequence[tuple[str, str]],
) -> ModelVersion:
    """MLflow's create-model-version: the next version number of ``registered`` (numbers of deleted versions are
    not reused), its source resolved and checked as MLflow does, and the matching artifact version ``N.0.0`` in the
    library pointing at the model's files. A version made from a logged model is also listed on that model (its
    ``mlflow.modelVersions`` tag, as MLflow records it)."""
    check_length("source", source, MODEL_SOURCE_MAX_LENGTH)
    check_length("run_link", run_link, MODEL_SOURCE_MAX_LENGTH)
    tag_map = _check_tags(tags)
    require(user, "model_versions", "create", registered)
    lineage = _resolve_lineage(
        user=user, source=source, run_id=run_id, model_id=model_id, has_run_id=has_run_id, has_model_id=has_model_id
    )
    check_length("source", lineage.source, MODEL_SOURCE_MAX_LENGTH)
    with transaction.atomic():
        locked = RegisteredModel.objects.select_for_update().select_related("artifact").get(pk=registered.pk)
        number = locked.last_version + 1
        artifact_version = artifact_services.artifact_version_create(
            artifact=locked.artifact,
            version=f"{number}.0.0",
            changelog=description or "",
            storage_prefix=library_prefix(lineage),
            user=user,
        )
        now = _now()
        version = ModelVersion.objects.create(
            registered_model=locked,
            artifact_version=artifact_version,
            version=number,
            source=lineage.source,
            storage_location=lineage.storage_location,
            run=lineage.run,
            logged_model=lineage.logged_model,
            run_link=run_link,
            created_by=user,
            created_at=now,
            updated_at=now,
        )
        for key, value in tag_map.items():
            ModelVersionTag.objects.create(version=version, key=key, value=value)
        RegisteredModel.objects.filter(pk=locked.pk).update(last_version=number, updated_at=now)
        if lineage.logged_model is not None:
            _list_on_logged_model(lineage.logged_model, locked.artifact.name, number)
    return version


def _list_on_logged_model(model: LoggedModel, name: str, number: int) -> None:
    """Append {name, version} to the logged model's ``mlflow.modelVersions`` tag (MLflow's
    ``set_model_versions_tags``)."""
    LoggedModel.objects.select_for_update(no_key=True).filter(pk=model.pk).exists()
    tag = LoggedModelTag.objects.filter(model=model, key=MODEL_VERSIONS_TAG).first()
    try:
        listed = json.loads(tag.value) if tag else []
    except ValueError:
        listed = []
    entry = {"name": name, "version": number}
    if not isinstance(listed, list):
        listed = []
    if entry not in listed:
        listed.append(entry)
    value = json.dumps(listed)
    if tag is None:
        LoggedModelTag.objects.create(model=model, key=MODEL_VERSIONS_TAG, value=value)
    elif tag.value != value:
        tag.value = value
        tag.save(update_fields=["value"])


def _touch_version(version: ModelVersion) -> None:
    now = _now()
    ModelVersion.objects.filter(pk=version.pk).update(updated_at=now)
    RegisteredModel.objects.filter(pk=version.registered_model_id).update(updated_at=now)


def model_version_update(*, user: User, version: ModelVersion, description: str | None) -> ModelVersion:
    """MLflow's update-model-version: the description (the library version's changelog)."""
    require(user, "model_versions", "change", version)
    with transaction.atomic():
        if description is not None:
            artifact_services.artifact_version_update(version=version.artifact_version, changelog=description)
        _touch_version(version)
    version.refresh_from_db()
    return version


def model_version_transition(*, user: User, version: ModelVersion, stage: str, archive_existing: bool) -> ModelVersion:
    """MLflow's (deprecated) transition-model-version-stage, as MLflow 3's server still performs it: the version
    moves to ``stage``; with ``archive_existing`` the other versions in that stage move to Archived (only for
    Staging and Production)."""
    require(user, "model_versions", "change", version)
    target = canonical_stage(stage)
    if archive_existing and target not in ACTIVE_STAGES:
        raise MlflowError(
            "Model version transition cannot archive existing model versions because "
            f"'{stage}' is not an Active stage. Valid stages are {list(ACTIVE_STAGES)}"
        )
    with transaction.atomic():
        now = _now()
        if archive_existing:
            others = ModelVersion.objects.filter(registered_model_id=version.registered_model_id, stage=target)
            for other in others.exclude(pk=version.pk).select_for_update():
                other.stage, other.updated_at = "Archived", now
                other.save(update_fields=["stage", "updated_at"])
        version.stage, version.updated_at = target, now
        version.save(update_fields=["stage", "updated_at"])
        RegisteredModel.objects.filter(pk=version.registered_model_id).update(updated_at=now)
    return version


def model_version_delete(*, user: User, version: ModelVersion) -> None:
    """MLflow's delete-model-version: the version, its tags and the aliases pointing at it, and its library version
    (refused while a project uses it). Its number is not given again."""
    require(user, "model_versions", "delete", version)
    with transaction.atomic():
        artifact_services.artifact_version_delete(version=version.artifact_version)
        RegisteredModel.objects.filter(pk=version.registered_model_id).update(updated_at=_now())


def model_version_set_tag(*, user: User, version: ModelVersion, key: str, value: str) -> None:
    require(user, "model_versions", "change", version)
    _check_tags([(key, value)], "tag")
    with transaction.atomic():
        ModelVersionTag.objects.update_or_create(version=version, key=key, defaults={"value": value})


def model_version_delete_tag(*, user: User, version: ModelVersion, key: str) -> None:
    require(user, "model_versions", "change", version)
    model_services.check_key(key, "key")
    tag = ModelVersionTag.objects.filter(version=version, key=key).first()
    if tag is not None:
        tag.delete()
