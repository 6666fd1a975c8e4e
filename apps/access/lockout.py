"""Login lockout: per (username, address), plus a growing per-username wait that nobody elsewhere can turn into a
lockout of the real user.

Locking by username alone (or by address alone) lets anyone lock the owner out: six wrong passwords for ``admin``
from anywhere, and the right password from the owner's desk answers 429 for the whole cool-off. So django-axes locks
the *combination*: ``AXES_FAILURE_LIMIT`` failures for one username from one address lock that username for that
address only (``AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]``).

That alone would make guessing one username cheap for an attacker with many addresses, so the username's failures
from *all* addresses also count (the same axes rows, summed; no second store, so Redis is not needed to log in):

* while a username has at least ``AXES_FAILURE_LIMIT`` failures within the cool-off, an address that has itself
  failed for it must wait before its next attempt: 1 s after its last attempt at the limit, doubling with every
  further failure of the username, capped at ``MAESTRO_LOGIN_DELAY_MAX_SECONDS``;
* an attempt made before the wait is over answers 429 with ``Retry-After`` without checking the password (so it
  tells nothing and is not counted);
* an address with no failures for the username is never made to wait: the owner typing the right password from
  where they are gets in, however many failures arrive from elsewhere. At worst an attack makes the owner's own
  second try (after a typo) wait up to the cap; it can never lock them out.

The check and the reservation of the next attempt happen under a row lock on the address's own rows, so parallel
requests from one address cannot all slip through when the wait ends. IPv6 clients are counted per /64
(``maestro.net.axes_client_ip``), since one subscriber usually holds a whole /64.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db import transaction
from django.db.models import Max, Sum
from django.shortcuts import render
from django.utils import timezone

FIRST_DELAY_SECONDS = 1
_CLAIMED = "_maestro_login_wait"  # request attribute: seconds to wait (0: may try), set once per request


def login_delay(username_failures: int, limit: int) -> int:
    """Seconds an address that has failed for a username must leave between its attempts, given the username's
    failures from all addresses within the cool-off (0 below the limit)."""
    if username_failures < limit:
        return 0
    exponent = min(username_failures - limit, 32)  # 2**32 s is past any cap; keeps the number small
    return min(FIRST_DELAY_SECONDS * 2**exponent, settings.MAESTRO_LOGIN_DELAY_MAX_SECONDS)


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


class LoginAttemptHandler(AxesDatabaseHandler):
    """django-axes' database handler (``AXES_HANDLER``) with the per-username wait of the module docstring."""

    def is_locked(self, request, credentials: dict | None = None) -> bool:
        if super().is_locked(request, credentials):
            return True
        return self._claim(request, credentials) > 0

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        if request is not None and getattr(request, _CLAIMED, 0) > 0:
            # Refused before the password was checked: not a failure, so neither counted nor extending the wait.
            request.axes_locked_out = True
            request.axes_credentials = credentials
            return
        super().user_login_failed(sender, credentials, request, **kwargs)

    def _claim(self, request, credentials: dict | None) -> int:
        """Seconds this request must wait (0: it may try now, and the address's next attempt waits again)."""
        if hasattr(request, _CLAIMED):
            return getattr(request, _CLAIMED)
        wait = 0
        username = get_client_username(request, credentials)
        cool_off = get_cool_off(request)
        if username and cool_off is not None:
            now = timezone.now()
            recent = AccessAttempt.objects.filter(username=username, attempt_time__gte=now - cool_off)
            total = recent.aggregate(n=Sum("failures_since_start"))["n"] or 0
            delay = login_delay(total, get_failure_limit(request, credentials))
            if delay:
                with transaction.atomic():
                    own = list(recent.filter(ip_address=request.axes_ip_address).select_for_update().order_by("pk"))
                    if own:
                        ready_at = max(row.attempt_time for row in own) + timedelta(seconds=delay)
                        if now < ready_at:
                            wait = _seconds_until(ready_at, now)
                        else:
                            AccessAttempt.objects.filter(pk__in=[row.pk for row in own]).update(attempt_time=now)
        setattr(request, _CLAIMED, wait)
        return wait


def lockout_response(request, original_response=None, credentials: dict | None = None):
    """``AXES_LOCKOUT_CALLABLE``: 429 with ``Retry-After`` — the rest of the wait, or of the cool-off when this
    username is locked for this address."""
    wait = getattr(request, _CLAIMED, 0)
    locked = wait == 0
    if locked:
        username = get_client_username(request, credentials)
        cool_off = get_cool_off(request) or timedelta(0)
        last = AccessAttempt.objects.filter(username=username, ip_address=request.axes_ip_address).aggregate(
            last=Max("attempt_time")
        )["last"]
        now = timezone.now()
        wait = _seconds_until((last or now) + cool_off, now)
    context = {"locked": locked, "wait_seconds": wait, "wait_minutes": math.ceil(wait / 60)}
    response = render(request, settings.AXES_LOCKOUT_TEMPLATE, context, status=settings.AXES_HTTP_RESPONSE_CODE)
    response["Retry-After"] = str(wait)
    return response
