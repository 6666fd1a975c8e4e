import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django_tenants.utils import schema_context, schema_exists

from apps.accounts.services import user_create
from apps.ops.management.commands import ensure_demo
from apps.tenants.models import Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client(client):
    user_create(
        username="operator", email="op@platform.test", password="operator-pass-123", is_staff=True, is_superuser=True
    )
    client.force_login(get_user_model().objects.get(username="operator"))
    return client


def test_operator_provisions_a_tenant_from_the_platform_admin(operator_client):
    response = operator_client.post(
        "/admin/tenants/tenant/add/",
        {"name": "Iota Inc", "schema_name": "iota", "domain": "", "admin_email": "lead@iota.test"},
        HTTP_HOST="localhost",
        follow=True,
    )
    assert response.status_code == 200
    assert schema_exists("iota")
    tenant = Tenant.objects.get(schema_name="iota")
    assert tenant.get_primary_domain().domain == "iota.localhost"
    shown = [str(m) for m in response.context["messages"]]
    password = shown[0].split("password ")[1].split(" ")[0]
    with schema_context("iota"):
        assert get_user_model().objects.get(username="admin").check_password(password)


def test_platform_admin_refuses_reserved_slug_with_a_form_error(operator_client):
    response = operator_client.post(
        "/admin/tenants/tenant/add/",
        {"name": "Bad", "schema_name": "public", "domain": "", "admin_email": "lead@bad.test"},
        HTTP_HOST="localhost",
    )
    assert response.status_code == 200
    assert "is reserved" in response.content.decode()
    assert Tenant.objects.filter(name="Bad").count() == 0


def test_platform_admin_lists_tenants_but_not_the_platform_and_suspends(operator_client, tenant_a):
    listing = operator_client.get("/admin/tenants/tenant/", HTTP_HOST="localhost").content.decode()
    assert ">alpha</a>" in listing and ">public</a>" not in listing
    tenant_id = tenant_a.tenant.pk
    operator_client.post(
        "/admin/tenants/tenant/",
        {"action": "suspend", "_selected_action": [tenant_id]},
        HTTP_HOST="localhost",
    )
    assert Tenant.objects.get(pk=tenant_id).is_active is False
    assert tenant_a.client().get("/accounts/login/").status_code == 403
    operator_client.post(
        "/admin/tenants/tenant/",
        {"action": "reactivate", "_selected_action": [tenant_id]},
        HTTP_HOST="localhost",
    )
    assert Tenant.objects.get(pk=tenant_id).is_active is True


def test_tenant_admin_is_separate_from_the_platform_admin(tenant_a):
    client = tenant_a.client()
    client.post("/accounts/login/", {"username": "admin", "password": tenant_a.admin_password})
    tenant_admin = client.get("/admin/")
    assert tenant_admin.status_code == 200
    assert "/admin/tenants/" not in tenant_admin.content.decode()
    assert client.get("/admin/tenants/tenant/").status_code == 404
    tokens_page = client.get("/admin/accounts/apitoken/")
    assert tokens_page.status_code == 200


def test_ensure_demo_creates_once_and_prints_working_credentials(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(ensure_demo, "CREDENTIALS_FILE", tmp_path / "creds.txt")
    call_command("ensure_demo", "--slug", "demo-test")
    first = capsys.readouterr().out
    password = first.split("password:")[1].split()[0]
    call_command("ensure_demo", "--slug", "demo-test")
    second = capsys.readouterr().out
    assert "Creating" in first and "Creating" not in second
    assert password in second
    assert oct((tmp_path / "creds.txt").stat().st_mode)[-3:] == "600"
    with schema_context("demo-test"):
        user = get_user_model().objects.get(username="admin")
        user.set_password("changed-by-the-user-1")
        user.save()
    call_command("ensure_demo", "--slug", "demo-test")
    assert "no longer valid" in capsys.readouterr().out
