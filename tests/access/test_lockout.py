"""Login lockout by (username, address) and the per-username wait (apps.access.lockout), in-process.

Clients here differ by ``REMOTE_ADDR``; tests/access/test_lockout_live.py repeats the decisive cases against a real
gunicorn with sockets bound to different loopback addresses. Time never passes in these tests: where the rule
depends on it, the recorded attempt times are moved back instead.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import F, Sum
from django.test import RequestFactory

from apps.access.lockout import login_delay
from apps.audit.models import AuditEvent
from maestro.net import axes_client_ip

pytestmark = pytest.mark.django_db

LIMIT = settings.AXES_FAILURE_LIMIT
COOL_OFF = int(settings.AXES_COOLOFF_TIME.total_seconds())
LOGIN = "/accounts/login/"


def attempt(ctx, address: str, password: str, username: str = "admin"):
    return ctx.client().post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def failures(ctx, username: str = "admin", **filters) -> int:
    with ctx.context():
        rows = AccessAttempt.objects.filter(username=username, **filters)
        return rows.aggregate(n=Sum("failures_since_start"))["n"] or 0


def test_failures_from_one_address_lock_that_address_only(tenant_a):
    codes = [attempt(tenant_a, "127.0.0.2", f"wrong-{i}").status_code for i in range(LIMIT)]
    assert codes == [200] * (LIMIT - 1) + [429]
    owner = attempt(tenant_a, "127.0.0.3", tenant_a.admin_password)
    assert owner.status_code == 302 and owner["Location"] == "/"
    locked = attempt(tenant_a, "127.0.0.2", tenant_a.admin_password)
    assert locked.status_code == 429  # the attacker's own address stays locked, even with the right password
    assert COOL_OFF - 5 <= int(locked["Retry-After"]) <= COOL_OFF
    assert b"from your address is blocked" in locked.content
    assert failures(tenant_a, ip_address="127.0.0.3") == 0
    with tenant_a.context():
        assert AuditEvent.objects.filter(action="auth.login", actor__username="admin").exists()


def test_a_flood_from_many_addresses_makes_each_failing_address_wait_but_never_a_fresh_one(tenant_a):
    spread = LIMIT + 5
    addresses = [f"10.9.0.{i}" for i in range(1, spread + 1)]
    assert [attempt(tenant_a, a, "wrong").status_code for a in addresses] == [200] * spread  # no address locked
    assert failures(tenant_a) == spread
    delay = login_delay(spread, LIMIT)
    assert 1 < delay < COOL_OFF

    # An address that failed must wait, whatever it sends: the password is not even checked, nor counted.
    waiting = attempt(tenant_a, addresses[-1], tenant_a.admin_password)
    assert waiting.status_code == 429
    assert 1 <= int(waiting["Retry-After"]) <= delay
    assert b"Wait" in waiting.content
    assert failures(tenant_a) == spread

    # The owner, from an address with no failures for the username, logs in straight away.
    assert attempt(tenant_a, "10.9.1.1", tenant_a.admin_password).status_code == 302

    # Once the wait is over (attempt times moved back), the failing address may try again — once.
    with tenant_a.context():
        AccessAttempt.objects.filter(username="admin").update(attempt_time=F("attempt_time") - timedelta(seconds=delay))
    assert attempt(tenant_a, addresses[0], "wrong-again").status_code == 200
    assert failures(tenant_a) == spread + 1
    again = attempt(tenant_a, addresses[0], tenant_a.admin_password)
    assert again.status_code == 429
    assert int(again["Retry-After"]) > delay  # one more failure of the username: the wait doubled
    with tenant_a.context():
        AccessAttempt.objects.filter(username="admin").update(
            attempt_time=F("attempt_time") - timedelta(seconds=2 * delay)
        )
    assert attempt(tenant_a, addresses[0], tenant_a.admin_password).status_code == 302


def test_the_wait_starts_at_the_limit_doubles_per_failure_and_is_capped(settings):
    settings.MAESTRO_LOGIN_DELAY_MAX_SECONDS = 300
    assert [login_delay(n, 5) for n in range(0, 5)] == [0] * 5
    assert [login_delay(n, 5) for n in range(5, 10)] == [1, 2, 4, 8, 16]
    assert login_delay(13, 5) == 256
    assert login_delay(14, 5) == 300
    assert login_delay(10_000, 5) == 300


def test_a_few_typos_by_the_owner_are_not_slowed(tenant_a):
    codes = [attempt(tenant_a, "127.0.0.5", f"typo-{i}").status_code for i in range(LIMIT - 1)]
    assert codes == [200] * (LIMIT - 1)  # below the limit no one waits
    assert attempt(tenant_a, "127.0.0.5", tenant_a.admin_password).status_code == 302
    assert failures(tenant_a) == 0  # success clears the address's failures


def test_waiting_does_not_apply_to_other_usernames_or_tenants(tenant_a, tenant_b):
    for i in range(LIMIT + 3):
        attempt(tenant_a, f"10.8.0.{i + 1}", "wrong")
    with tenant_a.context():
        from apps.accounts.services import user_create

        user_create(username="second", password="second-user-pass-42", role="member")
    assert attempt(tenant_a, "10.8.0.1", "second-user-pass-42", username="second").status_code == 302
    assert attempt(tenant_b, "10.8.0.1", tenant_b.admin_password).status_code == 302


def test_ipv6_clients_are_counted_per_64():
    factory = RequestFactory()
    assert axes_client_ip(factory.get("/", REMOTE_ADDR="2001:db8:1:2:aaaa::1")) == "2001:db8:1:2::"
    assert axes_client_ip(factory.get("/", REMOTE_ADDR="2001:db8:1:2:ffff::9")) == "2001:db8:1:2::"
    assert axes_client_ip(factory.get("/", REMOTE_ADDR="2001:db8:1:3::1")) == "2001:db8:1:3::"
    assert axes_client_ip(factory.get("/", REMOTE_ADDR="::ffff:192.0.2.7")) == "192.0.2.7"


def test_rotating_addresses_inside_one_ipv6_64_does_not_escape_the_lockout(tenant_a):
    codes = [attempt(tenant_a, f"2001:db8:5:6::{i + 1:x}", "wrong").status_code for i in range(LIMIT)]
    assert codes[-1] == 429
    assert attempt(tenant_a, "2001:db8:5:6::ffff", tenant_a.admin_password).status_code == 429
    assert attempt(tenant_a, "2001:db8:5:7::1", tenant_a.admin_password).status_code == 302
