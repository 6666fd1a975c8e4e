"""Plan limits applied by the artifact services: artifacts and stored bytes (a deduplicated upload costs nothing)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.artifacts.models import Artifact, ArtifactBlob
from tests.projects.helpers import admin_actor

pytestmark = pytest.mark.django_db


def _set(tenant, **limits):
    for field, value in limits.items():
        setattr(tenant, field, value)
    tenant.save(update_fields=list(limits))


def test_artifact_limit_is_a_403_and_writes_nothing(tenant_a):
    admin = admin_actor(tenant_a)
    with tenant_a.context():
        existing = Artifact.objects.count()
    _set(tenant_a.tenant, max_artifacts=existing + 1)
    try:
        assert admin.api.post("/api/v1/artifacts", {"name": "last-one", "type": "prompt"}).status_code == 201
        refused = admin.api.post("/api/v1/artifacts", {"name": "one-too-many", "type": "prompt"})
        assert refused.status_code == 403 and refused.json()["code"] == "quota_exceeded"
        with tenant_a.context():
            assert not Artifact.objects.filter(name="one-too-many").exists()
    finally:
        _set(tenant_a.tenant, max_artifacts=10_000)


def test_storage_limit_counts_new_bytes_only(tenant_a):
    admin = admin_actor(tenant_a)
    artifact = admin.api.post("/api/v1/artifacts", {"name": "weights", "type": "model"}).json()
    with tenant_a.context():
        used = sum(ArtifactBlob.objects.values_list("size", flat=True))
    room = 1024 * 1024 - used
    assert room > 1000, "the test needs some free room below 1 MiB"
    _set(tenant_a.tenant, max_storage_mb=1)
    try:
        first = SimpleUploadedFile("a.bin", b"x" * 600, content_type="application/octet-stream")
        ok = admin.api.post(
            f"/api/v1/artifacts/{artifact['id']}/versions", {"version": "1.0.0", "file": first}, format="multipart"
        )
        assert ok.status_code == 201
        same = SimpleUploadedFile("b.bin", b"x" * 600, content_type="application/octet-stream")
        dedup = admin.api.post(
            f"/api/v1/artifacts/{artifact['id']}/versions", {"version": "1.0.1", "file": same}, format="multipart"
        )
        assert dedup.status_code == 201, "identical content is stored once and costs no quota"
        big = SimpleUploadedFile("c.bin", b"y" * room, content_type="application/octet-stream")
        refused = admin.api.post(
            f"/api/v1/artifacts/{artifact['id']}/versions", {"version": "1.1.0", "file": big}, format="multipart"
        )
        assert refused.status_code == 403 and refused.json()["code"] == "quota_exceeded"
        with tenant_a.context():
            assert not Artifact.objects.get(pk=artifact["id"]).versions.filter(version="1.1.0").exists()
    finally:
        _set(tenant_a.tenant, max_storage_mb=10_240)
