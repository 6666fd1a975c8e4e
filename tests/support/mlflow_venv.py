"""The full ``mlflow`` package (client and server, with scikit-learn; psycopg and boto3 for the benchmark's server),
pinned by ``constraints-mlflow.txt``, in a virtualenv of its own under ``.local/mlflow/`` — for code that must run
real MLflow: the end-to-end user-script test (``tests/mlflow_api/test_user_workflow.py``) and
``bench/mlflow_compare.py``.

Why not the project's virtualenv: ``mlflow==3.17.2`` requires ``gunicorn<27`` and Maestro runs gunicorn 27.0.1, so
the two cannot be installed together (the project's dev dependency is ``mlflow-skinny``, the client without the
server, which has no such pin). Every package the two share is pinned to the project's version.

The virtualenv is created once (from PyPI, a few minutes) and reused while ``constraints-mlflow.txt`` is unchanged
(its hash names the directory); a file lock keeps two processes from building it at the same time.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MLFLOW_VERSION = "3.17.2"
CONSTRAINTS = ROOT / "constraints-mlflow.txt"


def venv_dir() -> Path:
    digest = hashlib.sha256(CONSTRAINTS.read_bytes()).hexdigest()[:10]
    return ROOT / ".local" / "mlflow" / f"venv-{MLFLOW_VERSION}-{digest}"


def ensure_mlflow_venv(progress: Callable[[str], None] = print) -> Path:
    """The Python interpreter of the MLflow virtualenv, creating it first when needed."""
    venv = venv_dir()
    python, stamp = venv / "bin" / "python", venv / ".installed"
    if stamp.exists():
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists():  # built by another process while this one waited
            return python
        progress(f"creating {venv} with mlflow=={MLFLOW_VERSION} (once; a few minutes)")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c", str(CONSTRAINTS),
             f"mlflow=={MLFLOW_VERSION}", "scikit-learn", "pandas", "psycopg[binary]", "boto3"],
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"installing mlflow=={MLFLOW_VERSION} into {venv} failed:\n{done.stderr[-4000:]}")
        stamp.write_text(MLFLOW_VERSION)
    return python


def build_in_background(log_path: Path) -> subprocess.Popen | None:
    """Start building the virtualenv in a process of its own when it does not exist yet; None when it does.

    For the suite: the build (mostly downloading and unpacking wheels) then overlaps the tests that run before the
    one needing it, whose ``ensure_mlflow_venv`` waits on the file lock for it to finish — or, should the background
    build fail, builds it again itself and reports the error."""
    if (venv_dir() / ".installed").exists():
        return None
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-c", "from tests.support.mlflow_venv import ensure_mlflow_venv; ensure_mlflow_venv()"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def stop_background_build(proc: subprocess.Popen) -> None:
    """End a background build that is still running (the session ended before a test waited for it)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
