"""A suspended tenant is refused by the dashboard, the API (tenant host and platform host) and its tasks, until it
is reactivated. Uses committed data and the real Celery worker, so it is not wrapped in a test transaction."""

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.services import token_create
from apps.accounts.tasks import clear_expired_sessions
from apps.tenants.models import Tenant
from apps.tenants.services import tenant_set_active
from tests.support.celery import wait_for


def _expired_session(ctx, key: str) -> None:
    with ctx.context():
        Session.objects.create(session_key=key, session_data="x", expire_date=timezone.now() - timedelta(days=1))


def _session_exists(ctx, key: str) -> bool:
    with ctx.context():
        return Session.objects.filter(session_key=key).exists()


@pytest.mark.slow
def test_suspended_tenant_is_blocked_in_dashboard_api_and_tasks_until_reactivated(committed, celery_worker):
    alpha, beta = committed
    with alpha.context():
        admin = get_user_model().objects.get(username="admin")
        token = token_create(user=admin, name="lifecycle").plaintext
    browser = alpha.client()
    assert browser.post("/accounts/login/", {"username": "admin", "password": alpha.admin_password}).status_code == 302
    assert browser.get("/").status_code == 200
    try:
        out = StringIO()
        call_command("suspend_tenant", "alpha", "--reason", "unpaid invoice", stdout=out)
        assert "Suspended 'alpha': unpaid invoice" in out.getvalue()
        assert Tenant.objects.get(schema_name="alpha").suspended_reason == "unpaid invoice"

        dashboard = browser.get("/")
        assert dashboard.status_code == 403 and b"suspended" in dashboard.content
        on_host = alpha.api(token).get("/api/v1/me")
        assert on_host.status_code == 403 and on_host.json()["detail"] == "This organisation is suspended."
        on_platform = Client(HTTP_HOST="localhost").get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert on_platform.status_code == 403 and "admin" not in on_platform.content.decode()

        _expired_session(alpha, "lifecycle-alpha-1")
        _expired_session(beta, "lifecycle-beta-1")
        clear_expired_sessions.delay(schema_name="alpha")
        clear_expired_sessions.delay(schema_name="beta")  # queued after alpha's: once it ran, alpha's was handled
        wait_for(lambda: not _session_exists(beta, "lifecycle-beta-1"))
        assert _session_exists(alpha, "lifecycle-alpha-1")

        call_command("reactivate_tenant", "alpha", stdout=StringIO())
        assert browser.get("/").status_code == 200
        assert alpha.api(token).get("/api/v1/me").json()["username"] == "admin"
        clear_expired_sessions.delay(schema_name="alpha")
        wait_for(lambda: not _session_exists(alpha, "lifecycle-alpha-1"))
    finally:
        tenant_set_active(tenant=Tenant.objects.get(schema_name="alpha"), active=True)
        with alpha.context():
            ApiToken.objects.filter(name="lifecycle").delete()
            Session.objects.all().delete()
        with beta.context():
            Session.objects.filter(session_key__startswith="lifecycle-").delete()
