"""Operator commands for the file storage, against a real S3 API: copying files a local disk holds into the bucket
(the path from MEDIA_ROOT to S3), and creating the bucket."""

from __future__ import annotations

import hashlib
from io import BytesIO, StringIO

import pytest
from django.core.management import CommandError, call_command

from maestro.storage import tenant_storage

pytestmark = pytest.mark.django_db


def test_storage_copy_moves_local_files_to_s3_and_can_run_again(s3_storage, tenant_a, tenant_b, tmp_path):
    server, prefix = s3_storage
    blob = b"library content"
    sha = hashlib.sha256(blob).hexdigest()
    files = {
        f"alpha/artifacts/{sha[:2]}/{sha}": blob,
        "alpha/mlflow/3/0123456789abcdef0123456789abcdef/artifacts/model/weights.bin": b"w" * 70_000,
        "beta/mlflow/1/ffffffffffffffffffffffffffffffff/artifacts/b.txt": b"beta's",
    }
    for key, content in files.items():
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(content)
    out = StringIO()
    call_command("storage_copy", "--source", str(tmp_path), "--tenant", "alpha", stdout=out)
    assert "2 files copied, 0 already there" in out.getvalue()
    assert server.keys(prefix) == {f"{prefix}/{key}": len(content) for key, content in files.items() if "alpha" in key}
    with tenant_storage("alpha").open_stream(f"artifacts/{sha[:2]}/{sha}") as reader:
        assert reader.read() == blob

    again = StringIO()
    call_command("storage_copy", "--source", str(tmp_path), "--tenant", "alpha", "--tenant", "beta", stdout=again)
    assert "1 files copied, 2 already there" in again.getvalue()

    (tmp_path / "alpha/artifacts/ab/abcdef").parent.mkdir(parents=True)
    (tmp_path / "alpha/artifacts/ab/abcdef").write_bytes(b"content that does not hash to its name")
    with pytest.raises(CommandError, match="does not match its name"):
        call_command("storage_copy", "--source", str(tmp_path), "--tenant", "alpha", stdout=StringIO())
    assert not tenant_storage("alpha").exists("artifacts/ab/abcdef")


def test_storage_copy_refuses_to_copy_a_directory_onto_itself(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.MAESTRO_STORAGE_URL = ""
    with pytest.raises(CommandError, match="set MAESTRO_STORAGE_URL first"):
        call_command("storage_copy", stdout=StringIO())


def test_storage_ensure_bucket_creates_a_missing_bucket_once(s3_server, settings):
    for name, value in s3_server.settings("x").items():
        setattr(settings, name, value)
    settings.MAESTRO_STORAGE_URL = "s3://maestro-fresh-bucket/files"
    out = StringIO()
    call_command("storage_ensure_bucket", stdout=out)
    call_command("storage_ensure_bucket", stdout=out)
    assert out.getvalue().splitlines() == [
        "Bucket 'maestro-fresh-bucket' created.",
        "Bucket 'maestro-fresh-bucket' exists.",
    ]
    assert "maestro-fresh-bucket" in [b["Name"] for b in s3_server.client().list_buckets()["Buckets"]]


def test_a_tenant_export_takes_its_files_from_s3(s3_storage, tenant_a, tmp_path):
    """The archive's files come from the tenant's storage whatever it is: here the bucket (keys, sizes, hashes)."""
    from apps.ops.archive import write_archive

    store = tenant_storage(tenant_a.schema)
    files = {"artifacts/aa/aabb": b"library bytes", "mlflow/4/0123456789abcdef0123456789abcdef/artifacts/m.txt": b"m"}
    for key, content in files.items():
        store.save_stream(key, BytesIO(content))
    result = write_archive(tenant_a.tenant, tmp_path / "alpha.tar.gz")
    exported = {entry["path"]: (entry["size"], entry["sha256"]) for entry in result.manifest["files"]}
    assert exported == {key: (len(content), hashlib.sha256(content).hexdigest()) for key, content in files.items()}
