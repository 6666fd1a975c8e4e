"""Shared fixtures. Two tenants (alpha, beta) exist for the whole session; each test runs in a transaction that is
rolled back, so tests may write freely inside them."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.support.tenants import TenantCtx, make_tenant

# Suite-wide check that no password or token reaches any log line (see the module).
pytest_plugins = ["tests.support.log_secrets"]


@pytest.fixture(scope="session")
def _test_database(django_db_setup, django_db_blocker):
    """pytest-django creates the test database only when a collected test is marked django_db; a run of only
    `committed` tests (e.g. one Celery test) would otherwise write to the development database."""
    if connection.settings_dict["NAME"].startswith("test_"):
        yield
        return
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        config = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    yield
    with django_db_blocker.unblock():
        teardown_databases(config, verbosity=0)


@pytest.fixture(scope="session")
def _session_tenants(_test_database, django_db_blocker) -> tuple[TenantCtx, TenantCtx]:
    with django_db_blocker.unblock():
        assert connection.settings_dict["NAME"].startswith("test_"), "refusing to create test tenants outside a test DB"
        alpha = make_tenant("alpha", "Alpha Analytics")
        beta = make_tenant("beta", "Beta Vision")
        connection.set_schema_to_public()
    return alpha, beta


@pytest.fixture
def tenant_a(_session_tenants, db) -> TenantCtx:
    return _session_tenants[0]


@pytest.fixture
def tenant_b(_session_tenants, db) -> TenantCtx:
    return _session_tenants[1]


@pytest.fixture(autouse=True)
def _reset_schema():
    """Never let one test's schema leak into the next."""
    yield
    connection.set_schema_to_public()


@pytest.fixture(scope="session")
def celery_worker(_session_tenants, tmp_path_factory):
    """A real Celery worker (separate process) against the test database and a dedicated Redis database."""
    from tests.support.celery import start_worker, stop_worker

    log_path = tmp_path_factory.mktemp("celery") / "worker.log"
    proc = start_worker(log_path)
    yield log_path
    stop_worker(proc)


@pytest.fixture
def committed(_session_tenants, django_db_blocker):
    """Database access outside a test transaction, for work another process (worker, server) must see.
    Tests using it clean up what they write."""
    with django_db_blocker.unblock():
        yield _session_tenants
