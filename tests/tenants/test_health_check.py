"""The per-request connection health check (``maestro.postgresql``): no round trip for a healthy connection, and a
session the server ended between two requests is replaced before the next request's first query."""

import time

import psycopg
from django.db import connection


def _request_boundary() -> None:
    """What Django does when a request starts (``close_old_connections``): the next query is health-checked. The
    connection is kept as production keeps it (``CONN_MAX_AGE`` not yet reached)."""
    connection.close_at = None
    connection.close_if_unusable_or_obsolete()
    assert connection.connection is not None
    assert connection.health_check_done is False


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_health_checks_are_on(committed):
    connection.ensure_connection()
    assert connection.health_check_enabled is True


def test_a_healthy_connection_is_checked_without_a_round_trip(committed, tmp_path):
    """libpq's own trace of what the client sends: the request's first query, and no ``SELECT 1`` before it."""
    _backend_pid()
    trace = tmp_path / "libpq.trace"
    with trace.open("w") as out:
        _request_boundary()
        connection.connection.pgconn.trace(out.fileno())
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 42")
                assert cursor.fetchone() == (42,)
        finally:
            connection.connection.pgconn.untrace()
    sent = [line for line in trace.read_text().splitlines() if "\tF\t" in line and "Query" in line]
    assert len(sent) == 1 and "SELECT 42" in sent[0], sent
    assert connection.health_check_done is True


def _terminate(pid: int) -> None:
    from django.conf import settings

    db = settings.DATABASES["default"]
    params = {"dbname": db["NAME"], "user": db["USER"], "password": db["PASSWORD"], "host": db["HOST"],
              "port": db["PORT"] or None}  # fmt: skip
    with psycopg.connect(autocommit=True, **{k: v for k, v in params.items() if v}) as other:
        # Returns once the backend has exited, its goodbye sent.
        assert other.execute("SELECT pg_terminate_backend(%s, 5000)", [pid]).fetchone() == (True,)


def test_a_session_the_server_ended_is_replaced_before_the_next_requests_first_query(committed):
    """Without a health check this first query fails (``the connection is closed``): a 503 after every restart."""
    old = _backend_pid()
    _terminate(old)
    time.sleep(0.2)  # the goodbye crosses the loopback
    _request_boundary()
    new = _backend_pid()  # no error: reconnected first
    assert new != old
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [old])
        assert cursor.fetchone()[0] == 0


def test_without_poll_the_check_falls_back_to_select(committed, monkeypatch):
    """Platforms without ``select.poll`` (Windows) use ``select.select``: a healthy connection still passes, a
    terminated one is still replaced."""
    import select

    monkeypatch.delattr(select, "poll")
    _backend_pid()
    assert connection._idle_socket_is_quiet() is True
    old = _backend_pid()
    _terminate(old)
    time.sleep(0.2)
    assert connection._idle_socket_is_quiet() is False
    _request_boundary()
    assert _backend_pid() != old
