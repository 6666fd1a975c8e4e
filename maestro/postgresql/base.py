"""The database engine: django-tenants' PostgreSQL backend, minus the ``SET search_path`` a session already has.

django-tenants (with ``TENANT_LIMIT_SET_CALLS``) issues ``SET search_path`` on the first cursor after every
``set_tenant()`` — also when the server session is already on that path. A web worker mostly serves the same tenant
request after request on one persistent connection (``CONN_MAX_AGE``), so routing paid a round trip per request to
set what was already set (bench/request_budget.py, "tenant routing").

This wrapper remembers the path the server session is known to have and skips a ``SET`` that would not change it.
What the session "is known to have" is only what a ``SET`` issued here established and nothing since could have
undone: it is forgotten on a new connection, on ``close()``, and on every rollback of a transaction or savepoint
(PostgreSQL reverts a ``SET`` with the transaction or savepoint that issued it, and the wrapper cannot tell whether
the ``SET`` was issued inside the part rolled back). Poolers in transaction or statement mode are refused at start-up
(``apps.tenants.checks``), so a client connection is one server session, as the memory assumes.
"""

from __future__ import annotations

from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantDatabaseWrapper
from django_tenants.utils import get_limit_set_calls


class DatabaseWrapper(TenantDatabaseWrapper):
    def __init__(self, *args, **kwargs):
        self.session_search_path: list[str] | None = None  # what the server session has, when known
        super().__init__(*args, **kwargs)

    def connect(self):
        self.session_search_path = None
        super().connect()

    def close(self):
        self.session_search_path = None
        super().close()

    def rollback(self):
        self.session_search_path = None
        super().rollback()

    def savepoint_rollback(self, sid):
        self.session_search_path = None
        super().savepoint_rollback(sid)

    def _handle_search_path(self, cursor=None):
        if self._setting_search_path or (get_limit_set_calls() and self.search_path_set_schemas):
            return
        if self.schema_name and self.session_search_path is not None:
            wanted = self._get_cursor_search_paths()
            if wanted == self.session_search_path:
                self.search_path_set_schemas = wanted
                return
        super()._handle_search_path(cursor)
        self.session_search_path = self.search_path_set_schemas  # None when the SET failed
