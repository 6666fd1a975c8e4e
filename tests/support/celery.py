"""A real Celery worker process for tests, consuming from the test broker and writing to the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection


def test_database_url() -> str:
    db = connection.settings_dict
    return (
        f"postgres://{quote(db['USER'], safe='')}:{quote(db['PASSWORD'], safe='')}"
        f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )


def worker_env() -> dict[str, str]:
    """The environment of the processes tests start: the test database, broker and file storage (the current
    settings' storage: MEDIA_ROOT, or the S3 bucket a test switched to — tests/support/s3.py)."""
    storage = {
        name: str(getattr(settings, name))
        for name in ("MAESTRO_STORAGE_URL", "MAESTRO_STORAGE_ENDPOINT_URL", "MAESTRO_STORAGE_PUBLIC_ENDPOINT_URL",
                     "MAESTRO_STORAGE_REGION")
    }  # fmt: skip
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "maestro.settings.test",
        "DATABASE_URL": test_database_url(),
        "TEST_CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        **storage,
    }


def start_worker(log_path: Path, queues: str = "default,ml", extra_env: dict | None = None) -> subprocess.Popen:
    from maestro.celery import app

    app.control.purge()
    log = open(log_path, "ab")  # noqa: SIM115  (closed with the process)
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "maestro", "worker", "--pool", "solo", "-Q", queues,
         "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--hostname", f"test-{os.getpid()}@%h"],
        env={**worker_env(), **(extra_env or {})}, stdout=log, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Celery worker exited with {proc.returncode}; see {log_path}")
        if b"ready." in log_path.read_bytes():
            return proc
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"Celery worker did not become ready; see {log_path}")


def stop_worker(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2):
    """Poll ``predicate`` until it returns a truthy value; return it, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
