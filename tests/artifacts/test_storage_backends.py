"""The artifact library on both file storages — the local filesystem and a real S3 API (moto's server): upload,
content-addressed dedup, download, delete, tenant prefixes, a dashboard upload, and an object store that is down."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.artifacts.models import ArtifactBlob, ArtifactVersion
from tests.artifacts.factories import ArtifactFactory
from tests.dashboard.helpers import signed_in
from tests.projects.helpers import admin_actor
from tests.support.s3 import unreachable_settings

pytestmark = pytest.mark.django_db


def _upload(actor, artifact, version: str, content: bytes):
    data = {"version": version, "file": SimpleUploadedFile("data.bin", content, "application/octet-stream")}
    return actor.api.post(f"/api/v1/artifacts/{artifact.pk}/versions", data, format="multipart")


def _stored(backend: str, request) -> dict[str, int]:
    """Every stored file → its size, as the backend holds it (relative to MEDIA_ROOT, or to the test's S3 prefix)."""
    if backend == "filesystem":
        root = Path(settings.MEDIA_ROOT)
        return {p.relative_to(root).as_posix(): p.stat().st_size for p in root.rglob("*") if p.is_file()}
    server, prefix = request.getfixturevalue("s3_storage")
    return {key.removeprefix(prefix + "/"): size for key, size in server.keys(prefix).items()}


def test_upload_dedup_download_and_delete_on_each_storage(
    storage_backend, tenant_a, tenant_b, request, django_capture_on_commit_callbacks
):
    admin, other = admin_actor(tenant_a), admin_actor(tenant_b)
    with tenant_a.context():
        artifact = ArtifactFactory(name="weights")
    with tenant_b.context():
        artifact_b = ArtifactFactory(name="weights")
    content = b"\x00\x01model bytes" * 50_000
    sha = hashlib.sha256(content).hexdigest()
    first = _upload(admin, artifact, "1.0.0", content)
    assert first.status_code == 201, first.content[:300]
    assert _upload(admin, artifact, "1.1.0", content).status_code == 201  # same bytes: stored once
    assert _upload(other, artifact_b, "1.0.0", content).status_code == 201  # another tenant: its own copy

    stored = _stored(storage_backend, request)
    assert stored == {f"alpha/artifacts/{sha[:2]}/{sha}": len(content), f"beta/artifacts/{sha[:2]}/{sha}": len(content)}
    download = admin.api.get(f"/api/v1/artifacts/{artifact.pk}/versions/{first.json()['id']}/download")
    assert download.status_code == 200 and b"".join(download.streaming_content) == content
    assert download["ETag"] == f'"{sha}"' and download["Content-Length"] == str(len(content))

    with tenant_a.context():
        versions = list(ArtifactVersion.objects.filter(artifact=artifact).values_list("pk", flat=True))
    for pk in versions:
        with django_capture_on_commit_callbacks(execute=True):  # the file goes once the delete commits
            assert admin.api.delete(f"/api/v1/artifacts/{artifact.pk}/versions/{pk}").status_code == 204
    assert _stored(storage_backend, request) == {f"beta/artifacts/{sha[:2]}/{sha}": len(content)}
    with tenant_a.context():
        assert not ArtifactBlob.objects.filter(sha256=sha).exists()


def test_a_dashboard_upload_goes_to_the_object_store(s3_storage, tenant_a, request):
    server, prefix = s3_storage
    with tenant_a.context():
        artifact = ArtifactFactory(name="from-the-browser")
    browser = signed_in(tenant_a).client
    content = b"uploaded in the dashboard"
    response = browser.post(
        f"/artifacts/{artifact.pk}/versions",
        {"version": "1.0.0", "changelog": "first", "file": SimpleUploadedFile("notes.txt", content, "text/plain")},
    )
    assert response.status_code == 302, response.content[:300]
    sha = hashlib.sha256(content).hexdigest()
    assert server.keys(prefix) == {f"{prefix}/alpha/artifacts/{sha[:2]}/{sha}": len(content)}


def test_an_object_store_that_is_down_answers_424_and_stores_nothing(settings, tenant_a, request):
    admin = admin_actor(tenant_a)
    with tenant_a.context():
        artifact = ArtifactFactory(name="unreachable")
    ok = _upload(admin, artifact, "1.0.0", b"kept on disk")  # stored before the switch (filesystem)
    assert ok.status_code == 201
    for name, value in unreachable_settings().items():
        setattr(settings, name, value)
    refused = _upload(admin, artifact, "2.0.0", b"never stored")
    assert refused.status_code == 424, refused.content[:300]
    assert refused.json()["code"] == "storage_unavailable" and refused["Retry-After"] == "5"
    download = admin.api.get(f"/api/v1/artifacts/{artifact.pk}/versions/{ok.json()['id']}/download")
    assert download.status_code == 424 and download.json()["code"] == "storage_unavailable"
    with tenant_a.context():
        assert list(ArtifactVersion.objects.filter(artifact=artifact).values_list("version", flat=True)) == ["1.0.0"]
        assert not ArtifactBlob.objects.filter(sha256=hashlib.sha256(b"never stored").hexdigest()).exists()
    browser = signed_in(tenant_a).client
    page = browser.post(
        f"/artifacts/{artifact.pk}/versions",
        {"version": "3.0.0", "file": SimpleUploadedFile("x.bin", b"dashboard bytes", "application/octet-stream")},
    )
    assert page.status_code == 200 and b"unreachable" in page.content  # the form says so; no 500
