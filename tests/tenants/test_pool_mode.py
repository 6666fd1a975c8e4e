"""A connection pooler in transaction (or statement) mode would mix tenants (the search_path is set once per
connection): with ``DATABASE_POOL_MODE`` saying so, ``manage.py``, the WSGI application and Celery workers refuse to
start; session pooling and direct connections start."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings
from django.core import checks

from maestro.startup import STARTUP


def _startup_errors() -> list[str]:
    return [message.id for message in checks.run_checks(tags=[STARTUP]) if message.is_serious()]


@pytest.mark.parametrize(
    ("mode", "errors"),
    [
        ("direct", []),
        ("session", []),
        ("transaction", ["tenants.E001"]),
        ("statement", ["tenants.E001"]),
        ("Session", ["tenants.E002"]),
        ("", ["tenants.E002"]),
    ],
)
def test_the_startup_check_accepts_only_direct_connections_and_session_pooling(settings, mode, errors):
    settings.DATABASE_POOL_MODE = mode
    assert _startup_errors() == errors


def test_the_default_is_a_direct_connection():
    assert settings.DATABASE_POOL_MODE == "direct"  # the test environment sets no DATABASE_POOL_MODE
    assert _startup_errors() == []


def _run(args: list[str], *, mode: str, settings_module: str, **env) -> subprocess.CompletedProcess:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": settings_module, "DATABASE_POOL_MODE": mode, **env}
    return subprocess.run(
        [sys.executable, *args], env=environment, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=180
    )


@pytest.mark.parametrize("mode", ["transaction", "session"])
def test_manage_py_check_fails_behind_a_transaction_pooler(mode):
    result = _run(["manage.py", "check"], mode=mode, settings_module="maestro.settings.test")
    if mode == "transaction":
        assert result.returncode != 0
        assert "tenants.E001" in result.stderr and "pool_mode = session" in result.stderr
    else:
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("mode", ["transaction", "session"])
def test_the_production_wsgi_application_refuses_to_start_behind_a_transaction_pooler(mode):
    """Production settings read DATABASE_POOL_MODE from the environment; gunicorn imports ``maestro.wsgi``."""
    result = _run(
        ["-c", "import maestro.wsgi"],
        mode=mode,
        settings_module="maestro.settings.production",
        SECRET_KEY=secrets.token_urlsafe(40),
        RECOMMENDATIONS_PRELOAD_EMBEDDING_MODEL="false",
    )
    if mode == "transaction":
        assert result.returncode != 0
        assert "SystemCheckError" in result.stderr and "tenants.E001" in result.stderr
    else:
        assert result.returncode == 0, result.stderr


def test_a_celery_worker_refuses_to_start_behind_a_transaction_pooler():
    result = _run(
        ["-m", "celery", "-A", "maestro", "--broker", "memory://", "worker", "--pool", "solo", "-Q", "pool-mode-probe"],
        mode="transaction",
        settings_module="maestro.settings.test",
    )
    assert result.returncode == 1
    assert "tenants.E001" in result.stderr and "worker_refused_to_start" in result.stderr
