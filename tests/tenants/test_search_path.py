"""django-tenants sets ``search_path`` only when the schema changes (TENANT_LIMIT_SET_CALLS). PostgreSQL reverts a
``SET`` with the transaction or savepoint that issued it, so after any rollback the connection must issue it again:
otherwise the next statement would run in the schema that was current before — another tenant's."""

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.projects.models import Project
from tests.projects.factories import ProjectFactory


def _schema() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        return cursor.fetchone()[0]


def _names() -> list[str]:
    return sorted(Project.objects.values_list("name", flat=True))


def test_the_search_path_is_set_once_per_schema_change():
    assert settings.TENANT_LIMIT_SET_CALLS is True


@pytest.mark.django_db
def test_a_project_list_request_sets_the_search_path_twice_routing_then_tenant(tenant_a):
    from tests.projects.helpers import admin_actor

    admin = admin_actor(tenant_a)
    with CaptureQueriesContext(connection) as captured:
        assert admin.api.get("/api/v1/projects").status_code == 200
    sets = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SET search_path")]
    assert sets == ['SET search_path = "public"', f'SET search_path = "{tenant_a.schema}","public"']


@pytest.mark.django_db
def test_after_a_savepoint_rollback_the_current_tenant_is_read_not_the_previous_one(tenant_a, tenant_b):
    with tenant_a.context():
        ProjectFactory(name="A's project")
    with tenant_b.context():
        ProjectFactory(name="B's project")
    connection.set_tenant(tenant_b.tenant)
    assert _names() == ["B's project"]  # SET B, outside the savepoint
    with pytest.raises(RuntimeError), transaction.atomic():  # a savepoint inside the test's transaction
        connection.set_tenant(tenant_a.tenant)
        assert _names() == ["A's project"]  # SET A inside the savepoint
        raise RuntimeError
    # PostgreSQL is back on B's search_path; the connection is still routed to A and must say so again.
    assert connection.schema_name == tenant_a.schema
    assert _schema() == tenant_a.schema
    assert _names() == ["A's project"]


@pytest.mark.django_db
def test_a_tenant_set_before_the_savepoint_survives_its_rollback(tenant_a, tenant_b):
    connection.set_tenant(tenant_a.tenant)
    assert _schema() == tenant_a.schema
    with pytest.raises(RuntimeError), transaction.atomic():
        connection.set_tenant(tenant_b.tenant)
        assert _schema() == tenant_b.schema
        connection.set_tenant(tenant_a.tenant)
        raise RuntimeError
    assert _schema() == tenant_a.schema


def test_after_a_transaction_rollback_the_current_tenant_is_read_not_the_previous_one(committed):
    """Outside a test transaction: a real ``ROLLBACK`` (autocommit connection, ``atomic`` block)."""
    tenant_a, tenant_b = committed
    try:
        connection.set_tenant(tenant_b.tenant)
        assert _schema() == tenant_b.schema  # SET B, committed at once (autocommit)
        with pytest.raises(RuntimeError), transaction.atomic():
            connection.set_tenant(tenant_a.tenant)
            assert _schema() == tenant_a.schema  # SET A inside the transaction
            raise RuntimeError
        assert connection.schema_name == tenant_a.schema
        assert _schema() == tenant_a.schema
        with connection.cursor() as cursor:
            cursor.execute("SHOW search_path")
            assert cursor.fetchone()[0] == f"{tenant_a.schema}, public"
    finally:
        connection.set_schema_to_public()
