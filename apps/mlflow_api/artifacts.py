"""MLflow artifacts through Maestro's artifact proxy: who may touch a path, and the reads and writes behind
``/api/2.0/mlflow-artifacts/…`` and ``/api/2.0/mlflow/artifacts/list``.

Files are stored in the tenant's file storage (``maestro.storage``: the local filesystem, or an S3 bucket shared by
every web host) at key ``mlflow/<path>``; each has an ``ArtifactFile`` row, the index that listings, downloads, the
storage quota and the audit trail read. Apart from the tracking services (``services.py``) because nothing here
writes runs or metrics: this is the protocol for files.

* Authorisation: ``artifact_target`` resolves a path's first segment to the experiment's project (hidden →
  RESOURCE_DOES_NOT_EXIST), requires read access (list, download) or write access (upload, delete, multipart) on it
  — the ``mlflow_artifacts`` rows of the permission matrix, which grant writes to whoever may log a batch to the
  project's runs — and then finds the root the path lies in (``artifact_roots``): no file outside a root.
* Uploads stream from the request to storage: hashed on the way, refused beyond ``MLFLOW_ARTIFACT_MAX_UPLOAD_BYTES``
  (413 naming the limit) or beyond what the tenant's storage quota has left (403 ``quota_exceeded``), with nothing
  stored either way (``save_stream`` is atomic). No database transaction is held while bytes flow. That first quota
  check takes no lock; the index row is written under the tenant's row lock and the usage counted again, so
  concurrent uploads cannot together pass the quota (``_record``).
* Presigned multipart uploads (MLflow's ``mpu/*``, S3 only): the client PUTs parts straight to the store, as with
  ``mlflow server``; completion checks the parts' total against the same limits *before* S3 assembles them (too
  large → the upload is aborted and the file at that path, if any, stays as it was). An ``ArtifactUpload`` row binds
  the store's upload id to the tenant and path: another tenant (or path) cannot complete or abort it. Abandoned
  uploads are aborted after ``MAESTRO_STORAGE_STALE_UPLOAD_SECONDS`` (``artifact_housekeeping``).
"""

from __future__ import annotations

import contextlib
import logging
import mimetypes
from dataclasses import dataclass
from datetime import timedelta
from typing import IO

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.db.models.functions import Length
from django.utils import timezone

from apps.access.selectors import require
from apps.accounts.models import User
from apps.audit.services import audited_delete
from apps.metrics.models import Run
from apps.mlflow_api import selectors
from apps.mlflow_api.artifact_roots import (
    ArtifactRoot,
    artifact_path_segments,
    experiment_pk,
    is_run_id,
    resolve_root,
)
from apps.mlflow_api.models import ArtifactFile, ArtifactUpload
from apps.mlflow_api.protocol import MlflowError, not_found
from apps.projects.models import Project
from apps.tenants.quotas import QuotaExceeded, quota_check, quota_lock, quota_recount, quota_usage
from maestro.observability.metrics import record_quota_refusal
from maestro.storage import InvalidUpload, Reader, TooLarge, UploadNotFound, tenant_storage

logger = logging.getLogger("maestro.mlflow.artifacts")

KEY_PREFIX = "mlflow"
NOT_IMPLEMENTED = "NOT_IMPLEMENTED"
MULTIPART_UNSUPPORTED = "Multipart upload is not supported for the current artifact repository"  # MLflow's text
MAX_PARTS = 10_000  # S3's limit on the parts of one upload


def storage_key(path: str) -> str:
    return f"{KEY_PREFIX}/{path}"


class UploadTooLarge(MlflowError):
    """A file over ``MLFLOW_ARTIFACT_MAX_UPLOAD_BYTES``: 413, the limit named in the message."""

    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(
            f"The artifact is larger than the upload limit of {limit} bytes (MLFLOW_ARTIFACT_MAX_UPLOAD_BYTES); "
            "nothing was stored.",
            status=413,
        )


@dataclass(frozen=True)
class Target:
    """An authorised artifact path: its project, the root it lies in and the path itself."""

    project: Project
    root: ArtifactRoot
    path: str

    @property
    def relative(self) -> str:
        return self.root.relative(self.path)

    @property
    def key(self) -> str:
        return storage_key(self.path)


def artifact_target(*, user: User, path: str | None, action: str) -> Target:
    """The proxied artifact ``path``, checked and authorised for ``action`` (read, create, delete) on its
    experiment; MLflow's errors for a bad path (INVALID_PARAMETER_VALUE), a hidden or unknown experiment or root
    (RESOURCE_DOES_NOT_EXIST) and a refused action (PERMISSION_DENIED)."""
    segments = artifact_path_segments(path)
    pk = experiment_pk(segments[0])
    project = selectors.experiment_get(user=user, experiment_id=str(pk))
    require(user, "mlflow_artifacts", action, project)
    root = resolve_root(project, segments)
    return Target(project, root, "/".join(segments))


def _file_target(target: Target) -> int | None:
    """An upload must name a file inside its root, where no file stands in for a directory and no directory is;
    the size of the file it replaces (None if none). One query answers all three (an upload's fixed cost is mostly
    round trips to the database)."""
    if target.path == target.root.path:
        raise MlflowError(f"Invalid path: '{target.path}' is the artifact root, a directory; name a file inside it.")
    parts = target.relative.split("/")
    parents = [f"{target.root.path}/{'/'.join(parts[:depth])}" for depth in range(1, len(parts))]
    rows = dict(
        ArtifactFile.objects.filter(Q(path__in=[*parents, target.path]) | Q(path__startswith=target.path + "/"))
        .order_by(Length("path"))  # the parents and the path itself before any file below it: all of them, and one
        .values_list("path", "size")[: len(parents) + 2]
    )
    clash = next((parent for parent in parents if parent in rows), None)
    if clash:
        raise MlflowError(f"Invalid path: '{clash}' is a file, so it cannot hold '{target.path}'.")
    if any(path.startswith(target.path + "/") for path in rows):
        raise MlflowError(f"Invalid path: '{target.path}' is a directory of artifacts, not a file.")
    return rows.get(target.path)


def _room(old_size: int) -> tuple[int, object | None]:
    """(bytes an upload replacing ``old_size`` bytes may have, the quota usage that limits it or None)."""
    limit = int(settings.MLFLOW_ARTIFACT_MAX_UPLOAD_BYTES)
    usage = quota_usage("storage")
    if usage is None:
        return limit, None
    headroom = max(usage.limit - usage.used, 0) + old_size
    return (headroom, usage) if headroom < limit else (limit, None)


def _refuse_over(size: int | None, max_bytes: int, usage) -> None:
    """UploadTooLarge (the upload limit) or QuotaExceeded (the storage quota) for ``size`` beyond ``max_bytes``."""
    if size is None or size <= max_bytes:
        return
    if usage is None:
        raise UploadTooLarge(max_bytes)
    record_quota_refusal("storage")
    raise QuotaExceeded(usage, size)


def _content_type(path: str) -> str:
    """Guessed from the file name, as MLflow's server does (never what an uploader claims: downloads are served
    with it)."""
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


def _record(
    *, target: Target, user: User, size: int, sha256: str, content_type: str, old_size: int | None
) -> ArtifactFile:
    """Index the stored file at ``target`` (``old_size``: the size of the file it replaced when the upload began,
    None if there was none) and check the storage quota exactly, in one transaction: the tenant's row is locked
    first, so concurrent uploads of the tenant take turns here — for an INSERT and a SUM, not for their bytes — and
    each counts the others' committed files; over the limit, nothing is indexed, the stored bytes are removed and
    QuotaExceeded is raised. ``_room`` refuses earlier and without a lock; only a race of uploads gets this far.

    A new path is INSERTed directly (no row lock, no savepoint); should another upload of the same path have indexed
    it meanwhile (unique violation), the transaction is retried as an update."""
    values = {
        "project": target.project,
        "size": size,
        "sha256": sha256,
        "content_type": content_type,
        "uploaded_by": user if getattr(user, "pk", None) else None,
    }
    added = size - (old_size or 0)
    try:
        try:
            return _index(target, values, create=old_size is None, added=added)
        except IntegrityError:
            if old_size is not None:
                raise
            return _index(target, values, create=False, added=added)
    except QuotaExceeded:
        _discard(target)
        raise


def _index(target: Target, values: dict, *, create: bool, added: int) -> ArtifactFile:
    with transaction.atomic():
        tenant = quota_lock()
        if create:
            file = ArtifactFile.objects.create(path=target.path, **values)
        else:
            file, _ = ArtifactFile.objects.update_or_create(path=target.path, defaults=values)
        quota_recount("storage", tenant=tenant, added=added)
    return file


def _discard(target: Target) -> None:
    """Remove what an upload refused after storing it left: its bytes, and the index row of the file they replaced
    (which no longer describes what is stored)."""
    with contextlib.suppress(FileNotFoundError):
        tenant_storage().delete(target.key)
    ArtifactFile.objects.filter(path=target.path).delete()  # per-row delete: audited


# ---------------------------------------------------------------------------------------------- uploads


def artifact_upload(*, user: User, target: Target, stream: IO[bytes], length: int | None) -> ArtifactFile:
    """Store the request body ``stream`` (``length`` bytes when declared) as the file at ``target``, replacing one
    that is there. Refused before anything is read when the declared length is over the limits; stopped as soon as
    the streamed bytes are. Nothing is stored when it is refused or fails."""
    old_size = _file_target(target)
    max_bytes, usage = _room(old_size or 0)
    _refuse_over(length, max_bytes, usage)
    kind = _content_type(target.path)
    try:
        stored = tenant_storage().save_stream(target.key, stream, max_bytes=max_bytes, content_type=kind)
    except TooLarge as exc:
        _refuse_over(exc.limit + 1, max_bytes, usage)
        raise
    return _record(
        target=target, user=user, size=stored.size, sha256=stored.sha256, content_type=kind, old_size=old_size
    )


def artifact_upload_start(
    *, user: User, target: Target, filename: str, parts: int | None
) -> tuple[ArtifactUpload, list[tuple[int, str]]]:
    """MLflow's ``mpu/create``: a presigned multipart upload of ``filename`` into the directory ``target``; the
    upload record and one presigned URL per part. NOT_IMPLEMENTED (MLflow's message, which makes its client fall
    back to a plain upload) when the storage is not an object store."""
    storage = tenant_storage()
    if not storage.presigned_multipart:
        raise MlflowError(MULTIPART_UNSUPPORTED, NOT_IMPLEMENTED)
    if parts is None or not 1 <= parts <= MAX_PARTS:
        raise MlflowError(f"Invalid value {parts} for parameter 'num_parts' supplied: it must be 1 to {MAX_PARTS}.")
    file_target = _child(target, filename)
    max_bytes, usage = _room(_file_target(file_target) or 0)
    if max_bytes <= 0 and usage is not None:
        quota_check("storage", adding=1)
    started = storage.multipart_create(file_target.key, parts, content_type=_content_type(file_target.path))
    upload = ArtifactUpload.objects.create(
        project=target.project,
        path=file_target.path,
        upload_id=started.upload_id,
        started_by=user if getattr(user, "pk", None) else None,
    )
    return upload, started.urls


def _child(target: Target, filename: str) -> Target:
    """``target`` (a directory in a root) joined with the base name of the client's ``filename`` (MLflow sends the
    local file's path and uses only its last component)."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    segments = artifact_path_segments(f"{target.path}/{name}" if name else "")
    return Target(target.project, target.root, "/".join(segments))


def _open_upload(target: Target, filename: str, upload_id: str) -> tuple[Target, ArtifactUpload]:
    file_target = _child(target, filename)
    upload = ArtifactUpload.objects.filter(upload_id=upload_id, path=file_target.path).first()
    if upload is None:
        raise not_found(f"No multipart upload '{upload_id}' of '{file_target.path}' is in progress.")
    return file_target, upload


def artifact_upload_complete(
    *, user: User, target: Target, filename: str, upload_id: str, parts: list[tuple[int, str]]
) -> ArtifactFile:
    """MLflow's ``mpu/complete``: assemble the uploaded parts into the file. Over the upload limit or the storage
    quota the upload is aborted instead (413 / 403) and the path keeps what it had."""
    file_target, upload = _open_upload(target, filename, upload_id)
    if not parts:
        raise MlflowError("Missing value for required parameter 'parts'.")
    old_size = ArtifactFile.objects.filter(path=file_target.path).values_list("size", flat=True).first()
    max_bytes, usage = _room(old_size or 0)
    storage = tenant_storage()
    try:
        size = storage.multipart_complete(file_target.key, upload_id, parts, max_bytes=max_bytes)
    except TooLarge as exc:
        upload.delete()
        _refuse_over(exc.limit + 1, max_bytes, usage)
        raise
    except UploadNotFound:
        upload.delete()
        raise not_found(f"No multipart upload '{upload_id}' of '{file_target.path}' is in progress.") from None
    except InvalidUpload as exc:
        raise MlflowError(f"The multipart upload could not be completed: {exc}") from None
    upload.delete()
    kind = _content_type(file_target.path)
    file = _record(target=file_target, user=user, size=size, sha256="", content_type=kind, old_size=old_size)
    schema = connection.schema_name
    transaction.on_commit(lambda: _send_hash(schema, file.pk))
    return file


def _send_hash(schema: str, file_id: int) -> None:
    from apps.mlflow_api.tasks import hash_artifact_file  # own app's task entry point (it imports this module)
    from maestro.enqueue import send_or_defer

    send_or_defer(hash_artifact_file, schema_name=schema, file_id=file_id)


def artifact_upload_abort(*, user: User, target: Target, filename: str, upload_id: str) -> None:
    """MLflow's ``mpu/abort``: drop the uploaded parts; the path keeps what it had."""
    file_target, upload = _open_upload(target, filename, upload_id)
    with contextlib.suppress(UploadNotFound):  # already gone from the store (expired): nothing left to drop
        tenant_storage().multipart_abort(file_target.key, upload_id)
    upload.delete()


# ---------------------------------------------------------------------------------------------- reads


def artifact_experiments(*, user: User) -> list[int]:
    """Ids of the experiments ``user`` may see that hold artifact files (a listing of the proxy's root)."""
    holding = ArtifactFile.objects.values("project_id")
    return list(selectors.experiment_list(user=user).filter(pk__in=holding).values_list("pk", flat=True))


def artifact_open(*, target: Target) -> tuple[ArtifactFile, Reader]:
    """The file at ``target`` and a stream of its content (read access already checked by ``artifact_target``)."""
    file = ArtifactFile.objects.filter(path=target.path).first()
    if file is None:
        if target.path == target.root.path or ArtifactFile.objects.filter(path__startswith=target.path + "/").exists():
            raise MlflowError(f"Artifact path refers to a directory, not a file: '{target.relative or target.path}'")
        raise not_found(f"No artifact at '{target.path}'.")
    try:
        reader = tenant_storage().open_stream(target.key)
    except FileNotFoundError:
        logger.warning("indexed artifact missing from storage", extra={"path": target.path})
        raise not_found(f"The stored content of '{target.path}' is missing.") from None
    return file, reader


@dataclass(frozen=True)
class Entry:
    """One listing entry: a file (with its size) or a directory, by its path relative to the listed directory."""

    path: str
    is_dir: bool
    size: int | None = None

    def as_json(self, base: str = "") -> dict:
        entry = {"path": f"{base}/{self.path}" if base else self.path, "is_dir": self.is_dir}
        if self.size is not None:
            entry["file_size"] = self.size
        return entry


def artifact_list(*, target: Target) -> list[Entry]:
    """The files and directories directly inside the directory ``target`` (empty for a file or an empty or absent
    directory, as MLflow answers), from the index — so listing works even while the object store is down."""
    prefix = target.path + "/"
    directories: set[str] = set()
    files: dict[str, int] = {}
    rows = ArtifactFile.objects.filter(path__startswith=prefix).values_list("path", "size")
    for path, size in rows.iterator(chunk_size=2000):
        name, below, _rest = path[len(prefix) :].partition("/")
        if below:
            directories.add(name)
        else:
            files[name] = size
    entries = [Entry(name, True) for name in directories] + [Entry(name, False, size) for name, size in files.items()]
    return sorted(entries, key=lambda entry: entry.path)


def run_artifact_list(*, user: User, run: Run, path: str | None) -> tuple[str, list[dict]]:
    """MLflow's ``artifacts/list`` for a run: (root_uri, entries with paths relative to the run's root). Runs whose
    experiment stores artifacts elsewhere (an ``s3://…`` artifact location of the client's choosing) list nothing:
    Maestro serves only the files it stores."""
    location = selectors.artifact_locations([run.project_id])[run.project_id]
    root_uri = f"{location.rstrip('/')}/{run.uuid.hex}/artifacts"
    require(user, "mlflow_artifacts", "read", run.project)
    if not location.startswith("mlflow-artifacts:"):
        return root_uri, []
    relative = artifact_path_segments(path) if path else []
    root_path = f"{run.project_id}/{run.uuid.hex}/artifacts"
    root = ArtifactRoot(run.project, root_path, run)
    target = Target(run.project, root, "/".join([root_path, *relative]))
    base = "/".join(relative)
    return root_uri, [entry.as_json(base) for entry in artifact_list(target=target)]


# ---------------------------------------------------------------------------------------------- deletes


def artifact_delete(*, user: User, target: Target) -> int:
    """Delete the file or the directory (everything below it) at ``target``; how many files. Deleting what is not
    there deletes nothing (MLflow's delete is idempotent too)."""
    rows = ArtifactFile.objects.filter(Q(path=target.path) | Q(path__startswith=target.path + "/"))
    count = rows.count()
    if not count:
        return 0
    tenant_storage().delete_prefix(target.key)  # the storage first: a failure leaves the index (and files) as is
    with transaction.atomic():
        audited_delete(rows)
    return count


# ---------------------------------------------------------------------------------------------- housekeeping


def artifact_file_hash(*, file_id: int) -> str | None:
    """Compute the SHA-256 of a file stored by a presigned multipart upload (its bytes never passed through
    Maestro); None when the row is gone or already hashed."""
    file = ArtifactFile.objects.filter(pk=file_id, sha256="").first()
    if file is None:
        return None
    try:
        digest = tenant_storage().sha256(storage_key(file.path))
    except FileNotFoundError:  # replaced or deleted meanwhile; housekeeping tries again if the row is still blank
        logger.warning("artifact to hash is missing from storage", extra={"path": file.path})
        return None
    ArtifactFile.objects.filter(pk=file_id, sha256="", size=file.size).update(sha256=digest)
    return digest


def artifact_housekeeping(*, max_age_seconds: int) -> dict[str, int]:
    """One tenant's upkeep: abort multipart uploads begun more than ``max_age_seconds`` ago (interrupted clients),
    hash files a multipart upload stored whose hashing task was lost, and remove the stored files of runs and
    experiments that no longer exist (deleted projects and runs leave their artifacts behind in the store)."""
    storage = tenant_storage()
    done = {"uploads_aborted": 0, "files_hashed": 0, "orphans_removed": 0}
    cutoff = timezone.now() - timedelta(seconds=max_age_seconds)
    for upload in ArtifactUpload.objects.filter(created_at__lt=cutoff).order_by("pk"):
        with contextlib.suppress(UploadNotFound):
            storage.multipart_abort(storage_key(upload.path), upload.upload_id)
        upload.delete()
        done["uploads_aborted"] += 1
    for file_id in ArtifactFile.objects.filter(
        sha256="", updated_at__lt=timezone.now() - timedelta(minutes=10)
    ).values_list("pk", flat=True)[:100]:
        done["files_hashed"] += artifact_file_hash(file_id=file_id) is not None
    done["orphans_removed"] = _remove_orphans(storage)
    return done


def _remove_orphans(storage) -> int:
    """Stored files under ``mlflow/<exp>/`` of a project that is gone, or under ``mlflow/<exp>/<run id>/`` of a run
    that is gone (their index rows went with them). Other kinds of roots are left to the code that owns them."""
    removed = 0
    experiments, _files = storage.listdir(KEY_PREFIX)
    known = set(
        Project.objects.filter(pk__in=[int(e) for e in experiments if e.isdecimal()]).values_list("pk", flat=True)
    )
    for experiment in experiments:
        if not experiment.isdecimal() or int(experiment) not in known:
            removed += storage.delete_prefix(f"{KEY_PREFIX}/{experiment}")
            ArtifactFile.objects.filter(path__startswith=f"{experiment}/").delete()
            continue
        owners, _files = storage.listdir(f"{KEY_PREFIX}/{experiment}")
        runs = [owner for owner in owners if is_run_id(owner)]
        alive = {
            uuid.hex
            for uuid in Run.objects.filter(project_id=int(experiment), uuid__in=runs).values_list("uuid", flat=True)
        }
        for run in runs:
            if run not in alive:
                removed += storage.delete_prefix(f"{KEY_PREFIX}/{experiment}/{run}")
                ArtifactFile.objects.filter(path__startswith=f"{experiment}/{run}/").delete()
    return removed
