"""Database helpers that Django's cursor API does not offer."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import Subquery
from psycopg.pq import Format


@functools.cache
def _binary_cursor_class(alias: str, vendor: str, instrumented: bool) -> type:
    """psycopg's server-binding cursor (Django's ``ServerBindingCursor``), instrumented like the connection's own
    cursors when django-prometheus instruments those (it wraps the ``cursor_factory`` it installs)."""
    from django.db.backends.postgresql.base import ServerBindingCursor

    if not instrumented:
        return ServerBindingCursor
    from django_prometheus.db.common import ExportingCursorWrapper

    return ExportingCursorWrapper(ServerBindingCursor, alias, vendor)


@contextmanager
def binary_results_cursor() -> Iterator:
    """A cursor on the default connection whose results come back in PostgreSQL's binary format.

    Django's psycopg 3 cursors bind parameters on the client and so can only read text results; a ``bytea`` then
    travels hex-encoded — twice its size, encoded by the server and decoded by psycopg. For the metric history's
    ~600 kB of packed points that costs ~3.5 ms of a ~15 ms query (measured). This cursor binds parameters on the
    server and sets psycopg's documented ``Cursor.format`` to binary. Django wraps it like any cursor (debug logging,
    query capture in tests, execute wrappers), django-prometheus counts and times its queries, and the tenant's
    ``search_path`` is set before it is used, as for any cursor.
    """
    with connection.cursor():  # opens the connection and (django-tenants) sets the current schema's search_path
        pass
    factory = connection.connection.cursor_factory
    cls = _binary_cursor_class(connection.alias, connection.vendor, factory.__module__.startswith("django_prometheus"))
    raw = cls(connection.connection)
    raw.format = Format.BINARY
    wrapped = connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
    with wrapped as cursor:
        yield cursor


@contextmanager
def server_binding() -> Iterator[None]:
    """Statements run on the default connection in this block — raw or through the ORM — bind their parameters on
    the server, so PostgreSQL can keep them prepared.

    For the fixed statements every request sends (tenant lookup, token generation, run lookup, audit event):
    planning them took ~0.35 ms of the ~1.3 ms PostgreSQL spent per ``runs/log-metric`` (docs/performance.md,
    "Prepared statements"); and for the ingest statement, whose planning cost as much again ("The ingest statement
    prepared"). Django's cursors bind parameters on the client, and psycopg prepares nothing on them;
    Django also turns psycopg's preparation off for the connection. In the block, the cursor is a server-binding one
    (Django's ``ServerBindingCursor``, instrumented like the connection's own) and the connection's
    ``prepare_threshold`` is ``MAESTRO_PREPARE_THRESHOLD``: psycopg prepares a statement once its text ran that often
    in such blocks on the connection, and uses it only in them; other server-binding statements
    (``binary_results_cursor``) keep their one-off plans.

    A prepared statement holds no schema name: PostgreSQL parses it again when the ``search_path`` differs from the
    one it was planned under, so once the routing switches tenant, the statement reads the new tenant's own tables
    (``tests/tenants/test_prepared.py``). It lives in the server session, which Maestro never shares between clients
    (poolers that share sessions are refused: ``DATABASE_POOL_MODE``, docs/tenancy.md).
    """
    connection.ensure_connection()  # the tenant's search_path is set by each cursor the block opens, as always
    raw = connection.connection
    previous, threshold = raw.cursor_factory, raw.prepare_threshold
    raw.cursor_factory = _binary_cursor_class(
        connection.alias, connection.vendor, previous.__module__.startswith("django_prometheus")
    )
    raw.prepare_threshold = settings.MAESTRO_PREPARE_THRESHOLD
    try:
        yield
    finally:
        raw.cursor_factory, raw.prepare_threshold = previous, threshold


class CompiledOnceMixin:
    """For subquery expressions on a hot path: remember the SQL of the last compilation on the (resolved) instance.

    Compiling a correlated subquery costs the same on every request although its SQL never changes: the project
    list's two JSON-array subqueries took ~1.9 ms to compile per page (bench/projects_list.py). Django's querysets
    share resolved expressions between clones, so a query built once (see ``apps.projects.selectors``) hands the
    same instances to every request, and their SQL is compiled once per process.

    The memo is only used for the very query object it was compiled from (``is``) and the same database vendor,
    template and extra context. Anything that changes the SQL — relabelling aliases when the queryset becomes a
    subquery, ``copy()``, resolving against another query — works on a clone of the inner query, so it misses the
    memo and compiles normally. The SQL holds no schema name (django-tenants routes by ``search_path``), so one
    memo serves every tenant.
    """

    def as_sql(self, compiler, connection, template=None, **extra_context):
        key = (connection.vendor, template, tuple(sorted(extra_context.items())))
        memo = self.__dict__.get("_compiled_once")
        if memo is not None and memo[0] is self.query and memo[1] == key:
            return memo[2], list(memo[3])
        sql, params = super().as_sql(compiler, connection, template, **extra_context)
        self._compiled_once = (self.query, key, sql, tuple(params))
        return sql, params


class CompiledOnceSubquery(CompiledOnceMixin, Subquery):
    """``Subquery`` whose SQL is compiled once per resolved instance (see ``CompiledOnceMixin``)."""


class CompiledOnceArraySubquery(CompiledOnceMixin, ArraySubquery):
    """``ArraySubquery`` whose SQL is compiled once per resolved instance (see ``CompiledOnceMixin``)."""
