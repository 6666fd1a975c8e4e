"""Artifact uploads when the file storage fails, against a real gunicorn.

* Disk full: ``MEDIA_ROOT`` is a 1 MiB tmpfs (needs root to mount; skipped otherwise) and a 3 MiB file is uploaded.
* Storage broken: the tenant's storage directory is a regular file, so nothing can be written under it.

Pass: a clear, 5xx-free error in the shared shape — 413 ``storage_full`` when full, 424 ``storage_failed``
otherwise — with no version or blob row and no file (not even a partly written one) left behind; and the next upload
that fits succeeds, so the failure left nothing that takes up space or blocks the path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from apps.artifacts.models import Artifact, ArtifactBlob, ArtifactVersion
from tests.support import faults
from tests.support.access import make_principal
from tests.support.fuzzing import http

pytestmark = [pytest.mark.slow]


@pytest.fixture
def artifact(committed):
    alpha, _beta = committed
    admin = make_principal(alpha, "admin")
    with alpha.context():
        artifact = Artifact.objects.create(name="storage-fault", type="dataset", owner=admin.user)
    yield alpha, admin, artifact
    with alpha.context():
        ArtifactVersion.objects.filter(artifact=artifact).delete()
        artifact.delete()


@pytest.fixture
def full_disk(tmp_path):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    mountpoint = tmp_path / "media"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def files_under(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


def upload(server, admin, artifact, version: str, content: bytes):
    return http(
        "POST",
        server.url(f"/api/v1/artifacts/{artifact.pk}/versions"),
        token=admin.token,
        body={"version": version},
        files={"file": ("data.bin", content)},
    )


def assert_nothing_stored(alpha, artifact, content: bytes, media_root: Path):
    import hashlib

    with alpha.context():
        assert not ArtifactVersion.objects.filter(artifact=artifact).exists()
        assert not ArtifactBlob.objects.filter(sha256=hashlib.sha256(content).hexdigest()).exists()
    leftovers = [path for path in files_under(media_root) if path.stat().st_size >= len(content) // 4]
    assert not leftovers, leftovers


def test_upload_to_a_full_disk_is_413_and_leaves_nothing_behind(artifact, full_disk, tmp_path):
    alpha, admin, artifact = artifact
    server = faults.start_gunicorn({**faults.process_env(), "MEDIA_ROOT": str(full_disk)}, tmp_path / "gunicorn.log")
    try:
        big = os.urandom(3 * 1024 * 1024)
        status, body = upload(server, admin, artifact, "1.0.0", big)
        assert status == 413, (status, body)
        assert body["status"] == 413 and body["code"] == "storage_full" and "no room" in body["detail"], body
        assert_nothing_stored(alpha, artifact, big, full_disk)
        assert files_under(full_disk) == []

        small = os.urandom(64 * 1024)
        status, body = upload(server, admin, artifact, "1.0.1", small)
        assert status == 201, (status, body)
        assert [path.read_bytes() for path in files_under(full_disk)] == [small]
    finally:
        faults.stop(server.proc)
    print("\ndisk full: 3 MiB upload → 413 storage_full, nothing stored; the next 64 KiB upload → 201")


def test_upload_when_the_storage_is_broken_is_424_and_leaves_nothing_behind(artifact, tmp_path):
    alpha, admin, artifact = artifact
    media = tmp_path / "media"
    media.mkdir()
    (media / alpha.schema).write_text("not a directory")  # every path under the tenant's storage fails (ENOTDIR)
    server = faults.start_gunicorn({**faults.process_env(), "MEDIA_ROOT": str(media)}, tmp_path / "gunicorn.log")
    try:
        content = os.urandom(256 * 1024)
        status, body = upload(server, admin, artifact, "1.0.0", content)
        assert status == 424, (status, body)
        assert body["status"] == 424 and body["code"] == "storage_failed" and "nothing was stored" in body["detail"]
        assert_nothing_stored(alpha, artifact, content, media)

        (media / alpha.schema).unlink()  # the storage is repaired: the same upload now succeeds
        status, body = upload(server, admin, artifact, "1.0.0", content)
        assert status == 201, (status, body)
    finally:
        faults.stop(server.proc)
