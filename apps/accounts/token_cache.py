"""Hot path: an in-process cache of API-token lookups, checked against the tenant's authentication generation.

Why: every API request authenticates its Bearer token. Done with the ORM each time (the token row joined with its
user, two model instances built), that was the largest stage of the fixed cost of a request — 1.2-1.5 ms of the
3.7-8.2 ms Python CPU of ``GET /api/v1/me`` and ``runs/log-metric`` (``bench/request_budget.py``, issue 24, whose
targets — ``GET /api/v1/me`` ≤ 2 ms server CPU p50, single ``log-metric`` ≥ 3× ``mlflow server`` — need it; the
gain measured is in docs/performance.md, "Per-request budget").

What is cached: the column values of the token row and of its user (never the instances — each request gets fresh
ones, so nothing one request sets on ``request.user`` reaches another), keyed by (tenant id, schema, token prefix),
so one tenant's entry can never answer for another (a schema dropped and created again gets a new tenant id). The
secret is still compared with the stored hash, and revocation/expiry/``is_active`` still checked, on every request.

Why it is never stale: each tenant schema holds one ``AuthGeneration`` row that PostgreSQL triggers set to a new
random value in the same transaction as any change to a user or to a token's authentication columns (migration
``accounts/0003_auth_generation``, which says why random), whatever made the change — a service, the admin,
``QuerySet.update``, raw SQL or a TRUNCATE.
Every request reads that one-row table (far cheaper than the lookup it replaces) and uses a cached
entry only if it was stored under the same generation. So a revoked token, a deactivated user or a changed role is
refused by every process on the first request that starts after the change commits — the same bound as without the
cache. Entries also expire after ``MAESTRO_AUTH_CACHE_SECONDS`` (a bound on memory, not on correctness), and the
cache holds at most ``MAESTRO_AUTH_CACHE_ENTRIES`` entries per process. ``MAESTRO_AUTH_CACHE_SECONDS = 0`` turns it
off.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection

from apps.accounts.models import ApiToken, AuthGeneration
from maestro.db import server_binding

_TOKEN_FIELDS = [f.attname for f in ApiToken._meta.concrete_fields]
_GENERATION_SQL = f"SELECT value FROM {connection.ops.quote_name(AuthGeneration._meta.db_table)}"  # noqa: S608


def _user_fields() -> list[str]:
    return [f.attname for f in get_user_model()._meta.concrete_fields]


@dataclass
class _Entry:
    generation: int
    stored: float
    token_values: tuple
    user_values: tuple


class TokenCache:
    """Token lookups of this process (module-level ``tokens``); thread-safe for threaded servers."""

    def __init__(self):
        self._entries: dict[tuple[int, str, str], _Entry] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def lookup(self, prefix: str) -> ApiToken | None:
        """The token with ``prefix`` in the current tenant schema, its ``user`` loaded; None if there is none."""
        ttl = settings.MAESTRO_AUTH_CACHE_SECONDS
        if ttl <= 0:
            return _from_database(prefix)
        generation = _generation()
        if generation is None:  # the counter row is missing (e.g. a test database flushed): no caching
            return _from_database(prefix)
        key = (getattr(connection.tenant, "pk", 0), connection.schema_name, prefix)
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry.generation == generation and now - entry.stored < ttl:
            return _build(entry)
        token = _from_database(prefix)
        if token is None:
            return None
        user_values = tuple(getattr(token.user, name) for name in _user_fields())
        token_values = tuple(getattr(token, name) for name in _TOKEN_FIELDS)
        with self._lock:
            if len(self._entries) >= settings.MAESTRO_AUTH_CACHE_ENTRIES:
                self._entries.clear()
            # Stored under the generation read before the lookup: a change committed in between bumps it again.
            self._entries[key] = _Entry(generation, now, token_values, user_values)
        return token

    def note_last_used(self, token: ApiToken) -> None:
        """Keep the cached ``last_used_at`` in step, so the once-per-window stamp is not repeated every request."""
        key = (getattr(connection.tenant, "pk", 0), connection.schema_name, token.prefix)
        entry = self._entries.get(key)
        if entry is not None:
            values = list(entry.token_values)
            values[_TOKEN_FIELDS.index("last_used_at")] = token.last_used_at
            entry.token_values = tuple(values)


def _generation() -> int | None:
    """The current schema's generation: one row, read with a plain cursor (the ORM's query building would cost a
    third of what the cache saves), kept prepared (``server_binding``)."""
    with server_binding(), connection.cursor() as cursor:
        cursor.execute(_GENERATION_SQL)
        row = cursor.fetchone()
    return None if row is None else row[0]


def _from_database(prefix: str) -> ApiToken | None:
    return ApiToken.objects.select_related("user").filter(prefix=prefix).first()


def _build(entry: _Entry) -> ApiToken:
    db = connection.alias
    user = get_user_model().from_db(db, _user_fields(), entry.user_values)
    token = ApiToken.from_db(db, _TOKEN_FIELDS, entry.token_values)
    token.user = user
    return token


tokens = TokenCache()
