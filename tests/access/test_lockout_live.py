"""The lockout against a real gunicorn, with the attacker and the owner connecting from different loopback addresses
(127.0.0.2 and 127.0.0.3: two peers as the server sees them, no header involved). The issue this guards: six wrong
passwords for a username from one address made the right password from another answer 429 for the whole cool-off.
"""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum

from apps.access.lockout import login_delay
from apps.accounts.models import User
from apps.accounts.services import user_create
from tests.support.http import SourceBoundClient

pytestmark = pytest.mark.slow

LIMIT = settings.AXES_FAILURE_LIMIT
COOL_OFF = int(settings.AXES_COOLOFF_TIME.total_seconds())
PASSWORD = "the-owners-own-password-7"


@pytest.fixture
def owner_account(committed):
    """A committed user of tenant A (the server must see it); removed with its login records afterwards."""
    alpha = committed[0]
    username = "lockout-owner"
    with alpha.context():
        user_create(username=username, password=PASSWORD, role="owner")
    yield alpha, username
    with alpha.context():
        AccessAttempt.objects.filter(username=username).delete()
        User.objects.filter(username=username).delete()


def _client(live_server_url, ctx, source: str) -> SourceBoundClient:
    return SourceBoundClient(port=live_server_url.port, host=ctx.host, source=source)


def _failures(ctx, username: str, **filters) -> int:
    with ctx.context():
        rows = AccessAttempt.objects.filter(username=username, **filters)
        return rows.aggregate(n=Sum("failures_since_start"))["n"] or 0


def test_an_attacker_at_another_address_cannot_lock_the_owner_out(live_server_url, owner_account):
    alpha, username = owner_account
    attacker = _client(live_server_url, alpha, "127.0.0.2")
    owner = _client(live_server_url, alpha, "127.0.0.3")

    codes = [attacker.log_in(username, f"guess-{i}").status for i in range(LIMIT)]
    assert codes == [200] * (LIMIT - 1) + [429]

    # The owner, at another desk, logs in with the right password.
    reply = owner.log_in(username, PASSWORD)
    assert reply.status == 302 and reply.headers["location"] == "/"
    home = owner.request("GET", "/")
    assert home.status == 200 and username in home.body
    assert _failures(alpha, username, ip_address="127.0.0.3") == 0

    # The attacker's own address stays locked for this username, the right password included, for the cool-off.
    locked = attacker.log_in(username, PASSWORD)
    assert locked.status == 429
    assert COOL_OFF - 10 <= int(locked.headers["retry-after"]) <= COOL_OFF
    assert _failures(alpha, username, ip_address="127.0.0.2") >= LIMIT
    owner.post_form("/accounts/logout/", {})  # the session row is committed: end it


def test_failures_from_many_addresses_make_each_of_them_wait_but_not_the_owner(live_server_url, owner_account):
    alpha, username = owner_account
    # One wrong guess from each of many addresses: none of them is locked, but the username now is under attack.
    spread = LIMIT + 7
    sources = [f"127.0.1.{i}" for i in range(1, spread + 1)]
    bots = [_client(live_server_url, alpha, source) for source in sources]
    assert [bot.log_in(username, "guess").status for bot in bots] == [200] * spread
    assert _failures(alpha, username) == spread
    delay = login_delay(spread, LIMIT)
    assert 60 < delay < COOL_OFF  # long enough that the next request cannot miss the wait on a slow machine

    # An address that failed must wait before it may try again: 429 with Retry-After, the password not checked or
    # counted — the right one is refused too.
    waiting = bots[-1].log_in(username, PASSWORD)
    assert waiting.status == 429
    assert 1 <= int(waiting.headers["retry-after"]) <= delay
    assert _failures(alpha, username) == spread

    # The owner, from an address that has not failed, is not slowed at all.
    owner = _client(live_server_url, alpha, "127.0.0.3")
    reply = owner.log_in(username, PASSWORD)
    assert reply.status == 302 and reply.headers["location"] == "/"
    owner.post_form("/accounts/logout/", {})
