"""The real MLflow client (pinned mlflow-skinny), unmodified, logging and reading artifacts through a live Maestro
(gunicorn) whose file storage is a real S3 API (moto's server): log_artifact(s), log_dict, log_text,
list_artifacts, download_artifacts byte for byte, and a presigned multipart upload the client discovers through
/api/3.0/mlflow/server-info. Plus what only raw HTTP shows: chunked bodies and the 413 of a declared length."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
from django.contrib.auth import get_user_model

from apps.accounts.models import ApiToken
from apps.accounts.services import token_create
from apps.mlflow_api import artifacts
from apps.mlflow_api.models import ArtifactFile, ArtifactUpload
from apps.projects.models import Project
from tests.conftest import LIVE_S3_MAX_UPLOAD_BYTES

SCRIPT = Path(__file__).with_name("artifacts_client_script.py")
pytestmark = [pytest.mark.slow]


@pytest.fixture
def s3_client_env(committed, live_server_s3, s3_server, settings):
    """Tenant A's admin token and the environment an MLflow user sets, against the S3-backed live server; this
    process's settings point at the same bucket prefix (to inspect and hash what the server stored)."""
    alpha = committed[0]
    for name, value in s3_server.settings(live_server_s3.prefix).items():
        setattr(settings, name, value)
    with alpha.context():
        user = get_user_model().objects.get(username=alpha.admin_username)
        created = token_create(user=user, name=f"mlflow-art-{uuid.uuid4().hex[:6]}")
        before = set(Project.objects.values_list("pk", flat=True))
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{live_server_s3.port}",
        "MLFLOW_TRACKING_TOKEN": created.plaintext,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    yield alpha, env, created.plaintext, live_server_s3
    with alpha.context():
        ArtifactFile.objects.filter(project__in=Project.objects.exclude(pk__in=before)).delete()
        Project.objects.exclude(pk__in=before).delete()
        ApiToken.objects.filter(pk=created.token.pk).delete()


def run_client(env: dict, flow: str, name: str) -> dict:
    done = subprocess.run([sys.executable, str(SCRIPT), flow, name], env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_mlflow_client_logs_lists_and_downloads_artifacts_on_s3(s3_client_env, s3_server):
    alpha, env, _token, server = s3_client_env
    out = run_client(env, "artifacts", f"art-{uuid.uuid4().hex[:8]}")
    exp = out["artifact_uri"].split("/")[1] if out["artifact_uri"].startswith("mlflow-artifacts:/") else None
    assert out["artifact_uri"] == f"mlflow-artifacts:/{exp}/{out['run_id']}/artifacts"
    size = 3 * 1024 * 1024 + 17
    assert out["root"] == [["checkpoints", True, None], ["config", True, None], ["notes.txt", False, 15],
                           ["report", True, None], ["weights.bin", False, size]]  # fmt: skip
    assert out["report"] == [["report/plots", True, None], ["report/summary.md", False, 20]]
    assert out["downloaded_one_sha256"] == out["weights_sha256"]
    expected = {**out["uploaded"], "checkpoints/weights.bin": out["weights_sha256"]}
    assert {k: v for k, v in out["downloaded"].items() if k in expected} == expected  # byte-equal downloads
    assert set(out["downloaded"]) == set(expected) | {"config/params.json", "notes.txt"}
    assert out["config"] == {"lr": 0.01, "layers": [64, 32]} and out["text"] == "hello artifacts"
    assert out["missing"] is not None

    root = f"{exp}/{out['run_id']}/artifacts"
    keys = s3_server.keys(server.prefix)
    assert f"{server.prefix}/{alpha.schema}/mlflow/{root}/checkpoints/weights.bin" in keys
    assert keys[f"{server.prefix}/{alpha.schema}/mlflow/{root}/weights.bin"] == size
    with alpha.context():
        row = ArtifactFile.objects.get(path=f"{root}/weights.bin")
        assert (row.size, row.sha256) == (size, out["weights_sha256"])


def test_mlflow_client_multipart_upload_uses_presigned_urls(s3_client_env, s3_server):
    alpha, env, _token, server = s3_client_env
    env = {**env, "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": str(6 * 1024 * 1024),
           "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": str(5 * 1024 * 1024)}  # fmt: skip
    out = run_client(env, "multipart", f"mpu-{uuid.uuid4().hex[:8]}")
    assert out["downloaded"] == out["uploaded"]
    log = server.log_path.read_text(errors="replace")
    with alpha.context():
        row = ArtifactFile.objects.get(path__endswith=f"{out['run_id']}/artifacts/ckpt/model.ckpt")
        assert row.size == out["size"]
        assert not ArtifactUpload.objects.filter(path=row.path).exists()
        if not row.sha256:  # the hashing task runs in a worker; compute it here if none ran yet
            assert artifacts.artifact_file_hash(file_id=row.pk) == out["uploaded"]
        row.refresh_from_db()
        assert row.sha256 == out["uploaded"]
    assert "mpu/create" in log and "mpu/complete" in log  # the client went the multipart way
    assert s3_server.uploads(server.prefix) == []


def _proxy(server, path: str) -> str:
    return f"http://127.0.0.1:{server.port}/api/2.0/mlflow-artifacts/artifacts/{path}"


def test_chunked_bodies_stream_in_and_a_declared_oversize_gets_413_over_http(s3_client_env):
    alpha, _env, token, server = s3_client_env
    headers = {"Authorization": f"Bearer {token}"}
    api = f"http://127.0.0.1:{server.port}/api/2.0/mlflow/"
    exp = requests.post(api + "experiments/create", json={"name": f"raw-{uuid.uuid4().hex[:8]}"}, headers=headers,
                        timeout=30).json()["experiment_id"]  # fmt: skip
    run = requests.post(api + "runs/create", json={"experiment_id": exp}, headers=headers, timeout=30).json()
    root = f"{exp}/{run['run']['info']['run_id']}/artifacts"
    chunks = [os.urandom(700_000) for _ in range(5)]
    sent = requests.put(_proxy(server, f"{root}/chunked.bin"), data=iter(chunks), headers=headers, timeout=60)
    assert sent.status_code == 200, sent.text[:300]
    back = requests.get(_proxy(server, f"{root}/chunked.bin"), headers=headers, timeout=60)
    assert back.content == b"".join(chunks)

    too_big = b"z" * (LIVE_S3_MAX_UPLOAD_BYTES + 1)
    refused = requests.put(_proxy(server, f"{root}/big.bin"), data=too_big, headers=headers, timeout=60)
    assert refused.status_code == 413
    assert f"{LIVE_S3_MAX_UPLOAD_BYTES} bytes" in refused.json()["message"]
    streamed = requests.put(_proxy(server, f"{root}/big2.bin"), data=iter([too_big[:MB8], too_big[MB8:]]),
                            headers=headers, timeout=60)  # fmt: skip
    assert streamed.status_code == 413
    with alpha.context():
        assert not ArtifactFile.objects.filter(path__in=[f"{root}/big.bin", f"{root}/big2.bin"]).exists()


MB8 = 8 * 1024 * 1024
