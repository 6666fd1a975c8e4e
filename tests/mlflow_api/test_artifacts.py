"""The MLflow artifact proxy (``/api/2.0/mlflow-artifacts/…``, ``/api/2.0/mlflow/artifacts/list``), in-process,
on the local filesystem and on a real S3 API: round trips, the path rules, roots, permissions, tenant isolation,
limits and quotas, a store that is down, and presigned multipart uploads."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.access.services import grant_set
from apps.audit.models import AuditEvent
from apps.metrics.models import Run
from apps.mlflow_api import artifacts
from apps.mlflow_api.artifact_roots import ArtifactRoot, register_artifact_root
from apps.mlflow_api.models import ArtifactFile, ArtifactUpload
from apps.projects.models import Project
from apps.tenants.models import Tenant
from tests.mlflow_api.conftest import Mlflow, error_of
from tests.support.access import make_principal
from tests.support.s3 import unreachable_settings

pytestmark = pytest.mark.django_db
PROXY = "/api/2.0/mlflow-artifacts/"
MIB = 1024 * 1024


def put(mlflow: Mlflow, path: str, body: bytes, **extra):
    return mlflow.api.put(f"{PROXY}artifacts/{path}", data=body, content_type="application/octet-stream", **extra)


def get(mlflow: Mlflow, path: str):
    return mlflow.api.get(f"{PROXY}artifacts/{path}")


def listing(mlflow: Mlflow, path: str | None = None):
    return mlflow.api.get(f"{PROXY}artifacts", {"path": path} if path is not None else {})


def mpu(mlflow: Mlflow, step: str, path: str, body: dict):
    return mlflow.api.post(f"{PROXY}mpu/{step}/{path}", body, format="json")


def content(response) -> bytes:
    return b"".join(response.streaming_content)


def new_run(mlflow: Mlflow, name: str | None = None) -> tuple[str, str, str]:
    """(experiment id, run id, the run's artifact root path as the proxy sees it)."""
    exp = mlflow.experiment(name or f"art-{uuid.uuid4().hex[:8]}")
    run = mlflow.run(exp)["info"]
    assert run["artifact_uri"] == f"mlflow-artifacts:/{exp}/{run['run_id']}/artifacts"
    return exp, run["run_id"], f"{exp}/{run['run_id']}/artifacts"


def stored_keys(ctx, backend: str, request) -> set[str]:
    if backend == "filesystem":
        root = Path(settings.MEDIA_ROOT)
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    server, prefix = request.getfixturevalue("s3_storage")
    return {key.removeprefix(prefix + "/") for key in server.keys(prefix)}


def test_put_get_list_and_delete_round_trip(storage_backend, tenant_a, mlflow_a, request):
    exp, run_id, root = new_run(mlflow_a)
    weights, notes = bytes(range(256)) * 4099, b"accuracy: 0.91\n"
    assert put(mlflow_a, f"{root}/model/weights.bin", weights).json() == {}
    assert put(mlflow_a, f"{root}/notes.txt", notes).status_code == 200

    got = get(mlflow_a, f"{root}/model/weights.bin")
    assert got.status_code == 200 and content(got) == weights
    assert got["Content-Length"] == str(len(weights)) and got["ETag"] == f'"{hashlib.sha256(weights).hexdigest()}"'
    assert got["Content-Disposition"] == 'attachment; filename="weights.bin"'
    assert got["X-Content-Type-Options"] == "nosniff"
    assert get(mlflow_a, f"{root}/notes.txt")["Content-Type"] == "text/plain"

    assert listing(mlflow_a, root).json() == {"files": [
        {"path": "model", "is_dir": True}, {"path": "notes.txt", "is_dir": False, "file_size": len(notes)},
    ]}  # fmt: skip
    assert listing(mlflow_a, f"{root}/model").json() == {
        "files": [{"path": "weights.bin", "is_dir": False, "file_size": len(weights)}]
    }
    assert listing(mlflow_a, f"{root}/notes.txt").json() == {}  # a file lists nothing, as in MLflow
    assert listing(mlflow_a, f"{root}/nothing-here").json() == {}
    tracked = mlflow_a.ok("get", "artifacts/list", {"run_id": run_id, "path": "model"})
    assert tracked == {
        "root_uri": f"mlflow-artifacts:/{exp}/{run_id}/artifacts",
        "files": [{"path": "model/weights.bin", "is_dir": False, "file_size": len(weights)}],
    }
    assert [f["path"] for f in mlflow_a.ok("get", "artifacts/list", {"run_id": run_id})["files"]] == [
        "model", "notes.txt"
    ]  # fmt: skip
    assert {"path": exp, "is_dir": True} in listing(mlflow_a).json()["files"]

    keys = stored_keys(tenant_a, storage_backend, request)
    assert f"{tenant_a.schema}/mlflow/{root}/model/weights.bin" in keys  # under the tenant's own prefix
    with tenant_a.context():
        row = ArtifactFile.objects.get(path=f"{root}/model/weights.bin")
        assert (row.size, row.sha256, row.project_id) == (len(weights), hashlib.sha256(weights).hexdigest(), int(exp))
        assert AuditEvent.objects.filter(action="mlflow_artifact.created", object_id=str(row.pk)).exists()

    assert mlflow_a.api.delete(f"{PROXY}artifacts/{root}/model").json() == {}
    assert error_of(get(mlflow_a, f"{root}/model/weights.bin"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert f"{tenant_a.schema}/mlflow/{root}/model/weights.bin" not in stored_keys(tenant_a, storage_backend, request)
    with tenant_a.context():
        assert AuditEvent.objects.filter(action="mlflow_artifact.bulk_deleted").exists()
        assert list(ArtifactFile.objects.filter(path__startswith=root).values_list("path", flat=True)) == [
            f"{root}/notes.txt"
        ]


def test_overwriting_replaces_the_file_and_is_audited_as_an_update(tenant_a, mlflow_a):
    _exp, _run, root = new_run(mlflow_a)
    put(mlflow_a, f"{root}/a.json", b'{"v": 1}')
    put(mlflow_a, f"{root}/a.json", b'{"v": 22}')
    assert content(get(mlflow_a, f"{root}/a.json")) == b'{"v": 22}'
    with tenant_a.context():
        row = ArtifactFile.objects.get(path=f"{root}/a.json")
        assert row.size == 9
        assert AuditEvent.objects.filter(action="mlflow_artifact.updated", object_id=str(row.pk)).exists()


BAD_PATHS = [
    "{root}/../../etc/passwd",
    "{root}/a/../../../x",
    "{root}/./a",
    "{root}//a",
    "{root}/a\\..\\b",
    "{root}/%2e%2e/%2e%2e/x",
    "{root}/%252e%252e/x",
    "{root}/a%5c..%5cb",
    "{root}/a%23b",
    "{root}/c:%5cwindows",
]


def test_traversal_and_unsafe_paths_are_refused_and_nothing_is_written(tenant_a, mlflow_a):
    _exp, _run, root = new_run(mlflow_a)
    media = Path(settings.MEDIA_ROOT)
    before = {p for p in media.rglob("*") if p.is_file()}
    for template in BAD_PATHS:
        path = template.format(root=root)
        delete = mlflow_a.api.delete(f"{PROXY}artifacts/{path}")
        for response in (put(mlflow_a, path, b"x"), get(mlflow_a, path), delete, listing(mlflow_a, path)):
            assert response.status_code == 400, (path, response.status_code, response.content[:200])
            assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    absolute = mlflow_a.api.put(f"{PROXY}artifacts//etc/passwd", data=b"x", content_type="text/plain")
    assert absolute.status_code in (400, 404) and "error_code" in absolute.json()
    with tenant_a.context():
        assert not ArtifactFile.objects.exists()
    assert {p for p in media.rglob("*") if p.is_file()} == before
    assert not Path("/etc/x").exists()


def test_paths_outside_any_root_are_not_found(tenant_a, mlflow_a):
    exp, run_id, root = new_run(mlflow_a)
    _other_exp, other_run, _ = new_run(mlflow_a)
    outside = [
        exp,  # the experiment itself: no root
        f"{exp}/{run_id}",  # above the root
        f"{exp}/{run_id}/other/x.txt",  # not under "artifacts"
        f"{exp}/notarun/artifacts/x.txt",  # no such kind of root
        f"{exp}/{uuid.uuid4().hex}/artifacts/x.txt",  # no such run
        f"{exp}/{other_run}/artifacts/x.txt",  # a run of another experiment
        f"0/{run_id}/artifacts/x.txt",  # the Default experiment's alias names no root
        f"0{exp}/{run_id}/artifacts/x.txt",  # only the canonical id
        f"999999999/{run_id}/artifacts/x.txt",  # no such experiment
    ]
    for path in outside:
        assert error_of(put(mlflow_a, path, b"x"), 404, "RESOURCE_DOES_NOT_EXIST"), path
        assert error_of(get(mlflow_a, path), 404, "RESOURCE_DOES_NOT_EXIST"), path
    error_of(put(mlflow_a, root, b"x"), 400, "INVALID_PARAMETER_VALUE")  # the root is a directory
    put(mlflow_a, f"{root}/a", b"file")
    assert "is a file" in error_of(put(mlflow_a, f"{root}/a/b", b"x"), 400, "INVALID_PARAMETER_VALUE")
    put(mlflow_a, f"{root}/d/e", b"x")
    assert "directory" in error_of(put(mlflow_a, f"{root}/d", b"x"), 400, "INVALID_PARAMETER_VALUE")
    assert "directory" in error_of(get(mlflow_a, f"{root}/d"), 400, "INVALID_PARAMETER_VALUE")
    with tenant_a.context():
        assert sorted(ArtifactFile.objects.values_list("path", flat=True)) == [f"{root}/a", f"{root}/d/e"]


def test_roots_registered_by_other_code_are_resolved_and_enforced(tenant_a, mlflow_a):
    """The registry the logged-model code fills: ``<exp>/<kind>/<id>/artifacts`` paths go to its resolver."""
    exp, _run, _root = new_run(mlflow_a)

    def resolver(project, segments):
        if len(segments) >= 4 and segments[2] == "m-known" and segments[3] == "artifacts":
            return ArtifactRoot(project, "/".join(segments[:4]), owner="model")
        return None

    register_artifact_root("test-models", resolver)
    assert put(mlflow_a, f"{exp}/test-models/m-known/artifacts/MLmodel", b"flavors: {}").status_code == 200
    assert content(get(mlflow_a, f"{exp}/test-models/m-known/artifacts/MLmodel")) == b"flavors: {}"
    error_of(put(mlflow_a, f"{exp}/test-models/m-unknown/artifacts/MLmodel", b"x"), 404, "RESOURCE_DOES_NOT_EXIST")
    with pytest.raises(ValueError):
        register_artifact_root("test-models", lambda project, segments: None)


def test_permissions_follow_the_matrix(tenant_a, mlflow_a):
    exp, _run, root = new_run(mlflow_a)
    put(mlflow_a, f"{root}/shared.txt", b"team data")

    viewer = Mlflow(tenant_a, make_principal(tenant_a, "viewer").token)
    assert content(get(viewer, f"{root}/shared.txt")) == b"team data"
    assert error_of(put(viewer, f"{root}/shared.txt", b"vandal"), 403, "PERMISSION_DENIED")
    assert error_of(viewer.api.delete(f"{PROXY}artifacts/{root}/shared.txt"), 403, "PERMISSION_DENIED")

    member = make_principal(tenant_a, "member")
    as_member = Mlflow(tenant_a, member.token)
    assert "change" in error_of(put(as_member, f"{root}/m.txt", b"x"), 403, "PERMISSION_DENIED")
    with tenant_a.context():
        admin = get_user_model().objects.get(username="admin")
        grant_set(actor=admin, obj=Project.objects.get(pk=int(exp)), level="change", user=member.user)
    assert put(as_member, f"{root}/m.txt", b"x").status_code == 200  # write access, as for log-batch

    read_token = Mlflow(tenant_a, make_principal(tenant_a, "owner", scope="read").token)
    assert "scope" in error_of(put(read_token, f"{root}/r.txt", b"x"), 403, "PERMISSION_DENIED")
    assert get(read_token, f"{root}/shared.txt").status_code == 200

    with tenant_a.context():
        Project.objects.filter(pk=int(exp)).update(visibility="private")
    lead = Mlflow(tenant_a, make_principal(tenant_a, "lead").token)
    for response in (get(lead, f"{root}/shared.txt"), listing(lead, root), put(lead, f"{root}/x", b"x")):
        error_of(response, 404, "RESOURCE_DOES_NOT_EXIST")
    assert content(get(mlflow_a, f"{root}/shared.txt")) == b"team data"


def test_a_second_tenant_cannot_list_read_or_overwrite_by_guessing(storage_backend, tenant_a, tenant_b, mlflow_a,
                                                                   mlflow_b, request):  # fmt: skip
    exp, run_id, root = new_run(mlflow_a)
    put(mlflow_a, f"{root}/secret.bin", b"alpha's weights")
    exp_b, run_b, root_b = new_run(mlflow_b)
    put(mlflow_b, f"{root_b}/secret.bin", b"beta's weights")

    for guess in (root, f"{exp_b}/{run_id}/artifacts", f"{exp}/{run_b}/artifacts"):
        assert error_of(get(mlflow_b, f"{guess}/secret.bin"), 404, "RESOURCE_DOES_NOT_EXIST")
        assert error_of(listing(mlflow_b, guess), 404, "RESOURCE_DOES_NOT_EXIST")
        assert error_of(put(mlflow_b, f"{guess}/secret.bin", b"overwritten"), 404, "RESOURCE_DOES_NOT_EXIST")
        assert error_of(mlflow_b.api.delete(f"{PROXY}artifacts/{guess}"), 404, "RESOURCE_DOES_NOT_EXIST")
        body = {"path": "/tmp/secret.bin", "num_parts": 1}
        assert mpu(mlflow_b, "create", guess, body).status_code == 404
    assert error_of(mlflow_b.get("artifacts/list", {"run_id": run_id}), 404, "RESOURCE_DOES_NOT_EXIST")
    assert {"path": exp, "is_dir": True} not in listing(mlflow_b).json().get("files", []) or exp == exp_b
    # A's token on B's host is refused; B's own file is B's
    a_token = mlflow_a.api._credentials["HTTP_AUTHORIZATION"].split()[1]
    assert error_of(get(Mlflow(tenant_b, a_token), f"{root_b}/secret.bin"), 401, "UNAUTHENTICATED")
    assert content(get(mlflow_a, f"{root}/secret.bin")) == b"alpha's weights"
    assert content(get(mlflow_b, f"{root_b}/secret.bin")) == b"beta's weights"
    keys = stored_keys(tenant_a, storage_backend, request)
    assert f"{tenant_a.schema}/mlflow/{root}/secret.bin" in keys
    assert f"{tenant_b.schema}/mlflow/{root_b}/secret.bin" in keys


def test_an_upload_over_the_limit_is_413_naming_it_and_stores_nothing(storage_backend, settings, tenant_a, mlflow_a):
    settings.MLFLOW_ARTIFACT_MAX_UPLOAD_BYTES = 1000
    _exp, _run, root = new_run(mlflow_a)
    put(mlflow_a, f"{root}/model.bin", b"old")
    refused = put(mlflow_a, f"{root}/model.bin", b"x" * 1001)
    assert refused.status_code == 413
    assert "1000 bytes" in refused.json()["message"] and "MLFLOW_ARTIFACT_MAX_UPLOAD_BYTES" in refused.json()["message"]
    assert content(get(mlflow_a, f"{root}/model.bin")) == b"old"
    with tenant_a.context():
        assert ArtifactFile.objects.get(path=f"{root}/model.bin").size == 3


def test_uploads_count_against_the_storage_quota(tenant_a, mlflow_a):
    _exp, _run, root = new_run(mlflow_a)
    Tenant.objects.filter(pk=tenant_a.tenant.pk).update(max_storage_mb=1)
    try:
        assert put(mlflow_a, f"{root}/half.bin", b"h" * (MIB // 2)).status_code == 200
        refused = put(mlflow_a, f"{root}/more.bin", b"m" * (MIB // 2 + 10))
        assert error_of(refused, 403, "PERMISSION_DENIED").startswith("Plan limit reached")
        assert put(mlflow_a, f"{root}/half.bin", b"r" * (MIB // 2)).status_code == 200  # a replacement fits
        with tenant_a.context():
            assert not ArtifactFile.objects.filter(path=f"{root}/more.bin").exists()
            from apps.tenants.quotas import quota_usage

            assert quota_usage("storage").used >= MIB // 2
    finally:
        Tenant.objects.filter(pk=tenant_a.tenant.pk).update(max_storage_mb=tenant_a.tenant.max_storage_mb)


def _competitor_commits_after_the_check(monkeypatch, make_row):
    """Let another upload's index row appear between this upload's quota check and its record, as a concurrent
    upload that finished meanwhile would (deterministically: right after ``_room`` answered)."""
    checked = artifacts._room

    def room_then_competitor(old_size):
        answer = checked(old_size)
        make_row()
        return answer

    monkeypatch.setattr(artifacts, "_room", room_then_competitor)


def test_uploads_racing_for_the_last_of_the_quota_cannot_together_exceed_it(storage_backend, tenant_a, mlflow_a,
                                                                             monkeypatch, request):  # fmt: skip
    """Both uploads see room for themselves before their bytes flow; the second to record counts the first and is
    refused, with nothing of it stored or indexed."""
    exp, _run, root = new_run(mlflow_a)
    Tenant.objects.filter(pk=tenant_a.tenant.pk).update(max_storage_mb=1)
    try:
        assert put(mlflow_a, f"{root}/first.bin", b"f" * (MIB // 2)).status_code == 200
        _competitor_commits_after_the_check(
            monkeypatch,
            lambda: ArtifactFile.objects.create(project_id=int(exp), path=f"{root}/rival.bin", size=MIB // 3),
        )
        refused = put(mlflow_a, f"{root}/late.bin", b"l" * (MIB // 3))
        assert error_of(refused, 403, "PERMISSION_DENIED").startswith("Plan limit reached")
        with tenant_a.context():
            assert not ArtifactFile.objects.filter(path=f"{root}/late.bin").exists()
            assert sum(ArtifactFile.objects.values_list("size", flat=True)) <= MIB
        assert not any(key.endswith(f"{root}/late.bin") for key in stored_keys(tenant_a, storage_backend, request))
        assert get(mlflow_a, f"{root}/late.bin").status_code == 404
    finally:
        Tenant.objects.filter(pk=tenant_a.tenant.pk).update(max_storage_mb=tenant_a.tenant.max_storage_mb)


def test_a_replacement_that_loses_the_quota_race_removes_the_file_it_overwrote(tenant_a, mlflow_a, monkeypatch):
    """The refused replacement's bytes were written over the old file's, so the index row of the old file goes too
    (audited), and the path answers 404 instead of serving bytes the row does not describe."""
    from apps.audit.models import AuditEvent

    exp, _run, root = new_run(mlflow_a)
    Tenant.objects.filter(pk=tenant_a.tenant.pk).update(max_storage_mb=1)
    try:
        assert put(mlflow_a, f"{root}/model.bin", b"o" * (MIB // 4)).status_code == 200
        _competitor_commits_after_the_check(
            monkeypatch,
            lambda: ArtifactFile.objects.create(project_id=int(exp), path=f"{root}/rival.bin", size=MIB // 2),
        )
        refused = put(mlflow_a, f"{root}/model.bin", b"n" * (MIB * 6 // 10))
        assert error_of(refused, 403, "PERMISSION_DENIED").startswith("Plan limit reached")
        with tenant_a.context():
            assert not ArtifactFile.objects.filter(path=f"{root}/model.bin").exists()
            assert AuditEvent.objects.filter(
                action="mlflow_artifact.deleted", object_repr__contains="model.bin"
            ).exists()
        assert get(mlflow_a, f"{root}/model.bin").status_code == 404
    finally:
        Tenant.objects.filter(pk=tenant_a.tenant.pk).update(max_storage_mb=tenant_a.tenant.max_storage_mb)


def test_an_upload_racing_another_to_a_new_path_replaces_what_that_one_indexed(tenant_a, mlflow_a, monkeypatch):
    exp, _run, root = new_run(mlflow_a)
    _competitor_commits_after_the_check(
        monkeypatch,
        lambda: ArtifactFile.objects.create(project_id=int(exp), path=f"{root}/same.bin", size=7, sha256="0" * 64),
    )
    assert put(mlflow_a, f"{root}/same.bin", b"mine").status_code == 200
    assert content(get(mlflow_a, f"{root}/same.bin")) == b"mine"
    with tenant_a.context():
        row = ArtifactFile.objects.get(path=f"{root}/same.bin")
    assert (row.size, row.sha256) == (4, hashlib.sha256(b"mine").hexdigest())


def test_an_upload_and_a_download_take_a_bounded_number_of_queries(tenant_a, mlflow_a):
    """An upload's fixed cost is mostly round trips to PostgreSQL (1 MB files: issue 19's throughput target). The
    storage usage is one statement (both stores' sums) before the bytes flow and one under the tenant's lock after;
    the tenant row is read by the routing and locked once, never re-read; a new path is one INSERT."""
    _exp, _run, root = new_run(mlflow_a)
    put(mlflow_a, f"{root}/warm.bin", b"w")  # the token is cached from here on, as for every later request
    with CaptureQueriesContext(connection) as upload:
        assert put(mlflow_a, f"{root}/counted.bin", b"c" * 1000).status_code == 200
    with CaptureQueriesContext(connection) as download:
        assert content(get(mlflow_a, f"{root}/counted.bin")) == b"c" * 1000
    statements = [query["sql"] for query in upload.captured_queries]
    tenant_reads = [sql for sql in statements if 'FROM "tenants_tenant"' in sql]
    assert len(tenant_reads) == 2 and "FOR UPDATE" in tenant_reads[1], tenant_reads
    assert sum("SUM(" in sql for sql in statements) == 2
    assert len(statements) <= 12, "\n".join(statements)  # 19 before the work of issues 19 and 24
    assert len(download.captured_queries) <= 7, "\n".join(q["sql"] for q in download.captured_queries)


def test_a_store_that_is_down_answers_424_in_mlflows_shape(s3_storage, settings, tenant_a, mlflow_a):
    _exp, _run, root = new_run(mlflow_a)
    put(mlflow_a, f"{root}/kept.txt", b"kept")
    for name, value in unreachable_settings().items():
        setattr(settings, name, value)
    for response in (
        put(mlflow_a, f"{root}/new.txt", b"new"),
        get(mlflow_a, f"{root}/kept.txt"),
        mlflow_a.api.delete(f"{PROXY}artifacts/{root}/kept.txt"),
        mpu(mlflow_a, "create", root, {"path": "big.bin", "num_parts": 2}),
    ):
        assert response.status_code == 424, response.content[:300]
        assert response.json()["error_code"] == "TEMPORARILY_UNAVAILABLE" and response["Retry-After"] == "5"
    # the index answers listings while the store is down
    assert listing(mlflow_a, root).json() == {"files": [{"path": "kept.txt", "is_dir": False, "file_size": 4}]}
    with tenant_a.context():
        assert list(ArtifactFile.objects.filter(path__startswith=root).values_list("path", flat=True)) == [
            f"{root}/kept.txt"
        ]


def test_presigned_multipart_upload_through_the_api(s3_storage, settings, tenant_a, tenant_b, mlflow_a, mlflow_b):
    server, prefix = s3_storage
    _exp, _run, root = new_run(mlflow_a)
    assert mlflow_a.api.get("/api/3.0/mlflow/server-info").json()["multipart_uploads_enabled"] is True
    parts = [b"a" * (5 * MIB), b"b" * 1234]
    created = mpu(mlflow_a, "create", f"{root}/ckpt", {"path": "/home/me/run/model.pt", "num_parts": 2})
    assert created.status_code == 200, created.content[:300]
    body = created.json()
    assert [c["part_number"] for c in body["credentials"]] == [1, 2]
    etags = []
    for credential, data in zip(body["credentials"], parts, strict=True):
        answer = requests.put(credential["url"], data=data, headers=credential["headers"], timeout=30)
        etags.append({"part_number": credential["part_number"], "etag": answer.headers["ETag"]})

    # another tenant cannot finish it, nor can the same tenant under another path
    stolen = {"path": "model.pt", "upload_id": body["upload_id"], "parts": etags}
    assert mpu(mlflow_b, "complete", f"{root}/ckpt", stolen).status_code == 404
    elsewhere = mpu(mlflow_a, "complete", f"{root}/other", stolen)
    assert error_of(elsewhere, 404, "RESOURCE_DOES_NOT_EXIST")

    finish = {"path": "model.pt", "upload_id": body["upload_id"], "parts": etags}
    done = mpu(mlflow_a, "complete", f"{root}/ckpt", finish)
    assert done.json() == {}
    assert content(get(mlflow_a, f"{root}/ckpt/model.pt")) == b"".join(parts)
    assert server.uploads(prefix) == []
    with tenant_a.context():
        row = ArtifactFile.objects.get(path=f"{root}/ckpt/model.pt")
        assert row.size == 5 * MIB + 1234 and row.sha256 == ""  # hashed by a background task
        assert artifacts.artifact_file_hash(file_id=row.pk) == hashlib.sha256(b"".join(parts)).hexdigest()
        assert not ArtifactUpload.objects.exists()

    # over the limit at completion: aborted, the earlier file stays
    settings.MLFLOW_ARTIFACT_MAX_UPLOAD_BYTES = 5 * MIB
    again = mpu(mlflow_a, "create", f"{root}/ckpt", {"path": "model.pt", "num_parts": 2}).json()
    etags = [{"part_number": c["part_number"], "etag": requests.put(c["url"], data=d, timeout=30).headers["ETag"]}
             for c, d in zip(again["credentials"], parts, strict=True)]  # fmt: skip
    refused = mpu(mlflow_a, "complete", f"{root}/ckpt", {"path": "model.pt", "upload_id": again["upload_id"],
                                                          "parts": etags})  # fmt: skip
    assert refused.status_code == 413 and str(5 * MIB) in refused.json()["message"]
    assert server.uploads(prefix) == []
    assert content(get(mlflow_a, f"{root}/ckpt/model.pt")) == b"".join(parts)

    # abort: the parts are dropped, nothing is stored
    aborted = mpu(mlflow_a, "create", f"{root}/ckpt", {"path": "partial.pt", "num_parts": 3}).json()
    assert len(server.uploads(prefix)) == 1
    stop = {"path": "partial.pt", "upload_id": aborted["upload_id"]}
    assert mpu(mlflow_a, "abort", f"{root}/ckpt", stop).json() == {}
    assert server.uploads(prefix) == []
    assert error_of(get(mlflow_a, f"{root}/ckpt/partial.pt"), 404, "RESOURCE_DOES_NOT_EXIST")
    bad = mpu(mlflow_a, "complete", f"{root}/ckpt", {"path": "x.pt", "upload_id": "nope", "parts": etags})
    error_of(bad, 404, "RESOURCE_DOES_NOT_EXIST")
    invalid = [{"path": "x.pt", "num_parts": 0}, {"path": "x.pt", "num_parts": 10001}]
    # only the client's base name is used: it must be a safe file name
    invalid += [{"path": name, "num_parts": 1} for name in ("..", "/tmp/dir/", "a%2f..%2f..%2fx")]
    for body in invalid:
        error_of(mpu(mlflow_a, "create", f"{root}/ckpt", body), 400, "INVALID_PARAMETER_VALUE")


def test_multipart_on_the_filesystem_answers_as_mlflow_for_a_store_without_it(tenant_a, mlflow_a):
    _exp, _run, root = new_run(mlflow_a)
    assert mlflow_a.api.get("/api/3.0/mlflow/server-info").json()["multipart_uploads_enabled"] is False
    refused = mpu(mlflow_a, "create", root, {"path": "/tmp/big.bin", "num_parts": 2})
    message = error_of(refused, 400, "NOT_IMPLEMENTED")
    assert message == "Multipart upload is not supported for the current artifact repository"  # the client's cue


def test_uploads_begun_on_s3_answer_cleanly_after_a_switch_to_the_filesystem(
    s3_storage, settings, tmp_path, tenant_a, mlflow_a
):
    _exp, _run, root = new_run(mlflow_a)
    started = [mpu(mlflow_a, "create", root, {"path": name, "num_parts": 1}).json() for name in ("a.bin", "b.bin")]
    part = requests.put(started[0]["credentials"][0]["url"], data=b"x" * 10, timeout=30).headers["ETag"]
    settings.MAESTRO_STORAGE_URL, settings.MEDIA_ROOT = "", str(tmp_path)  # the operator moves to the filesystem

    finish = {"path": "a.bin", "upload_id": started[0]["upload_id"], "parts": [{"part_number": 1, "etag": part}]}
    error_of(mpu(mlflow_a, "complete", root, finish), 404, "RESOURCE_DOES_NOT_EXIST")
    error_of(get(mlflow_a, f"{root}/a.bin"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert mpu(mlflow_a, "abort", root, {"path": "b.bin", "upload_id": started[1]["upload_id"]}).json() == {}
    with tenant_a.context():
        assert not ArtifactUpload.objects.exists() and not ArtifactFile.objects.filter(path__startswith=root).exists()

    again = mpu(mlflow_a, "create", root, {"path": "c.bin", "num_parts": 1})
    assert error_of(again, 400, "NOT_IMPLEMENTED")
    settings.MAESTRO_STORAGE_URL = s3_storage[0].settings(s3_storage[1])["MAESTRO_STORAGE_URL"]
    stale = mpu(mlflow_a, "create", root, {"path": "d.bin", "num_parts": 1}).json()
    settings.MAESTRO_STORAGE_URL = ""
    with tenant_a.context():
        done = artifacts.artifact_housekeeping(max_age_seconds=0)
        assert done["uploads_aborted"] == 1
        assert not ArtifactUpload.objects.filter(upload_id=stale["upload_id"]).exists()


def test_housekeeping_aborts_stale_uploads_and_removes_files_of_deleted_runs(s3_storage, tenant_a, mlflow_a):
    server, prefix = s3_storage
    _exp, _run_id, root = new_run(mlflow_a)
    _exp2, run2, root2 = new_run(mlflow_a)
    put(mlflow_a, f"{root}/keep.txt", b"keep")
    put(mlflow_a, f"{root2}/gone.txt", b"gone")
    stale = mpu(mlflow_a, "create", root, {"path": "stale.bin", "num_parts": 1}).json()
    fresh = mpu(mlflow_a, "create", root, {"path": "fresh.bin", "num_parts": 1}).json()
    with tenant_a.context():
        from django.utils import timezone

        ArtifactUpload.objects.filter(upload_id=stale["upload_id"]).update(
            created_at=timezone.now() - timezone.timedelta(hours=30)
        )
        Run.objects.filter(uuid=uuid.UUID(run2)).delete()  # a hard delete leaves its files in the store
        done = artifacts.artifact_housekeeping(max_age_seconds=24 * 3600)
        assert done["uploads_aborted"] == 1 and done["orphans_removed"] == 1
        assert list(ArtifactUpload.objects.values_list("upload_id", flat=True)) == [fresh["upload_id"]]
        assert not ArtifactFile.objects.filter(path__startswith=root2).exists()
    assert [u["UploadId"] for u in server.uploads(prefix)] == [fresh["upload_id"]]
    keys = set(server.keys(prefix))
    assert f"{prefix}/{tenant_a.schema}/mlflow/{root}/keep.txt" in keys
    assert not any(key.startswith(f"{prefix}/{tenant_a.schema}/mlflow/{root2}") for key in keys)
    assert content(get(mlflow_a, f"{root}/keep.txt")) == b"keep"


def test_the_housekeeping_tasks_run_per_tenant(tenant_a, mlflow_a, settings, tmp_path):
    from apps.mlflow_api import tasks

    settings.MEDIA_ROOT = str(tmp_path)  # only this test's files: no other test's leftovers to sweep

    _exp, _run, root = new_run(mlflow_a)
    put(mlflow_a, f"{root}/f.txt", b"f")
    with tenant_a.context():
        row = ArtifactFile.objects.get(path=f"{root}/f.txt")
        ArtifactFile.objects.filter(pk=row.pk).update(sha256="")
    assert tasks.hash_artifact_file(schema_name=tenant_a.schema, file_id=row.pk) == hashlib.sha256(b"f").hexdigest()
    assert tasks.artifact_housekeeping(schema_name=tenant_a.schema) == {
        "uploads_aborted": 0, "files_hashed": 0, "orphans_removed": 0
    }  # fmt: skip
