"""Tenant isolation of projects and the artifact library: nothing of tenant A is visible or retrievable in B."""

import hashlib
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.artifacts.models import ArtifactBlob
from tests.projects.helpers import admin_actor

pytestmark = pytest.mark.django_db

SECRET = b"tenant A's model weights " * 100


def _seed(actor, label):
    project = actor.api.post("/api/v1/projects", {"name": f"{label} project", "tags": [label]}).json()
    artifact = actor.api.post("/api/v1/artifacts", {"name": f"{label}-artifact", "type": "model"}).json()
    version = actor.api.post(
        f"/api/v1/artifacts/{artifact['id']}/versions",
        {"version": "1.0.0", "file": SimpleUploadedFile("w.bin", SECRET)},
        format="multipart",
    ).json()
    usage = actor.api.post(
        f"/api/v1/projects/{project['id']}/artifact-usages", {"artifact_version": version["id"]}
    ).json()
    actor.api.post(f"/api/v1/projects/{project['id']}/team-members",
                   {"display_name": f"{label} person", "role": "analyst", "experience_level": "mid"})  # fmt: skip
    return {"project": project, "artifact": artifact, "version": version, "usage": usage}


def test_tenant_b_never_sees_or_retrieves_tenant_a_rows_or_files(tenant_a, tenant_b):
    a, b = admin_actor(tenant_a), admin_actor(tenant_b)
    seeded = _seed(a, "alpha")
    b.api.post("/api/v1/projects", {"name": "beta project"})

    for path in ("/api/v1/projects", "/api/v1/artifacts", "/api/v1/artifact-usages"):
        response = b.api.get(path)
        assert response.status_code == 200
        assert "alpha" not in response.content.decode(), path
    assert [p["name"] for p in b.api.get("/api/v1/projects").json()["results"]] == ["beta project"]
    assert b.api.get("/api/v1/projects?search=alpha").json()["count"] == 0

    project_id, artifact_id = seeded["project"]["id"], seeded["artifact"]["id"]
    version_id, usage_id = seeded["version"]["id"], seeded["usage"]["id"]
    for path in (
        f"/api/v1/artifacts/{artifact_id}",
        f"/api/v1/artifacts/{artifact_id}/versions",
        f"/api/v1/artifacts/{artifact_id}/versions/{version_id}",
        f"/api/v1/artifacts/{artifact_id}/versions/{version_id}/download",
        f"/api/v1/projects/{project_id}/artifact-usages/{usage_id}",
        f"/api/v1/artifact-usages/{usage_id}",
    ):
        response = b.api.get(path)
        assert response.status_code == 404, path
        assert b"alpha" not in response.content and SECRET[:20] not in response.content
    # B's project may share A's id (ids are per schema): it must then be B's own row
    for path in (f"/api/v1/projects/{project_id}", f"/api/v1/projects/{project_id}/team-members"):
        response = b.api.get(path)
        assert response.status_code in (200, 404) and b"alpha" not in response.content, path
    # writes cannot reach A's rows either
    assert b.api.patch(f"/api/v1/artifacts/{artifact_id}", {"description": "pwned"}).status_code == 404
    assert b.api.delete(f"/api/v1/artifacts/{artifact_id}/versions/{version_id}").status_code == 404
    assert a.api.get(f"/api/v1/artifacts/{artifact_id}").json()["description"] == ""

    # A's token is useless on B's host, and the same content in B is B's own blob in B's storage
    assert tenant_b.api(a.api._credentials["HTTP_AUTHORIZATION"].split()[1]).get("/api/v1/projects").status_code == 401
    sha = hashlib.sha256(SECRET).hexdigest()
    b_artifact = b.api.post("/api/v1/artifacts", {"name": "beta-artifact", "type": "model"}).json()
    b_version = b.api.post(
        f"/api/v1/artifacts/{b_artifact['id']}/versions",
        {"version": "1.0.0", "file": SimpleUploadedFile("w.bin", SECRET)},
        format="multipart",
    ).json()
    assert b_version["sha256"] == sha
    media = Path(settings.MEDIA_ROOT)
    assert (media / "alpha" / "artifacts" / sha[:2] / sha).read_bytes() == SECRET
    assert (media / "beta" / "artifacts" / sha[:2] / sha).read_bytes() == SECRET
    with tenant_a.context():
        assert ArtifactBlob.objects.get(sha256=sha).file.path.startswith(str(media / "alpha"))
    with tenant_b.context():
        assert ArtifactBlob.objects.get(sha256=sha).file.path.startswith(str(media / "beta"))
