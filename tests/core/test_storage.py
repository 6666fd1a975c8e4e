"""maestro/storage.py on both backends — the local filesystem and a real S3 API (moto's server over HTTP): streamed,
hashed, size-limited, atomic writes; per-tenant prefixes; S3 multipart uploads and their cleanup; an unreachable
store raising StorageUnavailable."""

from __future__ import annotations

import hashlib
import io
import os
import time
import tracemalloc
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.core.files.storage import default_storage

from maestro import storage as st
from tests.support.s3 import unreachable_settings

pytestmark = pytest.mark.django_db
MIB = 1024 * 1024


def payload(size: int, seed: int = 1) -> bytes:
    return (hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1))[:size]


class Failing(io.RawIOBase):
    """A stream that delivers ``good`` bytes and then breaks (a client that disconnects mid-upload)."""

    def __init__(self, good: int):
        self.left = good

    def readable(self):
        return True

    def read(self, n=-1):
        if self.left <= 0:
            raise ConnectionResetError("client went away")
        chunk = b"x" * min(n if n > 0 else MIB, self.left)
        self.left -= len(chunk)
        return chunk


def physical_keys(backend: str, s3_prefix: str | None, server) -> set[str]:
    """Every stored file, as the backend holds it (paths under MEDIA_ROOT, or object keys under the test prefix)."""
    if backend == "filesystem":
        root = Path(settings.MEDIA_ROOT)
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    return set(server.keys(s3_prefix))


@pytest.fixture
def small_parts(settings):
    settings.MAESTRO_STORAGE_PART_BYTES = 5 * MIB  # S3's smallest part, so a few MiB exercise multipart uploads


def test_streamed_save_hashes_sizes_and_reads_back(storage_backend, tenant_a, small_parts):
    data = payload(11 * MIB + 123)
    store = st.tenant_storage(tenant_a.schema)
    stored = store.save_stream("mlflow/1/run/artifacts/model.bin", io.BytesIO(data), content_type="application/x")
    assert stored == st.Stored("mlflow/1/run/artifacts/model.bin", len(data), hashlib.sha256(data).hexdigest())
    with store.open_stream(stored.key) as reader:
        assert reader.size == len(data)
        assert b"".join(reader) == data
    assert store.size(stored.key) == len(data) and store.exists(stored.key)
    assert store.sha256(stored.key) == stored.sha256
    assert list(store.walk("mlflow/1")) == [(stored.key, len(data))]
    smaller = payload(100, seed=2)
    store.save_stream(stored.key, io.BytesIO(smaller))  # replaces
    with store.open_stream(stored.key) as reader:
        assert reader.read() == smaller


@pytest.mark.parametrize(("size", "concurrency"), [(15 * MIB, 2), (17 * MIB + 5, 1)])
def test_s3_uploads_hold_a_fixed_number_of_parts_in_memory_and_store_every_byte(
    s3_storage, tenant_a, small_parts, settings, size, concurrency
):
    server, prefix = s3_storage
    settings.MAESTRO_STORAGE_UPLOAD_CONCURRENCY = concurrency
    store = st.tenant_storage(tenant_a.schema)
    store.save_stream("warm-up", io.BytesIO(b"x"))  # boto3 loads its service model on first use
    data = payload(size)
    stream = io.BytesIO(data)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        stored = store.save_stream("big.bin", stream)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert stored.size == size and stored.sha256 == hashlib.sha256(data).hexdigest()
    with store.open_stream("big.bin") as reader:
        assert b"".join(reader) == data  # parts refilled in place: none sent twice or overwritten in flight
    assert server.uploads(prefix) == []
    # the parts being sent and the one being read (5 MiB each), a chunk read from the stream and its copy, boto3's
    # request objects; not boto3's service model parsed again for each upload, nor joined copies of the parts
    assert peak < (concurrency + 1) * 5 * MIB + 3 * MIB, f"{peak / MIB:.1f} MiB"


def test_each_tenant_has_its_own_prefix_and_sees_nothing_of_another(storage_backend, tenant_a, tenant_b, request):
    alpha, beta = st.tenant_storage(tenant_a.schema), st.tenant_storage(tenant_b.schema)
    alpha.save_stream("artifacts/ab/secret", io.BytesIO(b"alpha only"))
    assert not beta.exists("artifacts/ab/secret")
    with pytest.raises(FileNotFoundError):
        beta.open_stream("artifacts/ab/secret")
    assert list(beta.walk("")) == [] and beta.is_empty()
    assert beta.delete_prefix("artifacts") == 0 and alpha.exists("artifacts/ab/secret")
    if storage_backend == "filesystem":
        assert (Path(settings.MEDIA_ROOT) / tenant_a.schema / "artifacts/ab/secret").read_bytes() == b"alpha only"
    else:
        server, prefix = request.getfixturevalue("s3_storage")
        assert set(server.keys(prefix)) == {f"{prefix}/{tenant_a.schema}/artifacts/ab/secret"}


def test_the_default_storage_follows_the_active_tenant(storage_backend, tenant_a, tenant_b):
    with tenant_a.context():
        default_storage.save("notes/a.txt", io.BytesIO(b"A"))
    with tenant_b.context():
        assert not default_storage.exists("notes/a.txt")
    with tenant_a.context(), default_storage.open("notes/a.txt") as handle:
        assert handle.read() == b"A"


@pytest.mark.parametrize("key", ["../escape", "/abs/path", "a//b", "a/./b", "a/../../b", "a\\b", "a/b/", "", "nul\x00"])
def test_keys_that_could_leave_the_tenant_are_refused(tenant_a, key):
    store = st.tenant_storage(tenant_a.schema)
    with pytest.raises(st.InvalidKey):
        store.save_stream(key, io.BytesIO(b"x"))
    with pytest.raises(st.InvalidKey):
        st.tenant_storage("../" + tenant_a.schema)


def test_an_upload_over_the_limit_stores_nothing_and_keeps_the_old_file(storage_backend, tenant_a, small_parts,
                                                                         request):  # fmt: skip
    server, prefix = request.getfixturevalue("s3_storage") if storage_backend == "s3" else (None, None)
    store = st.tenant_storage(tenant_a.schema)
    store.save_stream("mlflow/big", io.BytesIO(b"old"))
    before = physical_keys(storage_backend, prefix, server)
    with pytest.raises(st.TooLarge) as refused:
        store.save_stream("mlflow/big", io.BytesIO(payload(12 * MIB)), max_bytes=7 * MIB)
    assert refused.value.limit == 7 * MIB
    with store.open_stream("mlflow/big") as reader:
        assert reader.read() == b"old"
    assert physical_keys(storage_backend, prefix, server) == before
    if server:
        assert server.uploads(prefix) == []  # the multipart upload begun for the first 5 MiB part was aborted


def test_an_interrupted_stream_leaves_no_partial_file(storage_backend, tenant_a, small_parts, request):
    server, prefix = request.getfixturevalue("s3_storage") if storage_backend == "s3" else (None, None)
    store = st.tenant_storage(tenant_a.schema)
    before = physical_keys(storage_backend, prefix, server)
    with pytest.raises(ConnectionResetError):
        store.save_stream("mlflow/cut", Failing(good=6 * MIB))
    assert not store.exists("mlflow/cut")
    assert physical_keys(storage_backend, prefix, server) == before
    if server:
        assert server.uploads(prefix) == []


def test_delete_prefix_removes_a_directory_or_one_file(storage_backend, tenant_a):
    store = st.tenant_storage(tenant_a.schema)
    for key in ("mlflow/7/r/artifacts/a.txt", "mlflow/7/r/artifacts/d/b.txt", "mlflow/7/other.txt", "mlflow/77/x"):
        store.save_stream(key, io.BytesIO(key.encode()))
    assert store.delete_prefix("mlflow/7/r") == 2
    assert store.delete_prefix("mlflow/7/other.txt") == 1
    assert [key for key, _ in store.walk("mlflow")] == ["mlflow/77/x"]  # only this test's files: own MEDIA_ROOT/prefix


def test_presigned_multipart_upload_completes_and_aborts(s3_storage, tenant_a):
    server, prefix = s3_storage
    store = st.tenant_storage(tenant_a.schema)
    assert store.presigned_multipart
    parts = [payload(5 * MIB, seed=1), payload(MIB, seed=2)]
    started = store.multipart_create("mlflow/9/r/artifacts/big.bin", 2)
    assert [number for number, _ in started.urls] == [1, 2]
    etags = []
    for (number, url), body in zip(started.urls, parts, strict=True):
        answer = requests.put(url, data=body, timeout=30)  # what MLflow's client does with the credentials
        assert answer.status_code == 200, answer.text[:300]
        etags.append((number, answer.headers["ETag"]))
    assert store.multipart_complete("mlflow/9/r/artifacts/big.bin", started.upload_id, etags) == 6 * MIB
    with store.open_stream("mlflow/9/r/artifacts/big.bin") as reader:
        assert reader.read() == b"".join(parts)
    with pytest.raises(st.UploadNotFound):
        store.multipart_complete("mlflow/9/r/artifacts/big.bin", "no-such-upload", etags)

    aborted = store.multipart_create("mlflow/9/r/artifacts/other.bin", 1)
    assert len(server.uploads(prefix)) == 1
    store.multipart_abort("mlflow/9/r/artifacts/other.bin", aborted.upload_id)
    assert server.uploads(prefix) == [] and not store.exists("mlflow/9/r/artifacts/other.bin")


def test_stale_multipart_uploads_and_partial_files_are_cleaned_up(storage_backend, tenant_a, request):
    store = st.tenant_storage(tenant_a.schema)
    if storage_backend == "s3":
        server, prefix = request.getfixturevalue("s3_storage")
        store.multipart_create("mlflow/1/r/artifacts/abandoned", 3)
        assert len(server.uploads(prefix)) == 1
        # moto reports every upload as initiated in 2010, so only "stale is aborted" can be checked on it; that a
        # young upload is left alone is checked on the filesystem below and by the MLflow layer's own expiry.
        assert st.cleanup_stale_uploads(3600) == 1
        assert server.uploads(prefix) == []
    else:
        partial_dir = Path(settings.MEDIA_ROOT) / st.PARTIAL_DIR
        partial_dir.mkdir(parents=True, exist_ok=True)
        stale, fresh = partial_dir / f"{tenant_a.schema}-stale", partial_dir / f"{tenant_a.schema}-fresh"
        stale.write_bytes(b"half")
        fresh.write_bytes(b"in progress")
        os.utime(stale, (time.time() - 7200, time.time() - 7200))
        assert st.cleanup_stale_uploads(3600) == 1
        assert not stale.exists() and fresh.exists()
        fresh.unlink()


def test_an_unreachable_store_raises_storage_unavailable_quickly(settings, tenant_a):
    for name, value in unreachable_settings().items():
        setattr(settings, name, value)
    store = st.tenant_storage(tenant_a.schema)
    started = time.monotonic()
    for call in (
        lambda: store.save_stream("a/b", io.BytesIO(b"x")),
        lambda: store.open_stream("a/b"),
        lambda: store.exists("a/b"),
        lambda: list(store.walk("a")),
        lambda: store.multipart_create("a/b", 1),
    ):
        with pytest.raises(st.StorageUnavailable):
            call()
    assert time.monotonic() - started < 20
