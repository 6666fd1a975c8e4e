"""A folder of stored files as one download.

An artifact version's content is usually one uploaded file (a content-addressed blob). A registered MLflow model
version is a folder instead — ``MLmodel``, the pickled model, its environment files — that the MLflow client wrote
through the artifact proxy. The library points at that folder (``ArtifactVersion.storage_prefix``) rather than
copying it, so the library and MLflow serve the same bytes, and the download zips the folder on the fly: the zip is
written to the response as it is produced (a data descriptor after each entry, as zip allows for unseekable
output), one storage chunk in memory at a time, whatever the folder's size.

Only Django's storage API is used (``listdir``, ``size``, ``open``), so the folder may live on any backend the
tenant's storage uses.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

from django.core.files.storage import Storage, default_storage

CHUNK_BYTES = 256 * 1024
MAX_FILES = 10_000  # a model folder holds a handful; a bound keeps a listing of a huge folder from running away


def folder_files(prefix: str, storage: Storage | None = None) -> list[tuple[str, int]]:
    """Every file under ``prefix`` as (path relative to ``prefix``, size in bytes), sorted by path; [] when the
    folder is empty or missing."""
    storage = storage or default_storage
    found: list[tuple[str, int]] = []
    pending = [""]
    while pending and len(found) < MAX_FILES:
        relative = pending.pop()
        folder = f"{prefix.rstrip('/')}/{relative}".rstrip("/")
        try:
            dirs, files = storage.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in files:
            path = f"{relative}{name}"
            found.append((path, storage.size(f"{prefix.rstrip('/')}/{path}")))
        pending.extend(f"{relative}{name}/" for name in dirs)
    return sorted(found)


class _Sink(io.RawIOBase):
    """Collects what zipfile writes; not seekable, so zipfile streams (data descriptors instead of rewrites)."""

    def __init__(self):
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def zip_stream(prefix: str, files: list[tuple[str, int]], storage: Storage | None = None) -> Iterator[bytes]:
    """The zip of ``files`` (from ``folder_files(prefix)``) as a stream of byte chunks."""
    storage = storage or default_storage
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, size in files:
            entry = zipfile.ZipInfo(path)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.file_size = size
            with storage.open(f"{prefix.rstrip('/')}/{path}", "rb") as source, archive.open(entry, "w") as target:
                for chunk in source.chunks(CHUNK_BYTES):
                    target.write(chunk)
                    if data := sink.take():
                        yield data
            if data := sink.take():
                yield data
    if data := sink.take():
        yield data
