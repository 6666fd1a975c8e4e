"""The prometheus_client multiprocess directory (``PROMETHEUS_MULTIPROC_DIR``).

gunicorn workers and Celery worker processes each write their metric values to memory-mapped files named after
their pid in that directory; ``/metrics`` (any gunicorn worker) aggregates all files, so counters add up across
processes. This module must not import metric definitions: the gunicorn master loads it before forking.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"
_FILE_RE = re.compile(r"^[a-z_]+_(\d+)\.db$")


def multiproc_dir() -> Path | None:
    """The configured directory, or None when metrics are kept in-process (tests, runserver, shell)."""
    value = os.environ.get(ENV_VAR) or os.environ.get(ENV_VAR.lower())
    return Path(value) if value else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prepare_multiproc_dir(path: Path | None = None) -> list[Path]:
    """Create the directory and delete the files of processes that no longer run; return the deleted files.

    Called when gunicorn starts. Files of live processes (a Celery worker started before gunicorn on the same
    host) are kept, so a restart of the web server alone never wipes the worker's counters; everything left by
    dead processes of an earlier run goes, so a fresh start begins at zero (Prometheus treats that as a reset).
    """
    path = path or multiproc_dir()
    if path is None:
        return []
    path.mkdir(parents=True, exist_ok=True)
    removed = []
    for entry in path.iterdir():
        match = _FILE_RE.match(entry.name)
        if match and not _pid_alive(int(match.group(1))):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def mark_process_dead(pid: int) -> None:
    """Drop the live-gauge files of an exited process (gunicorn ``child_exit``, Celery child shutdown)."""
    if multiproc_dir() is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)
