import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_context, schema_exists

from apps.ops.services import tenant_provision
from apps.tenants.models import Domain, Tenant
from apps.tenants.services import tenant_set_active

pytestmark = pytest.mark.django_db


def test_provision_creates_schema_domain_and_argon2_admin():
    result = tenant_provision(slug="gamma", name="Gamma Labs", admin_email="lead@gamma.test")

    assert schema_exists("gamma")
    assert Domain.objects.get(tenant=result.tenant).domain == "gamma.localhost"
    assert result.url == "http://gamma.localhost:8000/"
    with schema_context("gamma"):
        admin = get_user_model().objects.get(username="admin")
        assert admin.email == "lead@gamma.test"
        assert admin.role == "owner"
        assert admin.is_superuser and admin.is_staff
        assert admin.password.startswith("argon2$")
        assert admin.check_password(result.password)
    assert len(result.password) >= 16


def test_generated_passwords_differ_between_tenants():
    one = tenant_provision(slug="delta", name="Delta", admin_email="a@delta.test")
    two = tenant_provision(slug="epsilon", name="Epsilon", admin_email="a@epsilon.test")
    assert one.password != two.password


@pytest.mark.parametrize(
    "slug",
    ["Acme", "public", "www", "a", "acme_ml", "-acme", "acme-", "x" * 41, "acme ml", "acme;drop", ""],
)
def test_invalid_slug_creates_nothing(slug):
    tenants_before = Tenant.objects.count()
    with pytest.raises(ValidationError) as excinfo:
        tenant_provision(slug=slug, name="Bad", admin_email="a@bad.test")
    assert "slug" in excinfo.value.message_dict
    assert Tenant.objects.count() == tenants_before
    assert not Domain.objects.filter(domain=f"{slug}.localhost").exists()
    if slug and slug not in ("public",):
        assert not schema_exists(slug)


def test_duplicate_slug_is_rejected(tenant_a):
    with pytest.raises(ValidationError) as excinfo:
        tenant_provision(slug="alpha", name="Again", admin_email="a@x.test", domain="other.localhost")
    assert "already exists" in excinfo.value.message_dict["slug"][0]
    assert not Domain.objects.filter(domain="other.localhost").exists()


def test_duplicate_domain_is_rejected_before_any_schema_is_made(tenant_a):
    with pytest.raises(ValidationError) as excinfo:
        tenant_provision(slug="zeta", name="Zeta", admin_email="a@zeta.test", domain=tenant_a.host)
    assert "domain" in excinfo.value.message_dict
    assert not schema_exists("zeta")
    assert not Tenant.objects.filter(schema_name="zeta").exists()


def test_invalid_admin_email_rolls_back_the_schema():
    with pytest.raises(ValidationError) as excinfo:
        tenant_provision(slug="eta", name="Eta", admin_email="not-an-email")
    assert "email" in excinfo.value.message_dict
    connection.set_schema_to_public()
    assert not Tenant.objects.filter(schema_name="eta").exists()
    assert not schema_exists("eta")


def test_provision_tenant_command_prints_url_and_password(capsys):
    call_command(
        "provision_tenant", "--slug", "acme", "--name", "Acme ML", "--domain", "acme.localhost",
        "--admin-email", "lead@acme.test",
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "http://acme.localhost:8000/" in out
    password = out.split("password:")[1].split()[0]
    with schema_context("acme"):
        assert get_user_model().objects.get(username="admin").check_password(password)


def test_provision_tenant_command_rejects_reserved_slug():
    with pytest.raises(CommandError, match=r"Nothing was created.*reserved"):
        call_command("provision_tenant", "--slug", "public", "--name", "X", "--admin-email", "a@x.test")


def test_platform_tenant_cannot_be_suspended():
    with pytest.raises(ValidationError):
        tenant_set_active(tenant=Tenant.objects.get(schema_name="public"), active=False)
