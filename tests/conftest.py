"""Shared fixtures. Two tenants (alpha, beta) exist for the whole session; each test runs in a transaction that is
rolled back, so tests may write freely inside them."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.support.tenants import TenantCtx, make_tenant


def _always_set_up_the_test_database():
    """pytest-django creates the test database only when a collected test has the django_db mark or the db fixture.
    Tests that use only ``committed`` / ``celery_worker`` (e.g. running tests/core/test_celery.py alone) would
    otherwise run against the *development* database named in DATABASE_URL. Always include the default alias."""
    import pytest_django.fixtures

    original = pytest_django.fixtures._get_databases_for_setup

    def with_default(items):
        aliases, serialized = original(items)
        return {*aliases, "default"}, serialized

    pytest_django.fixtures._get_databases_for_setup = with_default


_always_set_up_the_test_database()


@pytest.fixture(scope="session")
def _session_tenants(django_db_setup, django_db_blocker) -> tuple[TenantCtx, TenantCtx]:
    with django_db_blocker.unblock():
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
