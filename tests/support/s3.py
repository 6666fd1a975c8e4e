"""A real S3 API for the tests: moto's S3 server, started as its own process on a free port (by a session fixture, so
``make test`` needs nothing prepared), a bucket in it, and the settings / environment that point Maestro at it.

Tests talk to it over HTTP exactly as Maestro talks to AWS or MinIO — nothing of boto3 is mocked. Each test using
it gets its own key prefix in the session's bucket, so tests never see each other's objects.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.support.live_server import free_port

# moto accepts any credentials; these exist so boto3 finds some (never real ones).
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "maestro-test",
    "AWS_SECRET_ACCESS_KEY": "maestro-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class S3Server:
    """A running moto S3 server and the bucket the tests use."""

    proc: subprocess.Popen
    endpoint_url: str
    bucket: str
    log_path: Path

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
                            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])  # fmt: skip

    def new_prefix(self) -> str:
        return f"t-{uuid.uuid4().hex[:12]}"

    def settings(self, prefix: str) -> dict[str, str]:
        """Django settings that put Maestro's storage in this bucket under ``prefix``."""
        return {
            "MAESTRO_STORAGE_URL": f"s3://{self.bucket}/{prefix}",
            "MAESTRO_STORAGE_ENDPOINT_URL": self.endpoint_url,
            "MAESTRO_STORAGE_PUBLIC_ENDPOINT_URL": "",
            "MAESTRO_STORAGE_REGION": "us-east-1",
        }

    def env(self, prefix: str) -> dict[str, str]:
        """The same as environment variables, for the processes tests start (gunicorn, Celery)."""
        return {**CREDENTIALS, **self.settings(prefix)}

    def keys(self, prefix: str) -> dict[str, int]:
        """Every object under ``prefix`` → its size."""
        found = {}
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix + "/"):
            found.update({entry["Key"]: entry["Size"] for entry in page.get("Contents", ())})
        return found

    def uploads(self, prefix: str) -> list[dict]:
        """Multipart uploads in progress under ``prefix``."""
        return self.client().list_multipart_uploads(Bucket=self.bucket, Prefix=prefix + "/").get("Uploads", [])


def start_s3(log_path: Path) -> S3Server:
    os.environ.update({k: v for k, v in CREDENTIALS.items() if k not in os.environ})
    port = free_port()
    log = open(log_path, "ab")  # noqa: SIM115  (closed with the process)
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **CREDENTIALS},
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"moto server did not answer; see {log_path}") from None
            time.sleep(0.2)
    server = S3Server(proc=proc, endpoint_url=endpoint, bucket="maestro-tests", log_path=log_path)
    server.client().create_bucket(Bucket=server.bucket)
    return server


def stop_s3(server: S3Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()


def unreachable_settings() -> dict[str, str]:
    """Settings of an S3 store that is down: an endpoint on a port nothing listens on, with short timeouts."""
    return {
        "MAESTRO_STORAGE_URL": "s3://maestro-down/x",
        "MAESTRO_STORAGE_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "MAESTRO_STORAGE_CONNECT_TIMEOUT": 0.5,
        "MAESTRO_STORAGE_READ_TIMEOUT": 1.0,
        "MAESTRO_STORAGE_MAX_ATTEMPTS": 1,
    }
