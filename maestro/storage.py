"""Per-tenant file storage: the artifact library's content and MLflow artifacts, on the local filesystem or on an
S3-compatible object store, behind one API.

Why one layer: web hosts must share what they store (a second host cannot read the first one's local disk), so in
production files go to an object store; ``make run`` keeps the local filesystem so it needs nothing more. Callers
never learn which: they name files by *key* inside their tenant, and this module maps keys to places and turns the
backends' failures into three exceptions. It is a framework module: it imports no app.

Configuration (settings, read from the environment by ``maestro/settings/base.py``):

* ``MAESTRO_STORAGE_URL`` — empty: the filesystem under ``MEDIA_ROOT`` (the default); ``file:///srv/files``: the
  filesystem under that directory; ``s3://bucket/optional/prefix``: an S3 bucket through django-storages'
  ``S3Storage`` (boto3).
* ``MAESTRO_STORAGE_ENDPOINT_URL`` — the S3 endpoint of an S3-compatible store (MinIO, Ceph, moto); empty: AWS.
* ``MAESTRO_STORAGE_PUBLIC_ENDPOINT_URL`` — the endpoint written into presigned multipart part URLs, when clients
  reach the store under another address than the server does (docker-compose: ``http://localhost:9000``).
* ``MAESTRO_STORAGE_REGION``; credentials come from boto3's own environment variables (``AWS_ACCESS_KEY_ID``,
  ``AWS_SECRET_ACCESS_KEY``) or an instance role — never from settings files.
* ``MAESTRO_STORAGE_PART_BYTES`` — part size of streamed uploads to S3 (default 8 MiB, at least S3's 5 MiB), and
  ``MAESTRO_STORAGE_UPLOAD_CONCURRENCY`` — parts sent at once (default 1) while the next one is read. An upload
  holds that many part buffers plus one, whatever the file's size (``save_stream``), so raise it only where a store
  takes parallel parts faster than one stream.

Layout: a tenant's files live under its schema name — ``<MEDIA_ROOT>/<schema>/<key>`` or
``s3://<bucket>/<prefix>/<schema>/<key>``. The filesystem layout is the one django-tenants' storage used before this
module existed, so files stored earlier are found where they are (``manage.py storage_copy`` copies them to a
bucket). Keys: ``artifacts/<sha256[:2]>/<sha256>`` (the artifact library), ``mlflow/<experiment>/…`` (MLflow).

API (the registry and artifact-library code call only this):

* ``tenant_storage(schema=None) -> TenantStorage`` — the storage of ``schema`` (default: the current connection's
  tenant). It is a Django ``Storage`` (open/save/exists/delete/listdir/size with keys as names) and adds:

  - ``save_stream(key, stream, *, max_bytes=None, content_type="") -> Stored(key, size, sha256)``: reads ``stream``
    (anything with ``read(n)``) in chunks, hashing on the way, and stores it under ``key``, replacing what was there.
    Memory stays flat in the file's size (a few S3 parts at most); large files go to S3 as multipart uploads. Readers
    see the old content or the new, never a part. Raises ``TooLarge(limit)`` beyond ``max_bytes`` — nothing stored.
  - ``open_stream(key) -> Reader``: the content as an iterator of chunks (``size`` attribute, ``close()``);
    ``FileNotFoundError`` when there is no such file.
  - ``sha256(key)``, ``size(key)``, ``exists(key)``, ``delete(key)``, ``walk(prefix) -> [(key, size)]`` (every file
    under ``prefix``, in no particular order), ``delete_prefix(prefix) -> count``, ``is_empty()``.
  - ``presigned_multipart`` (True on S3) and ``multipart_create(key, parts) -> Multipart(upload_id, urls)``,
    ``multipart_complete(key, upload_id, [(part_number, etag)], max_bytes=None) -> size``,
    ``multipart_abort(key, upload_id)``: S3 multipart uploads whose parts the client PUTs straight to the store
    with presigned URLs (as ``mlflow server`` does); ``UploadNotFound`` for an unknown or finished upload id (on
    the filesystem, which starts none, for every id: one begun on S3 before a switch to the filesystem);
    ``TooLarge`` (upload aborted, the old file kept) when the parts add up to more than ``max_bytes``.

* ``default_storage`` (``STORAGES["default"]`` = ``CurrentTenantStorage``) resolves the current tenant on every call,
  so ``FileField``s keep working unchanged.
* ``cleanup_stale_uploads(max_age_seconds)`` aborts multipart uploads and removes partly written files older than
  that (interrupted uploads), for every tenant; a Celery beat task calls it.

Failures: ``StorageUnavailable`` (an ``OSError``) when the store cannot be reached or refuses the request (endpoint
down, timeouts, missing bucket, rejected credentials) — the API answers it with a clean 424, never a 500;
``FileNotFoundError`` for a missing file; ``InvalidKey`` (a ``ValueError``) for a key that could escape its tenant.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import hashlib
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage
from django.db import connection

logger = logging.getLogger("maestro.storage")

CHUNK_BYTES = 1024 * 1024
S3_MIN_PART_BYTES = 5 * 1024 * 1024
PARTIAL_DIR = ".partial"  # filesystem: uploads in progress, beside (never inside) the tenants' directories
MAX_KEY_BYTES = 900  # S3 keys hold 1024 bytes; the prefix and the schema take the rest
_SCHEMA_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


# ---------------------------------------------------------------------------------------------- errors


class StorageUnavailable(OSError):
    """The store could not be reached or refused the request (endpoint down, timeout, bucket missing, credentials
    rejected). Nothing was stored or changed; the same request may be retried later."""


class TooLarge(Exception):
    """A streamed file exceeded ``limit`` bytes; nothing was stored."""

    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(f"The file is larger than the limit of {limit} bytes.")


class InvalidKey(ValueError):
    """A key that is empty, absolute, or has empty, ``.`` or ``..`` segments, backslashes or control characters."""


class UploadNotFound(LookupError):
    """No multipart upload with this id is in progress for this key (unknown, completed or aborted)."""


class InvalidUpload(ValueError):
    """The store refused to complete a multipart upload (missing or wrong parts, parts too small)."""


def clean_key(key: str) -> str:
    """``key`` if it names a file inside a tenant's storage, else ``InvalidKey``."""
    if not isinstance(key, str) or not key:
        raise InvalidKey("A storage key must be a non-empty string.")
    if "\\" in key or any(ord(ch) < 32 or ord(ch) == 127 for ch in key):
        raise InvalidKey("A storage key may not contain backslashes or control characters.")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise InvalidKey("A storage key may not be absolute or have empty, '.' or '..' segments.")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidKey(f"A storage key may be at most {MAX_KEY_BYTES} bytes long.")
    return key


def _clean_prefix(prefix: str) -> str:
    prefix = (prefix or "").strip("/")
    return clean_key(prefix) if prefix else ""


# ---------------------------------------------------------------------------------------------- configuration


@dataclasses.dataclass(frozen=True)
class StorageConfig:
    """Where files go, from settings. ``kind`` is ``"filesystem"`` or ``"s3"``."""

    kind: str
    root: str = ""  # filesystem: the directory holding the tenants' directories
    bucket: str = ""
    prefix: str = ""
    endpoint_url: str = ""
    public_endpoint_url: str = ""
    region: str = ""
    part_bytes: int = 8 * 1024 * 1024
    upload_concurrency: int = 1
    connect_timeout: float = 3.0
    read_timeout: float = 30.0
    max_attempts: int = 2

    @classmethod
    def from_settings(cls) -> StorageConfig:
        url = (getattr(settings, "MAESTRO_STORAGE_URL", "") or "").strip()
        common = {
            "part_bytes": max(int(getattr(settings, "MAESTRO_STORAGE_PART_BYTES", 8 * 1024 * 1024)), S3_MIN_PART_BYTES),
            "upload_concurrency": max(int(getattr(settings, "MAESTRO_STORAGE_UPLOAD_CONCURRENCY", 1)), 1),
            "connect_timeout": float(getattr(settings, "MAESTRO_STORAGE_CONNECT_TIMEOUT", 3.0)),
            "read_timeout": float(getattr(settings, "MAESTRO_STORAGE_READ_TIMEOUT", 30.0)),
            "max_attempts": int(getattr(settings, "MAESTRO_STORAGE_MAX_ATTEMPTS", 2)),
        }
        if not url:
            return cls(kind="filesystem", root=str(settings.MEDIA_ROOT), **common)
        parsed = urlparse(url)
        if parsed.scheme == "file":
            return cls(kind="filesystem", root=parsed.path, **common)
        if parsed.scheme == "s3" and parsed.netloc:
            return cls(
                kind="s3",
                bucket=parsed.netloc,
                prefix=parsed.path.strip("/"),
                endpoint_url=getattr(settings, "MAESTRO_STORAGE_ENDPOINT_URL", "") or "",
                public_endpoint_url=getattr(settings, "MAESTRO_STORAGE_PUBLIC_ENDPOINT_URL", "") or "",
                region=getattr(settings, "MAESTRO_STORAGE_REGION", "") or "",
                **common,
            )
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"MAESTRO_STORAGE_URL must be empty, file:///<directory> or s3://<bucket>[/<prefix>], not {url!r}."
        )


def current_config() -> StorageConfig:
    return StorageConfig.from_settings()


# ---------------------------------------------------------------------------------------------- streams


@dataclasses.dataclass(frozen=True)
class Stored:
    """What ``save_stream`` stored: the key, its size in bytes and the SHA-256 of its content."""

    key: str
    size: int
    sha256: str


@dataclasses.dataclass(frozen=True)
class Multipart:
    """A started S3 multipart upload: its id and one presigned PUT URL per part (part numbers from 1)."""

    upload_id: str
    urls: list[tuple[int, str]]


class _HashingReader:
    """Reads ``stream`` in chunks, counting and hashing every byte; refuses more than ``max_bytes``."""

    def __init__(self, stream: IO[bytes], max_bytes: int | None):
        self.stream = stream
        self.max_bytes = max_bytes
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, n: int = CHUNK_BYTES) -> bytes:
        chunk = self.stream.read(n)
        if not chunk:
            return b""
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise TooLarge(self.max_bytes)
        self.digest.update(chunk)
        return chunk

    def read_part(self, n: int) -> bytearray:
        """Up to ``n`` bytes (fewer only at the end of the stream: sockets return short reads), grown chunk by chunk
        so a small file never costs a whole part's memory, and no joined copy of the chunks is made."""
        part = bytearray()
        while len(part) < n and (chunk := self.read(min(CHUNK_BYTES, n - len(part)))):
            part += chunk
        return part

    def readinto(self, buffer: bytearray) -> int:
        """Fill ``buffer`` from the stream; how many bytes it now holds (fewer than its size only at the end)."""
        filled, size = 0, len(buffer)
        with memoryview(buffer) as view:
            while filled < size and (chunk := self.read(min(CHUNK_BYTES, size - filled))):
                view[filled : filled + len(chunk)] = chunk
                filled += len(chunk)
        return filled


class Reader:
    """A stored file's content as chunks. Iterate it (or ``read(n)``); ``close()`` releases the connection/file."""

    def __init__(self, raw, size: int, *, errors=contextlib.nullcontext):
        self._raw = raw
        self.size = size
        self._errors = errors

    def read(self, n: int = -1) -> bytes:
        with self._errors():
            return self._raw.read(n) if n >= 0 else self._raw.read()

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK_BYTES):
            yield chunk

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._raw.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------- tenant storage


class TenantStorage(Storage):
    """One tenant's files (see the module docstring). Subclasses map keys onto a backend."""

    presigned_multipart = False

    def __init__(self, schema: str, config: StorageConfig):
        if not isinstance(schema, str) or not _SCHEMA_RE.match(schema):
            raise InvalidKey(f"{schema!r} is not a tenant schema name.")
        self.schema = schema
        self.config = config

    # -- names: "<schema>/<key>" inside the backend
    def _name(self, key: str) -> str:
        return f"{self.schema}/{clean_key(key)}"

    def _dir(self, prefix: str) -> str:
        prefix = _clean_prefix(prefix)
        return f"{self.schema}/{prefix}" if prefix else self.schema

    def _key(self, name: str) -> str:
        return name[len(self.schema) + 1 :] if name.startswith(self.schema + "/") else name

    # -- the parts every backend shares
    def sha256(self, key: str) -> str:
        digest = hashlib.sha256()
        with self.open_stream(key) as reader:
            for chunk in reader:
                digest.update(chunk)
        return digest.hexdigest()

    def is_empty(self) -> bool:
        return next(iter(self.walk("")), None) is None

    def get_valid_name(self, name: str) -> str:
        return name  # keys are chosen by Maestro (hashes, validated MLflow paths), never by a client's file name

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        return clean_key(name)  # overwrite: content-addressed names and MLflow paths are meant to be replaced

    def generate_filename(self, filename: str) -> str:
        return clean_key(filename)

    def multipart_create(self, key: str, parts: int, *, content_type: str = "", expires: int = 3600) -> Multipart:
        """Only where ``presigned_multipart`` is True: callers check it first (MLflow's client is told by
        ``server-info`` and falls back to plain uploads, as against ``mlflow server`` on a local directory)."""
        raise NotImplementedError("Presigned multipart uploads need an S3 storage.")

    def multipart_complete(
        self, key: str, upload_id: str, parts: list[tuple[int, str]], *, max_bytes: int | None = None
    ) -> int:
        # A store without presigned uploads has none in progress: an id it is asked about was started on another
        # store (an S3 bucket the operator has since switched away from), so it is unknown here.
        raise UploadNotFound(upload_id)

    def multipart_abort(self, key: str, upload_id: str) -> None:
        raise UploadNotFound(upload_id)


class FileSystemTenantStorage(TenantStorage):
    """``<root>/<schema>/<key>`` on a local (or shared) filesystem. Uploads are written under ``<root>/.partial`` and
    renamed into place, so a file is either absent, the old one, or complete."""

    def __init__(self, schema: str, config: StorageConfig, base: FileSystemStorage):
        super().__init__(schema, config)
        self.base = base

    def _path(self, key: str) -> Path:
        return Path(self.base.path(self._name(key)))

    # -- Django's Storage API
    def _open(self, name, mode="rb"):
        return self.base._open(self._name(name), mode)

    def _save(self, name, content):
        path = self._path(name)
        if path.is_file():
            path.unlink()  # replace (FileSystemStorage would pick another name)
        return self._key(self.base._save(self._name(name), content))

    def delete(self, name):
        self.base.delete(self._name(name))

    def exists(self, name):
        return self.base.exists(self._name(name))

    def listdir(self, path):
        try:
            return self.base.listdir(self._dir(path))
        except FileNotFoundError:
            return [], []

    def size(self, name):
        return self.base.size(self._name(name))

    def url(self, name):
        return self.base.url(self._name(name))

    def path(self, name):
        return self.base.path(self._name(name))

    def get_modified_time(self, name):
        return self.base.get_modified_time(self._name(name))

    def get_created_time(self, name):
        return self.base.get_created_time(self._name(name))

    def get_accessed_time(self, name):
        return self.base.get_accessed_time(self._name(name))

    # -- streams
    def save_stream(self, key: str, stream: IO[bytes], *, max_bytes: int | None = None, content_type: str = ""):
        final = self._path(key)
        partial_dir = Path(self.base.location) / PARTIAL_DIR
        partial_dir.mkdir(parents=True, exist_ok=True)
        partial = partial_dir / f"{self.schema}-{uuid.uuid4().hex}"
        reader = _HashingReader(stream, max_bytes)
        try:
            with open(partial, "wb") as out:
                while chunk := reader.read(CHUNK_BYTES):
                    out.write(chunk)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(partial, final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return Stored(key, reader.size, reader.digest.hexdigest())

    def open_stream(self, key: str) -> Reader:
        path = self._path(key)
        handle = open(path, "rb")  # noqa: SIM115  (closed by the Reader)
        return Reader(handle, os.fstat(handle.fileno()).st_size)

    def walk(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        top = Path(self.base.path(self._dir(prefix)))
        if top.is_file():
            yield _clean_prefix(prefix), top.stat().st_size
            return
        tenant_root = Path(self.base.path(self.schema))
        for directory, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for filename in sorted(filenames):
                path = Path(directory) / filename
                yield path.relative_to(tenant_root).as_posix(), path.stat().st_size

    def delete_prefix(self, prefix: str) -> int:
        top = Path(self.base.path(self._dir(prefix)))
        if top.is_file():
            top.unlink()
            return 1
        if not top.is_dir():
            return 0
        count = sum(len(files) for _, _, files in os.walk(top))
        shutil.rmtree(top)
        return count


def _s3_error_code(exc) -> tuple[str, int]:
    """(error code, HTTP status) of a botocore ClientError."""
    response = getattr(exc, "response", None) or {}
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return str(response.get("Error", {}).get("Code", "")), int(status)


@contextlib.contextmanager
def _s3_errors(what: str = ""):
    """Turn boto3's exceptions into this module's: missing → FileNotFoundError, everything that means the store
    cannot serve the request → StorageUnavailable."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        code, status = _s3_error_code(exc)
        if code in ("NoSuchKey", "404", "NotFound"):
            raise FileNotFoundError(f"No such file: {what}") from exc
        if code == "NoSuchUpload":
            raise UploadNotFound(what) from exc
        if code in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall", "MalformedXML", "InvalidRequest"):
            raise InvalidUpload(str(exc)) from exc
        logger.warning("object store refused a request", extra={"code": code, "status": status})
        raise StorageUnavailable(f"The object store refused the request ({code or status}).") from exc
    except BotoCoreError as exc:
        logger.warning("object store unreachable", extra={"error": type(exc).__name__})
        raise StorageUnavailable(f"The object store could not be reached ({type(exc).__name__}).") from exc


class S3TenantStorage(TenantStorage):
    """``s3://<bucket>/<prefix>/<schema>/<key>`` through django-storages' ``S3Storage`` (one per process, shared by
    every tenant) and its boto3 client."""

    presigned_multipart = True

    def __init__(self, schema: str, config: StorageConfig, base, presign_client):
        super().__init__(schema, config)
        self.base = base
        self.presign_client = presign_client

    @property
    def client(self):
        return self.base.connection.meta.client

    def _object_key(self, key: str) -> str:
        return "/".join(filter(None, [self.config.prefix, self._name(key)]))

    def _object_prefix(self, prefix: str) -> str:
        return "/".join(filter(None, [self.config.prefix, self._dir(prefix)])) + "/"

    # -- Django's Storage API
    def _open(self, name, mode="rb"):
        with _s3_errors(name):
            handle = self.base._open(self._name(name), mode)
            if "r" in mode:
                handle.size  # noqa: B018  (a HEAD request: a missing file fails here, not on the first read)
            return handle

    def _save(self, name, content):
        with _s3_errors(name):
            return self._key(self.base._save(self._name(name), content))

    def delete(self, name):
        with _s3_errors(name):
            self.base.delete(self._name(name))

    def exists(self, name):
        with _s3_errors(name):
            return self.base.exists(self._name(name))

    def listdir(self, path):
        with _s3_errors(path):
            return self.base.listdir(self._dir(path))

    def size(self, name):
        with _s3_errors(name):
            return self.client.head_object(Bucket=self.config.bucket, Key=self._object_key(name))["ContentLength"]

    def url(self, name):
        with _s3_errors(name):
            return self.base.url(self._name(name))

    def get_modified_time(self, name):
        with _s3_errors(name):
            return self.client.head_object(Bucket=self.config.bucket, Key=self._object_key(name))["LastModified"]

    # -- streams
    def save_stream(self, key: str, stream: IO[bytes], *, max_bytes: int | None = None, content_type: str = ""):
        """One PUT for files smaller than a part; above, a multipart upload whose parts are sent while the next one
        is read, and aborted if anything fails: S3 shows the object only once it is complete.

        Memory is fixed, whatever the file's size: ``upload_concurrency`` + 1 part buffers (8 MiB each by default),
        allocated once per upload and refilled in place — a part's buffer is read into again only after S3 has
        answered for it. boto3 is given the buffers themselves (bytearrays), so it copies nothing. Before, each part
        was a fresh ``bytes`` joined from its chunks, the first part stayed referenced to the end, and each upload's
        part thread built its own boto3 client: +52 MiB worker RSS from a 1 MB to a 100 MB upload
        (bench/mlflow_compare.py --artifact-storage s3)."""
        object_key = self._object_key(key)
        extra = {"ContentType": content_type} if content_type else {}
        reader = _HashingReader(stream, max_bytes)
        part_bytes, concurrency = self.config.part_bytes, self.config.upload_concurrency
        body = reader.read_part(part_bytes)
        with _s3_errors(key):
            if len(body) < part_bytes:
                self.client.put_object(Bucket=self.config.bucket, Key=object_key, Body=body, **extra)
                return Stored(key, reader.size, reader.digest.hexdigest())
            upload_id = self.client.create_multipart_upload(Bucket=self.config.bucket, Key=object_key, **extra)[
                "UploadId"
            ]

        client = self.client  # resolved here: django-storages keeps one boto3 resource per *thread*, so asking for it
        # in a part thread built a new session and client (service model parsed again) for every upload

        def send(number: int, part: bytearray) -> dict:
            with _s3_errors(key):
                answer = client.upload_part(
                    Bucket=self.config.bucket, Key=object_key, UploadId=upload_id, PartNumber=number, Body=part
                )
            return {"PartNumber": number, "ETag": answer["ETag"]}

        pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="s3-part")
        try:
            in_flight: collections.deque[tuple[Future, bytearray]] = collections.deque()
            spare: list[bytearray] = []
            parts, number = [], 1
            while True:
                while len(in_flight) >= concurrency:  # a buffer is reused only once its part is stored
                    future, sent = in_flight.popleft()
                    parts.append(future.result())
                    spare.append(sent)
                in_flight.append((pool.submit(send, number, body), body))
                if len(body) < part_bytes:
                    break
                body = spare.pop() if spare else bytearray(part_bytes)
                filled = reader.readinto(body)  # while the parts in flight are sent
                if not filled:
                    break
                del body[filled:]  # the last part may be short
                number += 1
            parts.extend(future.result() for future, _sent in in_flight)
            with _s3_errors(key):
                self.client.complete_multipart_upload(
                    Bucket=self.config.bucket, Key=object_key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.config.bucket, Key=object_key, UploadId=upload_id)
            raise
        finally:
            pool.shutdown(wait=True)
        return Stored(key, reader.size, reader.digest.hexdigest())

    def open_stream(self, key: str) -> Reader:
        with _s3_errors(key):
            answer = self.client.get_object(Bucket=self.config.bucket, Key=self._object_key(key))
        return Reader(answer["Body"], int(answer["ContentLength"]), errors=functools.partial(_s3_errors, key))

    def walk(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        object_prefix = self._object_prefix(prefix)
        tenant_prefix = self._object_prefix("")
        single = object_prefix[:-1]
        paginator = self.client.get_paginator("list_objects_v2")
        with _s3_errors(prefix):
            for page in paginator.paginate(Bucket=self.config.bucket, Prefix=single):
                for entry in page.get("Contents", ()):
                    name = entry["Key"]
                    if name == single or name.startswith(object_prefix):
                        yield name[len(tenant_prefix) :], int(entry["Size"])

    def delete_prefix(self, prefix: str) -> int:
        keys = [self._object_key(key) for key, _ in self.walk(prefix)]
        with _s3_errors(prefix):
            for start in range(0, len(keys), 1000):
                batch = keys[start : start + 1000]
                self.client.delete_objects(
                    Bucket=self.config.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
                )
        return len(keys)

    # -- presigned multipart
    def multipart_create(self, key: str, parts: int, *, content_type: str = "", expires: int = 3600) -> Multipart:
        object_key = self._object_key(key)
        extra = {"ContentType": content_type} if content_type else {}
        with _s3_errors(key):
            upload_id = self.client.create_multipart_upload(Bucket=self.config.bucket, Key=object_key, **extra)[
                "UploadId"
            ]
            urls = [(number, self._part_url(object_key, upload_id, number, expires)) for number in range(1, parts + 1)]
        return Multipart(upload_id, urls)

    def _part_url(self, object_key: str, upload_id: str, number: int, expires: int) -> str:
        params = {"Bucket": self.config.bucket, "Key": object_key, "UploadId": upload_id, "PartNumber": number}
        return self.presign_client.generate_presigned_url("upload_part", Params=params, ExpiresIn=expires)

    def multipart_complete(
        self, key: str, upload_id: str, parts: list[tuple[int, str]], *, max_bytes: int | None = None
    ) -> int:
        """Assemble the uploaded ``parts`` into the file; its size. The parts' sizes are read from the store first:
        an unknown id is ``UploadNotFound`` on every store (some answer a completion of an unknown id with a 500),
        and beyond ``max_bytes`` the upload is aborted — ``TooLarge``, and ``key`` keeps its old content."""
        object_key = self._object_key(key)
        wanted = {number for number, _etag in parts}
        total = 0
        with _s3_errors(key):
            pages = self.client.get_paginator("list_parts").paginate(
                Bucket=self.config.bucket, Key=object_key, UploadId=upload_id
            )
            for page in pages:
                total += sum(int(part["Size"]) for part in page.get("Parts", ()) if part["PartNumber"] in wanted)
        if max_bytes is not None and total > max_bytes:
            self.multipart_abort(key, upload_id)
            raise TooLarge(max_bytes)
        with _s3_errors(key):
            self.client.complete_multipart_upload(
                Bucket=self.config.bucket,
                Key=object_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
            )
            return int(self.client.head_object(Bucket=self.config.bucket, Key=object_key)["ContentLength"])

    def multipart_abort(self, key: str, upload_id: str) -> None:
        with _s3_errors(key):
            self.client.abort_multipart_upload(Bucket=self.config.bucket, Key=self._object_key(key), UploadId=upload_id)


# ---------------------------------------------------------------------------------------------- backends


def _client_config(config: StorageConfig):
    from botocore.config import Config

    return Config(
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        retries={"max_attempts": config.max_attempts, "mode": "standard"},
        s3={"addressing_style": "path"} if config.endpoint_url else {},
        signature_version="s3v4",
        # S3-compatible stores (MinIO, Ceph) do not all accept the checksums boto3 now adds by default.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


@functools.lru_cache(maxsize=8)
def _backend(config: StorageConfig):
    """The process-wide Django storage (and presigning client) for ``config``: one boto3 session per process."""
    if config.kind == "filesystem":
        return FileSystemStorage(location=config.root, base_url=settings.MEDIA_URL), None
    import boto3
    from storages.backends.s3 import S3Storage

    client_config = _client_config(config)
    base = S3Storage(
        bucket_name=config.bucket,
        location=config.prefix,
        endpoint_url=config.endpoint_url or None,
        region_name=config.region or None,
        client_config=client_config,
        file_overwrite=True,
        default_acl=None,
        querystring_auth=True,
        max_memory_size=CHUNK_BYTES,  # S3File spills to a temporary file beyond this, never holding a whole file
    )
    presign_client = boto3.session.Session().client(
        "s3",
        endpoint_url=config.public_endpoint_url or config.endpoint_url or None,
        region_name=config.region or None,
        config=client_config,
    )
    return base, presign_client


def tenant_storage(schema: str | None = None) -> TenantStorage:
    """The storage of tenant ``schema`` (default: the tenant of the current database connection)."""
    schema = schema or connection.schema_name
    if schema in (None, "", getattr(settings, "PUBLIC_SCHEMA_NAME", "public")):
        raise InvalidKey("Files belong to a tenant; the platform schema has no storage.")
    config = current_config()
    base, presign_client = _backend(config)
    if config.kind == "filesystem":
        return FileSystemTenantStorage(schema, config, base)
    return S3TenantStorage(schema, config, base, presign_client)


class CurrentTenantStorage(Storage):
    """``STORAGES["default"]``: every call goes to ``tenant_storage()`` of the tenant active at that moment, so one
    storage object (Django's ``default_storage``, ``FileField``s) serves every tenant and both backends."""

    def _target(self) -> TenantStorage:
        return tenant_storage()

    def _open(self, name, mode="rb"):
        return self._target()._open(name, mode)

    def _save(self, name, content):
        return self._target()._save(name, content)

    def get_valid_name(self, name):
        return name

    def get_available_name(self, name, max_length=None):
        return self._target().get_available_name(name, max_length)

    def generate_filename(self, filename):
        return clean_key(filename)

    def delete(self, name):
        return self._target().delete(name)

    def exists(self, name):
        return self._target().exists(name)

    def listdir(self, path):
        return self._target().listdir(path)

    def size(self, name):
        return self._target().size(name)

    def url(self, name):
        return self._target().url(name)

    def path(self, name):
        return self._target().path(name)

    def get_modified_time(self, name):
        return self._target().get_modified_time(name)

    def __getattr__(self, attribute: str) -> Any:
        # save_stream, open_stream, walk, … of the current tenant's storage
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        return getattr(self._target(), attribute)


# ---------------------------------------------------------------------------------------------- maintenance


def cleanup_stale_uploads(max_age_seconds: float) -> int:
    """Abort S3 multipart uploads (presigned ones clients started and never finished, and streamed ones a killed
    process left) and remove partly written files, started more than ``max_age_seconds`` ago; every tenant.
    Returns how many were cleaned up."""
    config = current_config()
    base, _ = _backend(config)
    if config.kind == "filesystem":
        partial_dir = Path(config.root) / PARTIAL_DIR
        cutoff = time.time() - max_age_seconds
        removed = 0
        for path in list(partial_dir.glob("*")) if partial_dir.is_dir() else []:
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed
    client = base.connection.meta.client
    cutoff = datetime.now(UTC) - timedelta(seconds=max_age_seconds)
    prefix = f"{config.prefix}/" if config.prefix else ""
    aborted = 0
    with _s3_errors("multipart uploads"):
        for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=config.bucket, Prefix=prefix):
            for upload in page.get("Uploads", ()):
                if upload["Initiated"] < cutoff:
                    with contextlib.suppress(UploadNotFound), _s3_errors(upload["Key"]):
                        client.abort_multipart_upload(
                            Bucket=config.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        aborted += 1
    if aborted:
        logger.info("stale multipart uploads aborted", extra={"count": aborted})
    return aborted


def ensure_bucket() -> bool:
    """Create the configured bucket when it does not exist (docker-compose's MinIO starts empty); True if created.
    A no-op on the filesystem."""
    config = current_config()
    if config.kind != "s3":
        return False
    base, _ = _backend(config)
    client = base.connection.meta.client
    from botocore.exceptions import ClientError

    with _s3_errors(config.bucket):
        try:
            client.head_bucket(Bucket=config.bucket)
            return False
        except ClientError as exc:
            if _s3_error_code(exc)[1] != 404:
                raise
        client.create_bucket(Bucket=config.bucket)
    return True


@dataclasses.dataclass
class CopyResult:
    copied: int = 0
    skipped: int = 0
    bytes: int = 0


def copy_local_files(source_root: Path, schema: str, *, progress=lambda message: None) -> CopyResult:
    """Copy ``<source_root>/<schema>/…`` (files stored on a local disk, e.g. before S3 was configured) into the
    tenant's configured storage under the same keys. Files already there with the same size are skipped, so it can
    be run again after an interruption; content-addressed library files are checked against their hash."""
    storage = tenant_storage(schema)
    top = Path(source_root) / schema
    result = CopyResult()
    for path in sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else []:
        key = path.relative_to(top).as_posix()
        size = path.stat().st_size
        if storage.exists(key) and storage.size(key) == size:
            result.skipped += 1
            continue
        with open(path, "rb") as handle:
            stored = storage.save_stream(key, handle)
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == "artifacts" and parts[2] != stored.sha256:
            storage.delete(key)
            raise ValueError(f"{path}: its content does not match its name (SHA-256 {stored.sha256}); not copied.")
        result.copied += 1
        result.bytes += stored.size
        progress(f"{schema}: {key} ({stored.size} bytes)")
    return result


__all__ = [
    "CopyResult",
    "CurrentTenantStorage",
    "InvalidKey",
    "InvalidUpload",
    "Multipart",
    "Reader",
    "StorageConfig",
    "StorageUnavailable",
    "Stored",
    "TenantStorage",
    "TooLarge",
    "UploadNotFound",
    "clean_key",
    "cleanup_stale_uploads",
    "copy_local_files",
    "current_config",
    "ensure_bucket",
    "tenant_storage",
]
