"""Login lockout (django-axes, per tenant schema), session key rotation, idle and absolute session timeouts.

The lockout's (username, address) rule and per-username wait: test_lockout.py and test_lockout_live.py."""

from __future__ import annotations

import logging
import time

import pytest
from axes.models import AccessAttempt
from django.conf import settings

from apps.access.sessions import LOGIN_AT, SEEN_AT
from apps.accounts.services import user_create
from apps.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

LIMIT = settings.AXES_FAILURE_LIMIT


def fail_logins(client, username: str, n: int, path: str = "/accounts/login/"):
    return [client.post(path, {"username": username, "password": f"wrong-{i}"}).status_code for i in range(n)]


def test_dashboard_login_locks_out_after_the_limit_and_logs_it(tenant_a, caplog):
    assert LIMIT <= 10
    client = tenant_a.client()
    with caplog.at_level(logging.WARNING):
        codes = fail_logins(client, "admin", LIMIT + 1)
    assert codes[: LIMIT - 1] == [200] * (LIMIT - 1)  # the form again, with an error
    assert codes[LIMIT - 1 :] == [429, 429]
    locked = client.post("/accounts/login/", {"username": "admin", "password": tenant_a.admin_password})
    assert locked.status_code == 429
    assert b"Too many failed log-in attempts" in locked.content
    with tenant_a.context():
        # filtered by username: live-server tests commit their own login events to this tenant
        lockouts = AuditEvent.objects.filter(action="auth.lockout", detail__extra__username="admin")
        assert lockouts.count() == 1  # recorded once, when the lockout starts
        assert lockouts.get().display_extra["username"] == "admin"
        failures = AuditEvent.objects.filter(action="auth.login_failed", detail__extra__username="admin")
        assert failures.count() == LIMIT + 2
        assert not AuditEvent.objects.filter(action="auth.login", actor__username="admin").exists()
    assert any(r.getMessage() == "login lockout" and r.username == "admin" for r in caplog.records)


def test_admin_login_is_protected_too(tenant_a):
    client = tenant_a.client()
    codes = fail_logins(client, "admin", LIMIT, path="/admin/login/")
    assert codes[-1] == 429
    with tenant_a.context():
        assert AccessAttempt.objects.filter(username="admin", path_info="/admin/login/").exists()


def test_a_lockout_in_one_tenant_does_not_lock_the_same_username_or_address_in_another(tenant_a, tenant_b):
    fail_logins(tenant_a.client(), "admin", LIMIT)
    assert tenant_a.client().post("/accounts/login/", {"username": "admin", "password": tenant_a.admin_password}
                                  ).status_code == 429  # fmt: skip
    response = tenant_b.client().post("/accounts/login/", {"username": "admin", "password": tenant_b.admin_password})
    assert response.status_code == 302
    with tenant_b.context():
        assert not AccessAttempt.objects.exists()


def test_success_resets_the_failure_count(tenant_a):
    client = tenant_a.client()
    fail_logins(client, "admin", LIMIT - 1)
    assert (
        client.post("/accounts/login/", {"username": "admin", "password": tenant_a.admin_password}).status_code == 302
    )
    client.post("/accounts/logout/")
    assert fail_logins(client, "admin", LIMIT - 1) == [200] * (LIMIT - 1)


def test_session_key_rotates_at_login(tenant_a):
    client = tenant_a.client()
    client.get("/accounts/login/")
    client.post("/accounts/login/", {"username": "admin", "password": "nope"})
    anonymous_key = client.session.session_key
    assert anonymous_key
    client.post("/accounts/login/", {"username": "admin", "password": tenant_a.admin_password})
    assert client.session.session_key != anonymous_key
    assert client.get("/").status_code == 200


def _logged_in(ctx):
    client = ctx.client()
    assert client.post("/accounts/login/", {"username": "admin", "password": ctx.admin_password}).status_code == 302
    return client


def _age_session(client, **seconds_ago):
    session = client.session
    now = time.time()
    for key, ago in seconds_ago.items():
        session[key] = int(now - ago)
    session.save()


def test_idle_sessions_are_logged_out(tenant_a, settings):
    client = _logged_in(tenant_a)
    _age_session(client, **{SEEN_AT: settings.SESSION_IDLE_TIMEOUT - 30})
    assert client.get("/").status_code == 200
    _age_session(client, **{SEEN_AT: settings.SESSION_IDLE_TIMEOUT + 5})
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    with tenant_a.context():
        event = AuditEvent.objects.filter(action="auth.logout").latest("id")
    assert event.extra["reason"] == "session_idle_timeout"
    assert (event.actor_username, event.ip, event.source) == ("admin", "127.0.0.1", "dashboard")
    assert event.request_id


def test_absolute_timeout_ends_even_active_sessions(tenant_a, settings):
    client = _logged_in(tenant_a)
    _age_session(client, **{LOGIN_AT: settings.SESSION_ABSOLUTE_TIMEOUT + 5, SEEN_AT: 1})
    response = client.get("/")
    assert response.status_code == 302
    with tenant_a.context():
        assert AuditEvent.objects.filter(action="auth.logout").latest("id").extra["reason"] == (
            "session_absolute_timeout"
        )


def test_activity_is_recorded_at_most_once_per_resolution(tenant_a, settings):
    client = _logged_in(tenant_a)
    _age_session(client, **{SEEN_AT: settings.SESSION_ACTIVITY_RESOLUTION + 1})
    client.get("/")
    refreshed = client.session[SEEN_AT]
    assert time.time() - refreshed < 5
    client.get("/")
    assert client.session[SEEN_AT] == refreshed


def test_session_timeouts_apply_to_the_api_too(tenant_a, settings):
    client = _logged_in(tenant_a)
    assert client.get("/api/v1/me").status_code == 200
    _age_session(client, **{SEEN_AT: settings.SESSION_IDLE_TIMEOUT + 5})
    assert client.get("/api/v1/me").status_code in (401, 403)


def test_service_accounts_cannot_log_in_with_a_password(tenant_a):
    with tenant_a.context():
        user_create(username="robot", is_service_account=True, password="whatever-long-pass-1")
    response = tenant_a.client().post("/accounts/login/", {"username": "robot", "password": "whatever-long-pass-1"})
    assert response.status_code == 200  # the form again


def test_an_admin_can_lift_a_lockout_with_the_documented_command(tenant_a):
    from django.core.management import call_command

    client = tenant_a.client()
    fail_logins(client, "admin", LIMIT)
    good = {"username": "admin", "password": tenant_a.admin_password}
    assert client.post("/accounts/login/", good).status_code == 429
    call_command("tenant_command", "axes_reset_username", "admin", schema="beta")  # the other tenant: no effect
    assert client.post("/accounts/login/", good).status_code == 429
    call_command("tenant_command", "axes_reset_username", "admin", schema="alpha")
    assert client.post("/accounts/login/", good).status_code == 302


def test_lockout_uses_the_same_unspoofable_client_address(tenant_a, settings):
    client = tenant_a.client()
    client.post("/accounts/login/", {"username": "ghost", "password": "x"}, HTTP_X_FORWARDED_FOR="1.2.3.4")
    settings.MAESTRO_TRUSTED_PROXY_COUNT = 1
    client.post("/accounts/login/", {"username": "ghost2", "password": "x"}, HTTP_X_FORWARDED_FOR="5.6.7.8")
    with tenant_a.context():
        assert AccessAttempt.objects.get(username="ghost").ip_address == "127.0.0.1"
        assert AccessAttempt.objects.get(username="ghost2").ip_address == "5.6.7.8"
        assert AuditEvent.objects.filter(action="auth.login_failed").latest("id").ip == "5.6.7.8"


def test_password_change_guesses_count_towards_the_lockout(tenant_a):
    client = _logged_in(tenant_a)
    new = "a-brand-new-password-42"
    codes = [
        client.post("/accounts/password/", {"old_password": f"guess-{i}", "new_password1": new, "new_password2": new}
                    ).status_code
        for i in range(LIMIT)
    ]  # fmt: skip
    assert codes[:-1] == [200] * (LIMIT - 1) and codes[-1] == 429
    right = {"old_password": tenant_a.admin_password, "new_password1": new, "new_password2": new}
    assert client.post("/accounts/password/", right).status_code == 429  # locked, even with the right password
    with tenant_a.context():
        failures = AuditEvent.objects.filter(action="auth.login_failed", detail__extra__username="admin")
        assert failures.count() == LIMIT + 1
        assert AuditEvent.objects.filter(action="auth.lockout", detail__extra__username="admin").count() == 1
