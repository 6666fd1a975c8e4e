"""``maestro.db.binary_results_cursor``: binary results in the current tenant's schema, seen by Django and metrics."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from prometheus_client import REGISTRY

from maestro.db import binary_results_cursor

pytestmark = pytest.mark.django_db


def _executed() -> float:
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "django_db_execute"
        for sample in metric.samples
        if sample.name == "django_db_execute_total" and sample.labels.get("alias") == "default"
    )


def test_bytea_comes_back_as_raw_bytes_and_the_query_is_captured_and_counted(tenant_a):
    with tenant_a.context():
        before = _executed()
        with CaptureQueriesContext(connection) as queries, binary_results_cursor() as cursor:
            cursor.execute("SELECT %s::bigint, int8send(%s::bigint), %s::text", [7, 258, "ok"])
            number, packed, text = cursor.fetchone()
        assert (number, bytes(packed), text) == (7, (258).to_bytes(8, "big"), "ok")
        assert any("int8send" in query["sql"] for query in queries.captured_queries)
        assert _executed() >= before + 1


def test_each_tenant_reads_its_own_schema(tenant_a, tenant_b):
    """The cursor is created on the raw connection: the tenant's search_path must already be in force — also once
    psycopg prepares the statement on the server (after 5 executions), since PostgreSQL re-plans a prepared
    statement when search_path changed."""
    from apps.projects.models import Project

    with tenant_a.context():
        Project.objects.create(name="only in a", slug="binary-cursor-only-in-a", spec="x")
    for i in range(12):
        tenant = (tenant_a, tenant_b)[i % 2]
        with tenant.context(), binary_results_cursor() as cursor:
            cursor.execute(
                "SELECT current_schema(), count(*) FROM projects_project WHERE slug = %s", ["binary-cursor-only-in-a"]
            )
            assert cursor.fetchone() == (tenant.schema, 1 if tenant is tenant_a else 0), i
