"""Rate limits in Redis, per user (or client IP when anonymous) and per tenant, with separate scopes.

Scopes: ``read`` (safe methods), ``write`` (other methods), ``ingest`` (batch logging; views declare
``throttle_scope = "ingest"`` or ``throttle_scopes = {"log_batch": "ingest"}`` per viewset action), ``anon``
(anonymous requests, by client IP) and ``auth_failure`` (failed token authentications, by client IP).

Limits come from the tenant's plan (``MAESTRO_RATE_LIMIT_PLANS[tenant.plan]``) with per-tenant overrides in
``Tenant.rate_limits``; each authenticated request counts once against its user's limit and once against its
tenant's. Counting uses the ``limits`` library's sliding-window counter, so parallel requests on any number of
processes cannot overshoot a limit. A request's limits (user and tenant) are counted by one Lua script in one round
trip (``_HIT_ALL``): the library's algorithm on the library's keys, for every limit at once, all or none — a request
refused by one limit counts against none (with one library call per limit, a request the tenant's limit refused had
already used up one of the user's). The library still reads the windows (``Retry-After``) and resets them.

When Redis cannot be reached: with ``MAESTRO_RATE_LIMIT_FAIL_OPEN = True`` (default) requests are served
unlimited and a warning is logged (authentication, permissions and login lockouts do not depend on Redis); with
False they are refused with 503 and ``Retry-After``. Either way there is no 500, and after a failure Redis is not
tried again for ``MAESTRO_RATE_LIMIT_RETRY_SECONDS`` so requests do not each wait for a socket timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter
from redis.commands.core import Script
from redis.exceptions import RedisError
from rest_framework import exceptions, status
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle

from maestro.net import client_ip

logger = logging.getLogger("maestro.ratelimit")

READ, WRITE, INGEST, ANON, AUTH_FAILURE = "read", "write", "ingest", "anon", "auth_failure"
TENANT_SCOPES = (READ, WRITE, INGEST)
IP_SCOPES = (ANON, AUTH_FAILURE)


class RateLimitUnavailable(exceptions.APIException):
    """503 when limits cannot be checked and the configuration says to refuse rather than serve unlimited."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Rate limiting is unavailable; try again shortly."
    default_code = "rate_limit_unavailable"

    def __init__(self, wait: int):
        super().__init__()
        self.wait = wait  # DRF's exception handler turns this into Retry-After


class Throttled(exceptions.Throttled):
    def __init__(self, wait: float, scope: str, level: str):
        super().__init__(wait=wait, detail=f"Request limit for '{scope}' reached ({level}).")


# The sliding-window counter of the ``limits`` library (its ``acquire_sliding_window`` script, times in milliseconds),
# for several limits in one atomic call: each limit's current window is rotated into the previous one when it has
# expired, its weighted count (the previous window's count scaled by the share of it still inside the sliding window,
# plus the current window's) is checked, and only when every limit allows ARGV[1] more are all current windows
# counted. Returns 0, or the 1-based position of the first limit that refuses. KEYS: (previous, current) per limit,
# the library's own key names (``_window_keys``), so its ``get_window_stats`` and ``clear`` read and reset the same
# counters. ARGV: amount, then (limit, expiry in seconds) per limit. Not for Redis Cluster: the keys of one request's
# limits hash to different slots (Maestro runs on one Redis server, with or without replicas).
_HIT_ALL = """
local amount = tonumber(ARGV[1])
local limits = #KEYS / 2
for i = 1, limits do
    local previous, current = KEYS[2 * i - 1], KEYS[2 * i]
    local limit, expiry = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1]) * 1000
    if amount > limit then
        return i
    end
    local current_ttl = tonumber(redis.call('pttl', current))
    if current_ttl > 0 and current_ttl < expiry then
        redis.call('rename', current, previous)
        redis.call('set', current, 0, 'PX', current_ttl + expiry)
    end
    local previous_count = tonumber(redis.call('get', previous)) or 0
    local previous_ttl = math.max(tonumber(redis.call('pttl', previous)) or 0, 0)
    local current_count = tonumber(redis.call('get', current)) or 0
    if math.floor(previous_count * previous_ttl / expiry) + current_count + amount > limit then
        return i
    end
end
for i = 1, limits do
    local current, expiry = KEYS[2 * i], tonumber(ARGV[2 * i + 1]) * 1000
    if redis.call('exists', current) == 1 then
        redis.call('incrby', current, amount)
    else
        redis.call('set', current, amount, 'PX', expiry * 2)
    end
end
return 0
"""


def _window_keys(storage: RedisStorage, key: str) -> tuple[str, str]:
    """The (previous, current) window keys the library stores ``key``'s sliding-window counter under (its own
    naming, so both read the same counters; tests/access/test_throttling.py checks the two agree)."""
    return (
        storage.prefixed_key(storage._previous_window_key(key)),
        storage.prefixed_key(storage._current_window_key(key)),
    )


@dataclass(frozen=True)
class Limits:
    user: RateLimitItem | None
    tenant: RateLimitItem | None


class _Limiter:
    """One Redis storage per URL; a circuit breaker remembers failures per process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._instances: dict[str, tuple[SlidingWindowCounterRateLimiter, Script]] = {}
        self.down_until = 0.0

    def _current(self) -> tuple[SlidingWindowCounterRateLimiter, Script]:
        url, prefix = settings.MAESTRO_RATE_LIMIT_REDIS_URL, settings.MAESTRO_RATE_LIMIT_KEY_PREFIX
        timeout = settings.MAESTRO_RATE_LIMIT_SOCKET_TIMEOUT
        key = f"{url}|{prefix}|{timeout}"
        with self._lock:
            if key not in self._instances:
                storage = RedisStorage(
                    url, key_prefix=prefix, wrap_exceptions=True, socket_timeout=timeout, socket_connect_timeout=timeout
                )
                script = storage.get_connection().register_script(_HIT_ALL)
                self._instances[key] = (SlidingWindowCounterRateLimiter(storage), script)
            return self._instances[key]

    def get(self) -> SlidingWindowCounterRateLimiter:
        return self._current()[0]

    def hit_all(self, checks: list[tuple[RateLimitItem, tuple[str, ...], str, str]]) -> int | None:
        """Count one request against every limit of ``checks`` if all allow it; else the index of the first that
        refuses, nothing counted. Raises RedisError (or OSError) if Redis fails."""
        active, script = self._current()
        keys, args = [], [1]
        for item, identifiers, _scope, _level in checks:
            keys.extend(_window_keys(active.storage, item.key_for(*identifiers)))
            args.extend([item.amount, item.get_expiry()])
        refused = int(script(keys=keys, args=args))
        return None if refused == 0 else refused - 1

    def reset(self) -> None:
        with self._lock:
            self._instances.clear()
            self.down_until = 0.0


limiter = _Limiter()


def _parse(value: str | None) -> RateLimitItem | None:
    return parse(value) if value else None


def plan_limits(tenant) -> dict[str, dict[str, str | None]]:
    """The effective limits of ``tenant`` per scope: its plan's, overridden by ``tenant.rate_limits``."""
    plans = settings.MAESTRO_RATE_LIMIT_PLANS
    plan = (
        plans.get(getattr(tenant, "plan", None) or settings.MAESTRO_RATE_LIMIT_DEFAULT_PLAN)
        or plans[settings.MAESTRO_RATE_LIMIT_DEFAULT_PLAN]
    )
    overrides = getattr(tenant, "rate_limits", None) or {}
    return {scope: {**plan.get(scope, {}), **(overrides.get(scope) or {})} for scope in TENANT_SCOPES}


def validate_rate_limits(value) -> list[str]:
    """Problems in a ``Tenant.rate_limits`` override, each naming its key (empty when valid)."""
    problems = []
    if not isinstance(value, dict):
        return ['rate_limits: must be an object like {"read": {"user": "600/minute"}}']
    for scope, entry in value.items():
        if scope not in TENANT_SCOPES:
            problems.append(f"rate_limits.{scope}: unknown scope; use {', '.join(TENANT_SCOPES)}")
            continue
        if not isinstance(entry, dict):
            problems.append(f"rate_limits.{scope}: must be an object with 'user' and/or 'tenant'")
            continue
        for level, rate in entry.items():
            if level not in ("user", "tenant"):
                problems.append(f"rate_limits.{scope}.{level}: unknown level; use 'user' or 'tenant'")
                continue
            try:
                if rate is not None:
                    parse(rate)
            except (ValueError, TypeError):
                problems.append(f"rate_limits.{scope}.{level}: '{rate}' is not a rate like '600/minute'")
    return problems


def scope_of(request, view) -> str:
    """The throttle scope: the view's declaration (per viewset action, then per view), else read/write."""
    per_action = getattr(view, "throttle_scopes", None) or {}
    declared = per_action.get(getattr(view, "action", None)) or getattr(view, "throttle_scope", None)
    if declared:
        return declared
    return READ if request.method in SAFE_METHODS else WRITE


def _wait(item: RateLimitItem, *identifiers: str) -> float:
    """Seconds until ``item`` would allow one more request (at least 1). Raises StorageError if Redis fails."""
    stats = limiter.get().get_window_stats(item, *identifiers)
    return max(1.0, stats.reset_time - time.time())


def _unavailable(exc: Exception) -> None:
    retry = settings.MAESTRO_RATE_LIMIT_RETRY_SECONDS
    limiter.down_until = time.monotonic() + retry
    logger.warning("rate limiter unavailable", extra={"error": str(exc)[:200], "fail_open": _fail_open()})


def _fail_open() -> bool:
    return settings.MAESTRO_RATE_LIMIT_FAIL_OPEN


def _check(checks: list[tuple[RateLimitItem, tuple[str, ...], str, str]]) -> None:
    if not settings.MAESTRO_RATE_LIMIT_ENABLED or not checks:
        return
    if time.monotonic() < limiter.down_until:
        if _fail_open():
            return
        raise RateLimitUnavailable(wait=settings.MAESTRO_RATE_LIMIT_RETRY_SECONDS)
    try:
        refused = limiter.hit_all(checks)
        if refused is not None:
            item, identifiers, scope, level = checks[refused]
            raise Throttled(_wait(item, *identifiers), scope, level)
    except (StorageError, RedisError, OSError) as exc:
        _unavailable(exc)
        if not _fail_open():
            raise RateLimitUnavailable(wait=settings.MAESTRO_RATE_LIMIT_RETRY_SECONDS) from exc


def enforce(request, view) -> None:
    """Count ``request`` against its limits (once per request); raise Throttled (429) when one is exceeded."""
    if getattr(request, "_maestro_rate_counted", False):
        return
    request._maestro_rate_counted = True
    schema = connection.schema_name
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        declared = scope_of(request, view)
        if getattr(view, "throttle_scope", None) in TENANT_SCOPES and declared in TENANT_SCOPES:
            # Machine-to-machine endpoints without a user (webhooks): the tenant's limit of the declared scope.
            tenant_item = _parse(plan_limits(getattr(request, "tenant", None)).get(declared, {}).get("tenant"))
            if tenant_item is not None:
                _check([(tenant_item, (schema, declared, "tenant"), declared, "per organisation")])
            return
        item = _parse(settings.MAESTRO_RATE_LIMIT_ANON)
        if item is not None:
            _check([(item, (schema, ANON, f"ip:{client_ip(request)}"), ANON, "per client address")])
        return
    scope = scope_of(request, view)
    configured = plan_limits(getattr(request, "tenant", None)).get(scope, {})
    checks = []
    user_item = _parse(configured.get("user"))
    if user_item is not None:
        checks.append((user_item, (schema, scope, f"u:{user.pk}"), scope, "per user"))
    tenant_item = _parse(configured.get("tenant"))
    if tenant_item is not None:
        checks.append((tenant_item, (schema, scope, "tenant"), scope, "per organisation"))
    _check(checks)


def note_auth_failure(request) -> None:
    """Count a failed authentication from the client's address; raise Throttled once there were too many."""
    item = _parse(settings.MAESTRO_RATE_LIMIT_AUTH_FAILURES)
    if item is not None:
        _check(
            [
                (
                    item,
                    (connection.schema_name, AUTH_FAILURE, f"ip:{client_ip(request)}"),
                    AUTH_FAILURE,
                    "failed authentications per client address",
                )
            ]
        )


class RateLimitThrottle(BaseThrottle):
    """DRF throttle for views that do not use AccessPolicy (e.g. the public schema views); AccessPolicy counts its
    requests earlier, before deciding, so refused requests are limited too. A request is never counted twice."""

    def allow_request(self, request, view) -> bool:
        enforce(request, view)
        return True
