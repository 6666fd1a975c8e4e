"""Tenant-aware tasks on a real worker: the right schema, never the other tenant's, never a suspended tenant."""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone

from apps.accounts.tasks import clear_expired_sessions, clear_expired_sessions_all_tenants
from apps.tenants.services import tenant_set_active
from tests.support.celery import wait_for


def _expired_session(ctx, key):
    with ctx.context():
        Session.objects.create(session_key=key, session_data="x", expire_date=timezone.now() - timedelta(days=1))


def _exists(ctx, key) -> bool:
    with ctx.context():
        return Session.objects.filter(session_key=key).exists()


@pytest.mark.slow
def test_task_for_one_tenant_touches_only_that_schema(committed, celery_worker):
    alpha, beta = committed
    _expired_session(alpha, "expired-alpha-1")
    _expired_session(beta, "expired-beta-1")
    try:
        clear_expired_sessions.delay(schema_name="alpha")
        wait_for(lambda: not _exists(alpha, "expired-alpha-1"))
        assert _exists(beta, "expired-beta-1")

        clear_expired_sessions_all_tenants.delay()
        wait_for(lambda: not _exists(beta, "expired-beta-1"))
    finally:
        for ctx in committed:
            with ctx.context():
                Session.objects.filter(session_key__startswith="expired-").delete()


@pytest.mark.slow
def test_tasks_for_a_suspended_tenant_do_not_run(committed, celery_worker):
    alpha, beta = committed
    _expired_session(beta, "expired-beta-2")
    _expired_session(alpha, "expired-alpha-2")
    tenant_set_active(tenant=beta.tenant, active=False, reason="test")
    try:
        clear_expired_sessions.delay(schema_name="beta")
        clear_expired_sessions.delay(schema_name="alpha")  # queued after beta's: once it ran, beta's was handled
        wait_for(lambda: not _exists(alpha, "expired-alpha-2"))
        assert _exists(beta, "expired-beta-2")
        assert b"task_skipped_inactive_tenant" in celery_worker.read_bytes()
    finally:
        tenant_set_active(tenant=beta.tenant, active=True)
        for ctx in committed:
            with ctx.context():
                Session.objects.filter(session_key__startswith="expired-").delete()
