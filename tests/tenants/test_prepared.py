"""Fixed statements every request sends run on server-binding cursors (``maestro.db.server_binding``), which psycopg
keeps prepared on the session. A prepared statement names no schema: these tests show PostgreSQL parses it again
under the next tenant's ``search_path``, so a statement prepared while serving one tenant never reads another's
tables — and that the statements are really prepared (otherwise the first test would prove nothing)."""

import uuid

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection

from apps.accounts import token_cache
from apps.metrics import services as metric_services
from apps.metrics.models import MetricPoint
from apps.metrics.validation import LogBatch
from apps.mlflow_api import selectors
from maestro.db import server_binding
from tests.metrics.factories import RunFactory

RUNS = 'FROM "metrics_run" INNER JOIN "projects_project"'


def _prepared(fragment: str) -> list[str]:
    """Statements prepared on this session whose text contains ``fragment``."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{fragment}%"])
        return [row[0] for row in cursor.fetchall()]


def _admin(ctx):
    return get_user_model().objects.get(username=ctx.admin_username)


@pytest.mark.django_db
def test_a_prepared_run_lookup_reads_the_current_tenants_table(tenant_a, tenant_b):
    """The same run id in both tenants, with different names: the lookup, prepared while tenant A is current, finds
    B's run once B is current, and A's again after."""
    shared = uuid.uuid4()
    with tenant_a.context():
        RunFactory(uuid=shared, name="A's run")
    with tenant_b.context():
        RunFactory(uuid=shared, name="B's run")
    threshold = settings.MAESTRO_PREPARE_THRESHOLD
    with tenant_a.context():
        admin = _admin(tenant_a)
        for _ in range(threshold + 2):
            assert selectors.run_for_logging(user=admin, run_id=shared.hex).name == "A's run"
        assert len(_prepared(RUNS)) == 1
    with tenant_b.context():
        admin = _admin(tenant_b)
        assert selectors.run_for_logging(user=admin, run_id=shared.hex).name == "B's run"
        assert len(_prepared(RUNS)) == 1  # the same prepared statement, parsed again for B's path
    with tenant_a.context():
        assert selectors.run_for_logging(user=_admin(tenant_a), run_id=shared.hex).name == "A's run"


@pytest.mark.django_db
def test_a_prepared_generation_read_follows_the_tenant(tenant_a, tenant_b):
    """The token cache's generation read (the revocation check of every request) is prepared too, and reads the
    current tenant's row: a change in B moves B's generation, not A's."""
    with tenant_a.context():
        for _ in range(settings.MAESTRO_PREPARE_THRESHOLD + 1):
            before_a = token_cache._generation()
        assert _prepared('SELECT value FROM "accounts_authgeneration"')
    with tenant_b.context():
        before_b = token_cache._generation()
        get_user_model().objects.filter(username=tenant_b.admin_username).update(first_name="Renamed")
        after_b = token_cache._generation()
    with tenant_a.context():
        assert token_cache._generation() == before_a
    assert after_b != before_b


def _one_point(step: int, value: float) -> LogBatch:
    return LogBatch(metric_keys=["loss"], metric_values=[value], metric_steps=[step], metric_timestamps=[step])


@pytest.mark.django_db
def test_the_prepared_ingest_statement_writes_the_current_tenants_points(tenant_a, tenant_b):
    """Both tenants hold a run with the same primary key (the ingest statement's only reference to its run). Prepared
    while A is current, the statement writes B's points into B's tables once B is current, and A's into A's after;
    the retry form (a batch repeating a stored point) is prepared as well and stays in the tenant too."""
    run_pk = 7_000_000 + uuid.uuid4().int % 1_000_000
    with tenant_a.context():
        run_a = RunFactory(id=run_pk)
    with tenant_b.context():
        run_b = RunFactory(id=run_pk)
    threshold = settings.MAESTRO_PREPARE_THRESHOLD
    with tenant_a.context():
        for step in range(threshold + 2):
            assert metric_services.run_log_batch(run=run_a, batch=_one_point(step, 1.0)).metrics_written == 1
        assert len(_prepared("INSERT INTO metrics_metricpoint")) == 1
    with tenant_b.context():
        for step in range(threshold + 2):  # new points, then the same ones again: the skipping form
            assert metric_services.run_log_batch(run=run_b, batch=_one_point(step, 2.0)).metrics_written == 1
        for step in range(threshold + 2):
            assert metric_services.run_log_batch(run=run_b, batch=_one_point(step, 2.0)).metrics_written == 0
        assert len(_prepared("INSERT INTO metrics_metricpoint")) == 2  # one per form, each parsed again for B
        assert sorted(MetricPoint.objects.filter(run_id=run_pk).values_list("value", flat=True)) == [2.0] * (
            threshold + 2
        )
    with tenant_a.context():
        metric_services.run_log_batch(run=run_a, batch=_one_point(99, 1.0))
        assert sorted(MetricPoint.objects.filter(run_id=run_pk).values_list("value", flat=True)) == [1.0] * (
            threshold + 3
        )


@pytest.mark.django_db
def test_statements_outside_the_block_stay_client_bound(tenant_a):
    """Only the block's statements are server-bound: the connection's own cursors are restored after it, also when
    the block raises, and Django's client-binding cursors never prepare."""
    with tenant_a.context():
        with connection.cursor() as cursor:
            factory = type(cursor.cursor)
        with pytest.raises(RuntimeError), server_binding():
            assert type(connection.connection.cursor()) is not factory
            raise RuntimeError
        for _ in range(5):
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM metrics_run WHERE name = %s", ["client-bound"])
                assert type(cursor.cursor) is factory
        assert _prepared("client-bound") == [] and _prepared("WHERE name =") == []


@pytest.mark.django_db
def test_only_statements_of_the_block_are_prepared(tenant_a):
    """Other server-binding statements (the metric history's binary cursor) keep their one-off plans: the same text
    is prepared only once it runs in ``server_binding()`` blocks, and the connection prepares nothing after it."""
    from maestro.db import binary_results_cursor

    with tenant_a.context():
        for _ in range(settings.MAESTRO_PREPARE_THRESHOLD + 3):
            with binary_results_cursor() as cursor:
                cursor.execute("SELECT %s::int AS scoped_probe", [1])
        assert _prepared("scoped_probe") == []
        for _ in range(settings.MAESTRO_PREPARE_THRESHOLD + 1):
            with server_binding(), connection.cursor() as cursor:
                cursor.execute("SELECT %s::int AS scoped_probe", [1])
        assert len(_prepared("scoped_probe")) == 1
        assert connection.connection.prepare_threshold is None


@pytest.mark.django_db
def test_server_bound_statements_are_still_captured_with_their_values(tenant_a):
    """Query counting in tests still sees them (Django wraps the server-binding cursor like its own), with the
    values in the text before and after psycopg prepares the statement (it keeps no text of a prepared run)."""
    from django.test.utils import CaptureQueriesContext

    with tenant_a.context():
        run = RunFactory()
        admin = _admin(tenant_a)
        with CaptureQueriesContext(connection) as captured:
            token_cache._generation()
            for _ in range(settings.MAESTRO_PREPARE_THRESHOLD + 2):
                selectors.run_for_logging(user=admin, run_id=run.uuid.hex)
        assert _prepared(RUNS)
    statements = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("SET search_path")]
    assert statements[0] == 'SELECT value FROM "accounts_authgeneration"'
    lookups = statements[1:]
    assert len(lookups) == settings.MAESTRO_PREPARE_THRESHOLD + 2
    assert all(RUNS in sql and f"'{run.uuid.hex}'" in sql and "$1" not in sql for sql in lookups)
