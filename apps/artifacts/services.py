"""Writes on the artifact library: artifacts, versions with their stored files (content-addressed), and usages.

``Artifact.usage_count`` is kept exact by every write of usages, in the transaction of that write: here (one usage
inserted or deleted, ``F()`` update), ``apps.projects.services.project_delete`` and the bulk project import
(``apps.recommendations.services.importing``) with one ``F()`` update per artifact, and the demo seed
(``apps.recommendations.demo.write``) by recounting. ``impact_score`` is not writable by any service in this module:
only the recommendations engine sets it.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.access.services import grant_creator
from apps.accounts.models import User
from apps.artifacts.models import Artifact, ArtifactBlob, ArtifactUsage, ArtifactVersion, blob_upload_to
from apps.artifacts.uploads import UploadTooLarge, hash_stream, max_upload_bytes, safe_content_type, safe_filename
from apps.artifacts.versions import parse_version
from apps.projects.models import Project
from apps.projects.services import normalize_tags, reject_unknown_fields
from apps.tenants.quotas import quota_check
from maestro.api.exceptions import storage_error
from maestro.events import emit
from maestro.storage import tenant_storage

logger = logging.getLogger(__name__)

ARTIFACT_FIELDS = frozenset({"name", "type", "description", "tags", "owner", "is_active"})


# ---------------------------------------------------------------------------------------------- artifacts
def _apply_artifact(artifact: Artifact, data: dict[str, Any]) -> Artifact:
    reject_unknown_fields(data, ARTIFACT_FIELDS)
    for field, value in data.items():
        if field == "tags":
            value = normalize_tags(value)
        elif field == "description" and value is None:
            value = ""
        setattr(artifact, field, value)
    artifact.full_clean()
    artifact.save()
    return artifact


@transaction.atomic
def artifact_create(*, user: User | None, data: dict[str, Any]) -> Artifact:
    """Add an artifact to the library (owner defaults to ``user``). usage_count starts at 0, impact_score empty."""
    quota_check("artifacts")
    artifact = _apply_artifact(Artifact(), {"owner": user, **data})
    grant_creator(user=user, obj=artifact)
    return artifact


@transaction.atomic
def artifact_update(*, artifact: Artifact, data: dict[str, Any]) -> Artifact:
    """Change descriptive fields; usage_count and impact_score are not among them."""
    return _apply_artifact(Artifact.objects.select_for_update().get(pk=artifact.pk), data)


@transaction.atomic
def artifact_delete(*, artifact: Artifact) -> None:
    """Delete an artifact and its versions; refused while any project uses it. Unreferenced files are removed."""
    used = ArtifactUsage.objects.filter(artifact=artifact).count()
    if used:
        raise ValidationError(f"'{artifact.name}' is used by {used} project(s); remove those usages first.")
    blob_ids = set(artifact.versions.exclude(blob=None).values_list("blob_id", flat=True))
    artifact.delete()
    _collect_blobs(blob_ids)


# ---------------------------------------------------------------------------------------------- blobs
def blob_store(*, file) -> ArtifactBlob:
    """The blob holding ``file``'s content, stored once per tenant under its SHA-256.

    ``file`` normally comes from :class:`HashingUploadHandler` (``sha256`` and ``size`` already computed while it
    streamed in); other file objects are hashed here in chunks. The storage key depends only on the hash; the file
    goes to the tenant's storage (``maestro.storage``: local disk or an S3 bucket) as a stream, a few parts in memory at
    most. A file left at that key by an upload whose transaction rolled back is reused; a concurrent insert of the
    same hash keeps the first blob and drops the duplicate file.

    When the storage fails (disk full, I/O error, object store unreachable) nothing of the file stays (streamed
    writes are atomic) and the API's storage error is raised — 413 when full, 424 otherwise — so the surrounding
    transaction rolls back and neither a row nor a file is left.
    """
    storage = tenant_storage()
    sha256, size = getattr(file, "sha256", None), getattr(file, "size", None)
    if not sha256 or size is None:
        sha256, size = hash_stream(file)
    existing = ArtifactBlob.objects.filter(sha256=sha256).first()
    try:
        if existing is not None:
            if not storage.exists(existing.file.name):  # lost from storage: the new upload restores it
                file.seek(0)
                storage.save_stream(existing.file.name, file)
            return existing
        quota_check("storage", adding=size)
        blob = ArtifactBlob(sha256=sha256, size=size)
        name = blob_upload_to(blob, "")
        if not (storage.exists(name) and storage.size(name) == size):
            file.seek(0)
            storage.save_stream(name, file)
    except OSError as exc:
        logger.warning("artifact storage failed: %s", exc)
        raise storage_error(exc) from exc
    blob.file.name = name
    try:
        with transaction.atomic():
            blob.save()
    except IntegrityError:
        blob = ArtifactBlob.objects.get(sha256=sha256)
    return blob


def _collect_blobs(blob_ids: set[int]) -> None:
    """Delete blobs no version references any more; their files go once the transaction commits."""
    orphans = list(ArtifactBlob.objects.filter(pk__in=blob_ids, versions=None))
    if not orphans:
        return
    schema = connection.schema_name
    names = [(blob.sha256, blob.file.name) for blob in orphans]
    ArtifactBlob.objects.filter(pk__in=[blob.pk for blob in orphans]).delete()

    def remove_files():
        with schema_context(schema):
            storage = tenant_storage(schema)
            for sha256, name in names:
                if not ArtifactBlob.objects.filter(sha256=sha256).exists():
                    try:
                        storage.delete(name)
                    except OSError:  # the rows are gone; an unreachable store keeps an orphan file, logged
                        logger.warning("could not remove the stored file of a deleted blob", extra={"key": name})

    transaction.on_commit(remove_files)


# ---------------------------------------------------------------------------------------------- versions
@transaction.atomic
def artifact_version_create(
    *,
    artifact: Artifact,
    version: str,
    changelog: str = "",
    file=None,
    filename: str | None = None,
    content_type: str | None = None,
    storage_prefix: str = "",
    user: User | None,
) -> ArtifactVersion:
    """Add a version (semantic, unique per artifact) with an optional file. The version is validated before the
    file is stored; identical content shares one blob. ``filename`` only names the download (made safe).

    ``storage_prefix`` instead names a folder already in the tenant's storage whose files are the version's content
    (a registered MLflow model version: the files its run or logged model wrote). Nothing is copied; the folder is
    downloaded as a zip (``apps.artifacts.bundles``)."""
    if file is not None and storage_prefix:
        raise ValidationError({"file": "A version holds either an uploaded file or a folder of stored files."})
    parsed = parse_version(version)
    version = str(parsed)
    artifact = Artifact.objects.select_for_update().get(pk=artifact.pk)
    if ArtifactVersion.objects.filter(artifact=artifact, version=version).exists():
        raise ValidationError({"version": f"Version {version} of '{artifact.name}' already exists."})
    obj = ArtifactVersion(
        artifact=artifact,
        version=version,
        major=parsed.major,
        minor=parsed.minor,
        patch=parsed.patch,
        prerelease=parsed.prerelease or "",
        changelog=changelog or "",
        storage_prefix=storage_prefix,
        created_by=user,
    )
    if storage_prefix:
        obj.filename = safe_filename(f"{artifact.name}-{version}.zip", default=f"version-{version}.zip")
        obj.content_type = "application/zip"
    if file is not None:
        size = getattr(file, "size", None)
        if size is not None and size > max_upload_bytes():
            raise UploadTooLarge(max_upload_bytes())
        obj.filename = safe_filename(filename or getattr(file, "name", None), default=f"{artifact.name}-{version}")
        obj.content_type = safe_content_type(content_type or getattr(file, "content_type", None), obj.filename)
        obj.blob = blob_store(file=file)
    obj.full_clean(exclude=["blob", "artifact", "created_by"], validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        raise ValidationError({"version": f"Version {version} of '{artifact.name}' already exists."}) from None
    emit(
        "artifact.version_created",
        payload={
            "artifact": {"id": artifact.pk, "name": artifact.name, "type": artifact.type},
            "version": {"id": obj.pk, "version": obj.version, "has_file": obj.blob_id is not None},
        },
    )
    return obj


@transaction.atomic
def artifact_version_update(*, version: ArtifactVersion, changelog: str | None = None) -> ArtifactVersion:
    """Only the changelog of a version can change: its number and content are what projects depend on. ``None``
    (left out of a PATCH) keeps it."""
    if changelog is not None:
        version.changelog = changelog
        version.save(update_fields=["changelog"])
    return version


@transaction.atomic
def artifact_version_delete(*, version: ArtifactVersion) -> None:
    """Delete a version nobody uses; its file goes too when no other version has the same content."""
    used = version.usages.count()
    if used:
        raise ValidationError(f"Version {version.version} is used by {used} project(s); remove those usages first.")
    blob_id = version.blob_id
    version.delete()
    if blob_id:
        _collect_blobs({blob_id})


# ---------------------------------------------------------------------------------------------- usages
@transaction.atomic
def artifact_usage_create(
    *,
    project: Project,
    artifact_version: ArtifactVersion,
    used_by: User | None,
    context: str = "",
    used_at=None,
) -> ArtifactUsage:
    """Record that ``project`` uses ``artifact_version`` (once per pair) and count it on the artifact."""
    artifact = Artifact.objects.select_for_update().get(pk=artifact_version.artifact_id)
    if not artifact.is_active:
        raise ValidationError({"artifact_version": f"'{artifact.name}' is inactive and cannot be used."})
    duplicate = ValidationError(
        {"artifact_version": f"The project already uses {artifact.name} {artifact_version.version}."}
    )
    if ArtifactUsage.objects.filter(project=project, artifact_version=artifact_version).exists():
        raise duplicate
    usage = ArtifactUsage(
        project=project,
        artifact_version=artifact_version,
        artifact=artifact,
        used_by=used_by,
        context=context or "",
        used_at=used_at or timezone.now(),
    )
    try:
        with transaction.atomic():
            usage.save()
    except IntegrityError:
        raise duplicate from None
    Artifact.objects.filter(pk=artifact.pk).update(usage_count=F("usage_count") + 1)
    return usage


@transaction.atomic
def artifact_usage_update(*, usage: ArtifactUsage, context: str | None = None) -> ArtifactUsage:
    """Only the context of a usage can change; ``None`` (left out of a PATCH) keeps it."""
    if context is not None:
        usage.context = context
        usage.save(update_fields=["context"])
    return usage


@transaction.atomic
def artifact_usage_delete(*, usage: ArtifactUsage) -> None:
    """Remove a usage and uncount it."""
    deleted, _ = ArtifactUsage.objects.filter(pk=usage.pk).delete()
    if deleted:
        Artifact.objects.filter(pk=usage.artifact_id).update(usage_count=F("usage_count") - deleted)
