"""Artifact versions: semantic versions, multipart upload, content-addressed dedup, size limit, download."""

import hashlib
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.artifacts.models import ArtifactBlob, ArtifactVersion
from apps.artifacts.services import artifact_version_create
from tests.artifacts.factories import ArtifactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def artifact(tenant_a):
    with tenant_a.context():
        return ArtifactFactory(name="tokenizer")


def _content(request, size=4096) -> bytes:
    seed = request.node.nodeid.encode()
    return (seed * (size // len(seed) + 1))[:size]


def _upload(admin, artifact, version, content=None, name="model.bin", **extra):
    data = {"version": version, "changelog": f"Release {version}", **extra}
    if content is not None:
        data["file"] = SimpleUploadedFile(name, content, content_type="application/octet-stream")
    return admin.api.post(f"/api/v1/artifacts/{artifact.pk}/versions", data, format="multipart")


def _stored_path(schema, sha256) -> Path:
    return Path(settings.MEDIA_ROOT) / schema / "artifacts" / sha256[:2] / sha256


def test_upload_fills_semver_parts_hash_and_size(admin, tenant_a, artifact, request):
    content = _content(request)
    response = _upload(admin, artifact, "2.1.0-rc.1+build.7", content)
    assert response.status_code == 201, response.content
    body = response.json()
    sha = hashlib.sha256(content).hexdigest()
    assert (body["major"], body["minor"], body["patch"], body["prerelease"]) == (2, 1, 0, "rc.1")
    assert (body["sha256"], body["size"], body["filename"]) == (sha, len(content), "model.bin")
    assert body["download_url"] == f"/api/v1/artifacts/{artifact.pk}/versions/{body['id']}/download"
    assert _stored_path("alpha", sha).read_bytes() == content


def test_version_without_file_via_json(admin, artifact):
    response = admin.api.post(f"/api/v1/artifacts/{artifact.pk}/versions", {"version": "0.1.0"})
    assert response.status_code == 201
    assert response.json()["sha256"] is None and response.json()["download_url"] is None
    download = admin.api.get(f"/api/v1/artifacts/{artifact.pk}/versions/{response.json()['id']}/download")
    assert download.status_code == 404 and download.json()["detail"] == "This version has no file."


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "1.0.0.0", "01.0.0", "1.0.0-", "latest", "", "1.0.0-rc..1"])
def test_invalid_semantic_versions_are_400(admin, tenant_a, artifact, version):
    response = _upload(admin, artifact, version)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "version", response.json()
    with tenant_a.context():
        assert not ArtifactVersion.objects.filter(artifact=artifact).exists()


def test_duplicate_version_is_400_and_stores_nothing_new(admin, tenant_a, artifact, request):
    assert _upload(admin, artifact, "1.0.0", b"first").status_code == 201
    response = _upload(admin, artifact, "1.0.0", _content(request))
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "field": "version", "code": "invalid", "message": "Version 1.0.0 of 'tokenizer' already exists."
    }  # fmt: skip
    assert not _stored_path("alpha", hashlib.sha256(_content(request)).hexdigest()).exists()


def test_identical_content_is_stored_once(admin, tenant_a, artifact, request):
    content = _content(request, 10_000)
    first = _upload(admin, artifact, "1.0.0", content, name="a.bin").json()
    second = _upload(admin, artifact, "1.1.0", content, name="b.bin").json()
    with tenant_a.context():
        other = ArtifactFactory(name="other")
    third = _upload(admin, other, "3.0.0", content, name="c.bin").json()
    assert first["sha256"] == second["sha256"] == third["sha256"]
    with tenant_a.context():
        blobs = ArtifactBlob.objects.filter(sha256=first["sha256"])
        assert blobs.count() == 1
        assert set(ArtifactVersion.objects.filter(blob=blobs.get()).values_list("filename", flat=True)) == {
            "a.bin", "b.bin", "c.bin"
        }  # fmt: skip
    folder = _stored_path("alpha", first["sha256"]).parent
    assert [path.name for path in folder.iterdir() if path.name.startswith(first["sha256"])] == [first["sha256"]]


def test_download_streams_the_bytes_with_headers(admin, artifact, request):
    content = _content(request, 300_000)
    body = _upload(admin, artifact, "1.0.0", content, name="weights.safetensors").json()
    response = admin.api.get(body["download_url"])
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content
    assert response["Content-Length"] == str(len(content))
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == 'attachment; filename="weights.safetensors"'
    assert response["ETag"] == f'"{hashlib.sha256(content).hexdigest()}"'
    again = admin.api.get(body["download_url"], HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304 and again["ETag"] == response["ETag"]
    # the file's Accept header does not matter
    assert admin.api.get(body["download_url"], HTTP_ACCEPT="application/zip").status_code == 200


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system.ini", "system.ini"),
        ("re:port*<1>?.csv", "re_port__1__.csv"),
        ("caf\u00e9 r\u00e9sum\u00e9.pdf", "caf\u00e9 r\u00e9sum\u00e9.pdf"),
        ("...", "tokenizer-1.0.0"),
    ],
)
def test_filenames_are_sanitised_and_storage_is_content_addressed(admin, tenant_a, artifact, request, name, safe):
    content = _content(request)
    body = _upload(admin, artifact, "1.0.0", content, name=name).json()
    assert body["filename"] == safe
    with tenant_a.context():
        blob = ArtifactBlob.objects.get(sha256=body["sha256"])
        assert blob.file.name == f"artifacts/{body['sha256'][:2]}/{body['sha256']}"
    disposition = admin.api.get(body["download_url"])["Content-Disposition"]
    assert disposition.startswith("attachment; filename")
    assert safe.isascii() is (disposition == f'attachment; filename="{safe}"')
    assert not (Path(settings.MEDIA_ROOT) / "etc" / "passwd").exists()


def test_file_over_the_limit_is_413_and_stores_nothing(admin, tenant_a, artifact, settings, request):
    settings.ARTIFACT_MAX_UPLOAD_BYTES = 1024
    content = _content(request, 1025)
    response = _upload(admin, artifact, "1.0.0", content)
    assert response.status_code == 413
    assert response.json() == {
        "status": 413, "code": "too_large", "detail": "file: The file is larger than the upload limit of 1024 bytes.",
        "errors": [{"field": "file", "code": "too_large",
                    "message": "The file is larger than the upload limit of 1024 bytes."}],
    }  # fmt: skip
    assert _upload(admin, artifact, "1.0.0", content[:1024]).status_code == 201
    with tenant_a.context():
        assert ArtifactVersion.objects.filter(artifact=artifact).count() == 1
    assert not _stored_path("alpha", hashlib.sha256(content).hexdigest()).exists()


def test_body_far_over_the_limit_is_refused_before_reading(admin, artifact, settings, request):
    settings.ARTIFACT_MAX_UPLOAD_BYTES = 1024
    response = _upload(admin, artifact, "1.0.0", _content(request, 3 * 1024 * 1024))
    assert response.status_code == 413 and response.json()["errors"][0]["field"] == "file"


def test_django_body_limits_do_not_turn_into_400_or_500(admin, tenant_a, artifact, settings, request):
    # A file above FILE_UPLOAD_MAX_MEMORY_SIZE and DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) but under our limit.
    settings.ARTIFACT_MAX_UPLOAD_BYTES = 4 * 1024 * 1024
    content = _content(request, 3 * 1024 * 1024)
    response = _upload(admin, artifact, "1.0.0", content)
    assert response.status_code == 201, response.content
    assert response.json()["size"] == len(content)
    # Form fields beyond DATA_UPLOAD_MAX_MEMORY_SIZE: 413 in the error shape, not Django's 400 page.
    too_long = admin.api.post(
        f"/api/v1/artifacts/{artifact.pk}/versions",
        {"version": "1.0.1", "changelog": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)},
        format="multipart",
    )
    assert too_long.status_code == 413 and too_long.json()["code"] == "too_large"
    json_too_long = admin.api.post(
        f"/api/v1/artifacts/{artifact.pk}/versions",
        {"version": "1.0.2", "changelog": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)},
    )
    assert json_too_long.status_code == 413 and json_too_long.json()["status"] == 413


def test_versions_are_listed_highest_first(admin, artifact):
    for version in ["1.0.0", "1.10.0", "1.2.0", "2.0.0-rc.1", "2.0.0", "0.9.0"]:
        assert _upload(admin, artifact, version).status_code == 201
    listed = [v["version"] for v in admin.api.get(f"/api/v1/artifacts/{artifact.pk}/versions").json()["results"]]
    assert listed == ["2.0.0", "2.0.0-rc.1", "1.10.0", "1.2.0", "1.0.0", "0.9.0"]
    prereleases = admin.api.get(f"/api/v1/artifacts/{artifact.pk}/versions?prerelease=true").json()["results"]
    assert [v["version"] for v in prereleases] == ["2.0.0-rc.1"]


def test_changelog_edit_and_delete_removes_unshared_file(
    admin, tenant_a, artifact, request, django_capture_on_commit_callbacks
):
    content = _content(request)
    body = _upload(admin, artifact, "1.0.0", content).json()
    url = f"/api/v1/artifacts/{artifact.pk}/versions/{body['id']}"
    assert admin.api.patch(url, {"changelog": "Fixed typo"}).json()["changelog"] == "Fixed typo"
    refused = admin.api.patch(url, {"version": "9.9.9"})  # only the changelog can change
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "version"
    # PATCH is partial, as documented (fuzzing sent {} and got 400 "changelog: This field is required"): {} keeps it.
    kept = admin.api.patch(url, {})
    assert kept.status_code == 200 and kept.json()["changelog"] == "Fixed typo"
    assert admin.api.patch(f"/api/v1/artifacts/{artifact.pk}/versions/{body['id'] + 1000}", {}).status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        assert admin.api.delete(url).status_code == 204
    with tenant_a.context():
        assert not ArtifactBlob.objects.filter(sha256=body["sha256"]).exists()
    assert not _stored_path("alpha", body["sha256"]).exists()


def test_service_hashes_files_that_did_not_stream_through_the_handler(tenant_a, artifact, request):
    content = _content(request, 5000)
    with tenant_a.context():
        version = artifact_version_create(
            artifact=artifact, version="4.0.0", file=SimpleUploadedFile("x.csv", content, "text/csv"), user=None
        )
        assert version.blob.sha256 == hashlib.sha256(content).hexdigest()
        assert (version.blob.size, version.content_type) == (5000, "text/csv")


def test_unknown_artifact_is_404(admin):
    assert admin.api.get("/api/v1/artifacts/999999/versions").status_code == 404
    assert admin.api.post("/api/v1/artifacts/999999/versions", {"version": "1.0.0"}).status_code == 404


def test_a_file_in_another_field_or_a_second_file_is_400(admin, tenant_a, artifact):
    response = admin.api.post(
        f"/api/v1/artifacts/{artifact.pk}/versions",
        {"version": "1.0.0", "upload": SimpleUploadedFile("a.bin", b"a")},
        format="multipart",
    )
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "upload"
    with tenant_a.context():
        assert not ArtifactVersion.objects.filter(artifact=artifact).exists()


def test_a_blob_whose_file_was_lost_is_restored_by_the_next_identical_upload(admin, artifact, request):
    content = _content(request)
    first = _upload(admin, artifact, "1.0.0", content).json()
    path = _stored_path("alpha", first["sha256"])
    path.unlink()
    assert admin.api.get(first["download_url"]).status_code == 404
    _upload(admin, artifact, "1.0.1", content)
    assert path.read_bytes() == content
    assert b"".join(admin.api.get(first["download_url"]).streaming_content) == content
