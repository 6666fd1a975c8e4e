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


def _sets(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SET search_path")]


@pytest.mark.django_db
def test_requests_set_the_search_path_only_when_the_tenant_changes(tenant_a, tenant_b):
    """A worker serving one tenant request after request sends no ``SET search_path`` after the first (the routing
    lookup runs on the tenant's path, which ends with public); a request for another tenant sets its own path, and
    each reads only its own projects."""
    from tests.projects.helpers import admin_actor

    with tenant_a.context():
        ProjectFactory(name="A's project")
    with tenant_b.context():
        ProjectFactory(name="B's project")
    alice, bob = admin_actor(tenant_a), admin_actor(tenant_b)
    alice.api.get("/api/v1/projects")  # the connection is on A's path now
    with CaptureQueriesContext(connection) as captured:
        response = alice.api.get("/api/v1/projects")
    assert response.status_code == 200 and _sets(captured) == []
    assert [p["name"] for p in response.json()["results"]] == ["A's project"]
    with CaptureQueriesContext(connection) as captured:
        response = bob.api.get("/api/v1/projects")
    assert _sets(captured) == [f'SET search_path = "{tenant_b.schema}","public"']
    assert [p["name"] for p in response.json()["results"]] == ["B's project"]
    with CaptureQueriesContext(connection) as captured:
        response = alice.api.get("/api/v1/projects")
    assert _sets(captured) == [f'SET search_path = "{tenant_a.schema}","public"']
    assert [p["name"] for p in response.json()["results"]] == ["A's project"]


@pytest.mark.django_db
def test_a_refused_request_leaves_the_connection_on_the_public_schema(tenant_a, client):
    """Refusals by the routing (unknown tenant in a token, unknown host) switch back to public: what the response
    does after them touches no tenant's schema."""
    from tests.projects.helpers import admin_actor

    for refused in (
        {"HTTP_HOST": "localhost", "HTTP_AUTHORIZATION": "Bearer mae_nosuchschema_0123abcd_" + "0" * 40},
        {"HTTP_HOST": "nobody.localhost"},
    ):
        admin_actor(tenant_a).api.get("/api/v1/projects")
        assert connection.schema_name == tenant_a.schema
        assert client.get("/api/v1/projects", **refused).status_code in (401, 404)
        assert connection.schema_name == "public"
        assert _schema() == "public"


def test_a_new_connection_sets_the_path_again(committed):
    """What the server session has is forgotten with the connection: a reconnect sets the path again."""
    tenant_a, _ = committed
    try:
        connection.set_tenant(tenant_a.tenant)
        assert _schema() == tenant_a.schema
        connection.close()
        connection.set_tenant(tenant_a.tenant)
        with CaptureQueriesContext(connection) as captured:
            assert _schema() == tenant_a.schema
        assert _sets(captured) == [f'SET search_path = "{tenant_a.schema}","public"']
    finally:
        connection.set_schema_to_public()


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
