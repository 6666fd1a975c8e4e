import pytest
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory

from apps.tenants.middleware import TenantRoutingMiddleware
from apps.tenants.models import Tenant
from apps.tenants.services import tenant_set_active
from tests.projects.helpers import admin_actor

pytestmark = pytest.mark.django_db


def test_unknown_host_is_a_404_page(client):
    response = client.get("/", HTTP_HOST="nobody.localhost")
    assert response.status_code == 404
    assert b"No organisation is served at nobody.localhost" in response.content


def test_unknown_host_api_path_is_json_404(client):
    response = client.get("/api/v1/me", HTTP_HOST="nobody.localhost")
    assert response.status_code == 404
    assert response.json()["status"] == 404


def test_tenant_host_serves_its_login_page(tenant_a):
    response = tenant_a.client().get("/accounts/login/")
    assert response.status_code == 200
    assert b"Log in to Alpha Analytics" in response.content
    assert b"csrfmiddlewaretoken" in response.content


def test_dashboard_requires_login(tenant_a):
    response = tenant_a.client().get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_admin_logs_in_on_own_host_and_sees_home(tenant_a):
    client = tenant_a.client()
    response = client.post(
        "/accounts/login/", {"username": tenant_a.admin_username, "password": tenant_a.admin_password}
    )
    assert response.status_code == 302
    home = client.get("/")
    assert home.status_code == 200
    assert b"Alpha Analytics" in home.content


def test_login_is_csrf_protected(tenant_a):
    from django.test import Client

    client = Client(HTTP_HOST=tenant_a.host, enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "admin", "password": tenant_a.admin_password})
    assert response.status_code == 403


def test_credentials_of_one_tenant_do_not_log_in_to_another(tenant_a, tenant_b):
    response = tenant_b.client().post(
        "/accounts/login/", {"username": tenant_a.admin_username, "password": tenant_a.admin_password}
    )
    assert response.status_code == 200  # the form again, with an error
    assert b"didn&#x27;t match" in response.content or b"didn't match" in response.content


def test_session_of_one_tenant_is_anonymous_on_another(tenant_a, tenant_b):
    client = tenant_a.client()
    client.post("/accounts/login/", {"username": "admin", "password": tenant_a.admin_password})
    assert client.get("/").status_code == 200
    on_b = client.get("/", HTTP_HOST=tenant_b.host)
    assert on_b.status_code == 302
    assert b"Alpha" not in on_b.content
    api_on_b = client.get("/api/v1/me", HTTP_HOST=tenant_b.host)
    assert api_on_b.status_code in (401, 403)
    assert "alpha" not in api_on_b.content.decode()


def test_suspended_tenant_gets_403_everywhere(tenant_a):
    tenant_set_active(tenant=tenant_a.tenant, active=False, reason="unpaid")
    try:
        page = tenant_a.client().get("/accounts/login/")
        assert page.status_code == 403
        assert b"suspended" in page.content
        api = tenant_a.client().get("/api/v1/me")
        assert api.status_code == 403
        assert api.json()["detail"] == "This organisation is suspended."
    finally:
        tenant_set_active(tenant=tenant_a.tenant, active=True)


def test_platform_host_serves_public_landing_and_admin(client):
    assert client.get("/", HTTP_HOST="localhost").status_code == 200
    admin = client.get("/admin/", HTTP_HOST="localhost")
    assert admin.status_code == 302
    assert "/admin/login/" in admin["Location"]


def test_password_change_with_validation(tenant_a):
    from django.contrib.auth import get_user_model

    with tenant_a.context():
        from apps.accounts.services import user_create

        user_create(username="changer", email="c@alpha.test", password="first-password-42")
    client = tenant_a.client()
    client.post("/accounts/login/", {"username": "changer", "password": "first-password-42"})
    weak = client.post(
        "/accounts/password/",
        {"old_password": "first-password-42", "new_password1": "short", "new_password2": "short"},
    )
    assert weak.status_code == 200
    assert "too short" in weak.content.decode()
    ok = client.post(
        "/accounts/password/",
        {
            "old_password": "first-password-42",
            "new_password1": "second-password-43",
            "new_password2": "second-password-43",
        },
    )
    assert ok.status_code == 302 and ok["Location"] == "/accounts/password/done/"
    with tenant_a.context():
        assert get_user_model().objects.get(username="changer").check_password("second-password-43")


@pytest.mark.parametrize("how", ["host", "token on the platform host"])
def test_the_routed_tenant_is_the_full_model_instance(tenant_a, how):
    """The middleware reads the tenant with the ORM: the full model instance, every field as the ORM converts it."""
    seen = {}

    def view(request):
        seen["tenant"] = request.tenant
        return HttpResponse("ok")

    token = admin_actor(tenant_a).api._credentials["HTTP_AUTHORIZATION"]
    host = tenant_a.host if how == "host" else "localhost"
    request = RequestFactory().get("/api/v1/me", HTTP_HOST=host, HTTP_AUTHORIZATION=token)
    assert TenantRoutingMiddleware(view)(request).status_code == 200
    connection.set_schema_to_public()
    expected = Tenant.objects.get(pk=tenant_a.tenant.pk)
    routed = seen["tenant"]
    assert type(routed) is Tenant and routed.pk == expected.pk
    for field in Tenant._meta.concrete_fields:
        assert getattr(routed, field.attname) == getattr(expected, field.attname), field.name
    assert isinstance(routed.rate_limits, dict)


def test_platform_host_serves_the_schema_to_a_client_that_sends_its_tenant_token(tenant_a, client):
    """Tokens are verified in their tenant's schema; the platform host serves the public one, where the schema (no
    tenant data) reads no credentials — while a tenant's host still refuses a token that is not valid there."""
    token = admin_actor(tenant_a).api._credentials["HTTP_AUTHORIZATION"]
    for headers in ({"HTTP_AUTHORIZATION": token}, {}):
        schema = client.get("/api/schema/?format=json", HTTP_HOST="localhost", **headers)
        assert schema.status_code == 200, schema.content[:200]
        assert "/api/v1/runs/search/" in schema.json()["paths"]
        docs = client.get("/api/docs/", HTTP_HOST="localhost", **headers)
        assert docs.status_code == 200 and b"swagger" in docs.content.lower()
    assert client.get("/api/schema/?format=json", HTTP_HOST=tenant_a.host, HTTP_AUTHORIZATION=token).status_code == 200
    forged = f"Bearer mae_{tenant_a.schema}_0123abcd_{'0' * 40}"
    refused = client.get("/api/schema/?format=json", HTTP_HOST=tenant_a.host, HTTP_AUTHORIZATION=forged)
    assert refused.status_code == 401 and refused.json()["detail"] == "Invalid token."
