"""Idle and absolute session timeouts.

Django rotates the session key at login (``login()`` → ``cycle_key()``) and expires the cookie after
``SESSION_COOKIE_AGE``; it has no idle timeout and no server-side limit on a session's total age. This middleware
adds both: the login time and the last activity are kept in the session; a session idle for longer than
``SESSION_IDLE_TIMEOUT`` or older than ``SESSION_ABSOLUTE_TIMEOUT`` is logged out before the view runs. Activity is
written at most once per ``SESSION_ACTIVITY_RESOLUTION`` seconds, so an active user costs one session write a
minute, not one per request. (Hand-written: the packages that do this are unmaintained or do only one of the two.)
"""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in

LOGIN_AT = "_maestro_login_at"
SEEN_AT = "_maestro_seen_at"


def _mark_login(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        now = int(time.time())
        request.session[LOGIN_AT] = now
        request.session[SEEN_AT] = now


user_logged_in.connect(_mark_login, dispatch_uid="access:session_login_time")


def expired_reason(session, now: float) -> str | None:
    login_at = session.get(LOGIN_AT)
    seen_at = session.get(SEEN_AT)
    if login_at is None or seen_at is None:
        return "unknown_age"
    if now - login_at > settings.SESSION_ABSOLUTE_TIMEOUT:
        return "absolute_timeout"
    if now - seen_at > settings.SESSION_IDLE_TIMEOUT:
        return "idle_timeout"
    return None


class SessionTimeoutMiddleware:
    """Log out sessions past their idle or absolute timeout (placed after AuthenticationMiddleware)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        if session is not None and session.get("_auth_user_id") is not None:
            now = time.time()
            reason = expired_reason(session, now)
            if reason is not None:
                request._logout_reason = f"session_{reason}"
                logout(request)
            elif now - session[SEEN_AT] >= settings.SESSION_ACTIVITY_RESOLUTION:
                session[SEEN_AT] = int(now)
        return self.get_response(request)
