"""A real HTTP server (gunicorn, separate process) on the test database, and a Playwright-driven Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings

from tests.support.celery import worker_env

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(log_path: Path, port: int, workers: int = 2, extra_env: dict | None = None) -> subprocess.Popen:
    """gunicorn on the test database; ``extra_env`` adds settings (e.g. S3 file storage, tests/support/s3.py)."""
    log = open(log_path, "ab")  # noqa: SIM115  (closed with the process)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "maestro.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--timeout", "60", "--graceful-timeout", "5"],
        env={**worker_env(), "MAESTRO_BASE_PORT": str(port), **(extra_env or {})},
        stdout=log, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                if response.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"gunicorn did not answer; see {log_path}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def chromium_available() -> bool:
    return Path(CHROMIUM_PATH).exists() or shutil.which("chromium") is not None


def screenshot_dir() -> Path:
    path = Path(settings.TEST_OUTPUT_DIR) / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
