"""Liveness and readiness checks used by /healthz and /readyz.

``/readyz?dependencies=postgresql`` checks only the dependencies named. A Kubernetes readiness probe uses it: the web
keeps serving reads and metric ingest while Redis is down (docs/reliability.md), so a Redis outage must not take
every web pod out of its Service at once, which checking Redis in the probe would do.
"""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import connection


def check_database() -> str | None:
    """Return None when PostgreSQL answers, else a short reason."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver/connection failure means "not ready"
        connection.close_if_unusable_or_obsolete()
        return f"{type(exc).__name__}"
    return None


def check_redis(url: str | None = None) -> str | None:
    """Return None when Redis answers PING within a second, else a short reason."""
    try:
        client = redis.Redis.from_url(url or settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # refused, timeout, auth: all mean "not ready"
        return f"{type(exc).__name__}"
    return None


CHECKS = {"postgresql": check_database, "redis": check_redis}


def readiness(names: list[str] | None = None) -> dict[str, str]:
    """Map each dependency (all, or those named) to "ok" or the reason it failed."""
    results = {}
    for name in names or CHECKS:
        failure = CHECKS[name]()
        results[name] = "ok" if failure is None else failure
    return results
