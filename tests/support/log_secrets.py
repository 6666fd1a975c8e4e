"""Suite-wide check that no secret reaches the logs.

* Every log line of the run — the pytest process and every process the tests start (Celery workers, gunicorn),
  formatted exactly as in production (JSON, redaction filter) — is appended to ``test-output/suite-logs.jsonl``
  (``MAESTRO_TEST_LOG_FILE``; read by ``maestro.settings.test``).
* Every secret the suite creates is remembered: passwords set or checked on a user (``set_password`` /
  ``check_password``, so also wrong passwords of failing logins), the plaintext of every API token and every value
  encrypted at rest (``maestro.encryption.encrypt``: SSO client secrets).
* At the end of the session the log file is searched for each secret; any hit fails the run (exit status 1) and
  names the secret's kind and the first matching line number.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

LOG_ENV = "MAESTRO_TEST_LOG_FILE"
MIN_SECRET_LENGTH = 8


class SecretRegistry:
    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}

    def add(self, value, kind: str) -> None:
        if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
            self.secrets.setdefault(value, kind)


registry = SecretRegistry()


def find_secrets(log_path: Path, secrets: dict[str, str]) -> list[tuple[str, int]]:
    """(kind, first line number) for every secret that occurs in the log file.

    Every secret is at least ``MIN_SECRET_LENGTH`` characters long, so a line holding one holds its first
    ``MIN_SECRET_LENGTH`` characters too: each line is cut into its substrings of that length, and only the secrets
    whose beginning is among them are looked for in it. That is one pass over the log, instead of one per secret
    (a whole suite registers thousands of secrets and logs tens of megabytes)."""
    if not log_path.exists() or not secrets:
        return []
    by_start: dict[str, list[str]] = {}
    short = [secret for secret in secrets if len(secret) < MIN_SECRET_LENGTH]  # not registered; a caller's own
    for secret in secrets:
        if len(secret) >= MIN_SECRET_LENGTH:
            by_start.setdefault(secret[:MIN_SECRET_LENGTH], []).append(secret)
    hits: dict[str, tuple[str, int]] = {}
    with open(log_path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            pieces = {line[i : i + MIN_SECRET_LENGTH] for i in range(len(line) - MIN_SECRET_LENGTH + 1)}
            candidates = [secret for start in pieces & by_start.keys() for secret in by_start[start]]
            for secret in candidates + short:
                if secret not in hits and secret in line:
                    hits[secret] = (secrets[secret], number)
    return list(hits.values())


def _install_recorders() -> None:
    from django.contrib.auth.base_user import AbstractBaseUser

    from maestro import tokens

    original_set, original_check = AbstractBaseUser.set_password, AbstractBaseUser.check_password

    def set_password(self, raw_password):
        registry.add(raw_password, "password")
        return original_set(self, raw_password)

    def check_password(self, raw_password):
        registry.add(raw_password, "password (login attempt)")
        return original_check(self, raw_password)

    AbstractBaseUser.set_password = set_password
    AbstractBaseUser.check_password = check_password

    original_new_token = tokens.new_token

    def new_token(schema):
        plaintext, prefix, key_hash = original_new_token(schema)
        registry.add(plaintext, "API token")
        registry.add(plaintext.rsplit("_", 1)[1], "API token secret")
        return plaintext, prefix, key_hash

    for module in list(sys.modules.values()):
        if getattr(module, "new_token", None) is original_new_token:
            module.new_token = new_token

    from maestro import encryption

    original_encrypt = encryption.encrypt

    def encrypt(plaintext):
        registry.add(plaintext, "value encrypted at rest")
        return original_encrypt(plaintext)

    for module in list(sys.modules.values()):
        if getattr(module, "encrypt", None) is original_encrypt:
            module.encrypt = encrypt


def _log_path(config) -> Path:
    return Path(config.rootpath) / "test-output" / "suite-logs.jsonl"


def pytest_configure(config):
    path = _log_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    os.environ[LOG_ENV] = str(path)


def pytest_sessionstart(session):
    path = _log_path(session.config)
    root = logging.getLogger()
    if not any(getattr(h, "baseFilename", None) == str(path) for h in root.handlers):
        # Django configured logging before the variable was set: tee the console handler's output here.
        console = next((h for h in root.handlers if isinstance(h, logging.StreamHandler)), None)
        handler = logging.FileHandler(path, delay=True)
        if console is not None:
            handler.setFormatter(console.formatter)
            for log_filter in console.filters:
                handler.addFilter(log_filter)
        root.addHandler(handler)
    _install_recorders()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    for handler in logging.getLogger().handlers:
        handler.flush()
    path = _log_path(session.config)
    hits = find_secrets(path, registry.secrets)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if hits:
        if reporter is not None:
            reporter.write_line("")
            for kind, line in hits:
                reporter.write_line(f"SECRET IN LOGS: a {kind} appears in {path} line {line}", red=True, bold=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif reporter is not None:
        reporter.write_line(
            f"log secret check: {len(registry.secrets)} secrets, none in {path} "
            f"({path.stat().st_size if path.exists() else 0} bytes)"
        )
