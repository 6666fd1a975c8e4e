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

The per-request health check (``CONN_HEALTH_CHECKS``) costs no round trip either. Django's sends ``SELECT 1`` before
the first query of every request, to find a connection the server has dropped since the last one. A server that
ends a session — restarted, or ``pg_terminate_backend`` — sends its error and closes the socket, so the idle
connection's socket turns readable; a healthy idle session receives nothing (Maestro uses no ``LISTEN``). The check
here polls the socket without waiting and reconnects when anything arrived or libpq already knows the connection is
bad. A peer gone without a word (a host lost, no packet back) is seen by neither check until TCP gives up: the
``SELECT 1`` would wait on it as the request's first query does. A query on a connection that fails answers 503
(``maestro.api.errors``), and Django closes the broken connection after the request: the next one reconnects.
"""

from __future__ import annotations

import select

import psycopg
from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantDatabaseWrapper
from django_tenants.utils import get_limit_set_calls
from psycopg import pq


class DatabaseOperations(TenantDatabaseWrapper.ops_class):
    def last_executed_query(self, cursor, sql, params):
        """The statement a debug cursor records (DEBUG, tests' query capture), values in the text. For a
        server-binding cursor (``maestro.db``) psycopg holds the text with ``$n`` placeholders, or nothing when it
        ran the statement prepared: compose it from the SQL and its parameters, as Django does when the whole
        connection binds on the server."""
        if isinstance(cursor, psycopg.ClientCursor) or sql is None:
            return super().last_executed_query(cursor, sql, params)
        try:
            return self.compose_sql(sql, params)
        except (psycopg.Error, TypeError, ValueError):
            return sql


class DatabaseWrapper(TenantDatabaseWrapper):
    ops_class = DatabaseOperations

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

    def close_if_health_check_failed(self):
        if self.connection is None or self.pool or not self.health_check_enabled or self.health_check_done:
            return
        if not self._idle_socket_is_quiet():
            self.close()
        self.health_check_done = True

    def _idle_socket_is_quiet(self) -> bool:
        """True if the idle connection is open and nothing has arrived on its socket (no round trip)."""
        pgconn = self.connection.pgconn
        if pgconn.status != pq.ConnStatus.OK:
            return False
        try:
            return not _readable(pgconn.socket)
        except (OSError, ValueError, self.Database.Error):  # no usable socket
            return False

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


def _readable(fd: int) -> bool:
    """Whether ``fd`` has input (or end of file) waiting, without waiting. ``poll`` where there is one (any number of
    descriptors); ``select`` elsewhere (Windows, whose ``select`` takes sockets)."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])
