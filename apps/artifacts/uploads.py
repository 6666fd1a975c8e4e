"""Receiving artifact files: streamed to a temporary file while hashed, size-limited, with safe names.

Django's upload handler hook is the place where each chunk of a multipart body passes exactly once, so the SHA-256
and the size are computed there while the chunk is written to disk; the file is never held in memory and never read
back to be hashed. Storage then moves the temporary file into place (a rename on the same filesystem).
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import unicodedata
from typing import IO

from django.conf import settings
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile, StopFutureHandlers, StopUpload

UPLOAD_FIELD = "file"
CHUNK_SIZE = 256 * 1024
_UNSAFE = re.compile(r"[^\w.\-+() ]", re.UNICODE)
_MIME = re.compile(r"^[A-Za-z0-9][\w!#$&^.+-]{0,63}/[A-Za-z0-9][\w!#$&^.+-]{0,63}$")


class UploadTooLarge(Exception):
    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(f"The file is larger than the upload limit of {limit} bytes.")


def max_upload_bytes() -> int:
    return int(settings.ARTIFACT_MAX_UPLOAD_BYTES)


def safe_filename(name: str | None, *, default: str = "file") -> str:
    """A name safe for Content-Disposition and logs: the last path component only (``/`` and ``\\``), Unicode NFKC,
    characters other than letters, digits and ``.-+() _`` replaced by ``_``, no leading dots, at most 200 characters
    (the extension kept). Storage never uses it: files are stored under their content hash."""
    name = unicodedata.normalize("NFKC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join("_" if unicodedata.category(ch)[0] == "C" else ch for ch in name)
    name = _UNSAFE.sub("_", name).strip(" .") or default
    if len(name) > 200:
        stem, ext = os.path.splitext(name)
        name = stem[: 200 - len(ext[:20])] + ext[:20]
    return name


def safe_content_type(content_type: str | None, filename: str) -> str:
    """The client's content type when it is a well-formed ``type/subtype``, else a guess from the name."""
    content_type = (content_type or "").split(";")[0].strip().lower()
    if content_type and _MIME.match(content_type):
        return content_type
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def hash_stream(fileobj: IO[bytes]) -> tuple[str, int]:
    """SHA-256 and size of a file object, read in chunks (for files that did not come through the handler)."""
    digest, size = hashlib.sha256(), 0
    chunks = fileobj.chunks(CHUNK_SIZE) if hasattr(fileobj, "chunks") else iter(lambda: fileobj.read(CHUNK_SIZE), b"")
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    if hasattr(fileobj, "seek"):
        fileobj.seek(0)
    return digest.hexdigest(), size


class HashingUploadHandler(FileUploadHandler):
    """Accept one file (form field ``file``) of at most ``max_bytes``: written to a temporary file, hashed on the way.

    A body whose declared length exceeds the limit by more than the allowance for form fields is refused before
    anything is read (``UploadTooLarge`` propagates). A file that turns out larger while streaming stops the upload;
    the rest of the body is drained (so the client receives the 413 instead of a reset connection) and
    ``too_large`` is set for the view to answer 413.
    """

    chunk_size = CHUNK_SIZE

    def __init__(self, request=None, *, max_bytes: int):
        super().__init__(request)
        self.max_bytes = max_bytes
        self.too_large = False
        self.received_file = False
        self.ignored_files: list[str] = []
        # no ``file`` attribute until a file starts: Django's parser closes ``handler.file`` wherever it exists

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        allowance = (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0) + 64 * 1024
        if content_length and content_length > self.max_bytes + allowance:
            raise UploadTooLarge(self.max_bytes)
        return None

    def new_file(self, field_name, file_name, content_type, content_length, charset=None, content_type_extra=None):
        if field_name != UPLOAD_FIELD or self.received_file:
            self.ignored_files.append(field_name)
            raise SkipFile()
        if content_length is not None and content_length > self.max_bytes:
            self.too_large = True
            raise StopUpload(connection_reset=False)
        super().new_file(field_name, file_name, content_type, content_length, charset, content_type_extra)
        self.received_file = True
        self.file = TemporaryUploadedFile(file_name, content_type, 0, charset, content_type_extra)
        self.digest = hashlib.sha256()
        self.size = 0
        raise StopFutureHandlers()

    def receive_data_chunk(self, raw_data, start):
        self.size += len(raw_data)
        if self.size > self.max_bytes:
            self.too_large = True
            self.file.close()
            raise StopUpload(connection_reset=False)
        self.digest.update(raw_data)
        self.file.write(raw_data)
        return None

    def file_complete(self, file_size):
        self.file.seek(0)
        self.file.size = file_size
        self.file.sha256 = self.digest.hexdigest()
        return self.file

    def upload_interrupted(self):
        if getattr(self, "file", None) is not None:
            self.file.close()
