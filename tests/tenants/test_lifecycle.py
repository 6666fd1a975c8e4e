"""Tenant lifecycle: suspend / reactivate (command and admin) block everything and restore it; delete requires a
fresh, intact export unless forced, and removes schema, domains, files and cache entries."""

from __future__ import annotations

import shutil
import uuid
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_redis import get_redis_connection
from django_tenants.utils import schema_context, schema_exists

from apps.accounts.services import user_create
from apps.ops.models import TenantExport
from apps.ops.services import tenant_provision
from apps.tenants.models import Domain, Tenant

pytestmark = pytest.mark.django_db


def test_lifecycle_commands_refuse_unknown_and_platform_tenants():
    with pytest.raises(CommandError, match="No tenant with slug 'nobody'"):
        call_command("suspend_tenant", "nobody", stdout=StringIO())
    with pytest.raises(CommandError, match="No tenant with slug 'nobody'"):
        call_command("reactivate_tenant", "nobody", stdout=StringIO())
    with pytest.raises(CommandError, match="platform tenant cannot be suspended"):
        call_command("suspend_tenant", "public", stdout=StringIO())
    with pytest.raises(CommandError, match="No tenant with slug 'public'"):
        call_command("drop_tenant", "public", "--yes", stdout=StringIO())


@pytest.fixture
def doomed(tmp_path):
    """A throwaway tenant with a user, a stored file and a cache entry."""
    slug = f"doomed-{uuid.uuid4().hex[:6]}"
    tenant_provision(slug=slug, name="Doomed Ltd", admin_email="a@doomed.test")
    with schema_context(slug):
        user_create(username="worker", email="w@doomed.test")
        storages["default"].save("artifacts/ab/file.bin", ContentFile(b"doomed content"))
        cache.set("some-key", "value", 300)
    yield Tenant.objects.get(schema_name=slug)
    shutil.rmtree(Path(settings.MEDIA_ROOT) / slug, ignore_errors=True)
    get_redis_connection("default").delete(*(get_redis_connection("default").keys(f"{slug}:*") or ["-"]))


def _gone(slug: str) -> None:
    assert not Tenant.objects.filter(schema_name=slug).exists()
    assert not Domain.objects.filter(domain=f"{slug}.localhost").exists()
    assert not schema_exists(slug)
    assert not (Path(settings.MEDIA_ROOT) / slug).exists()
    assert not get_redis_connection("default").keys(f"{slug}:*")


def test_delete_without_a_fresh_export_is_refused_and_changes_nothing(doomed):
    with pytest.raises(CommandError, match=r"Nothing was deleted\. .*No export of .* Run `manage.py export_tenant"):
        call_command("drop_tenant", doomed.schema_name, "--yes", stdout=StringIO())
    assert Tenant.objects.get(pk=doomed.pk).is_active
    assert schema_exists(doomed.schema_name)
    with schema_context(doomed.schema_name):
        assert storages["default"].exists("artifacts/ab/file.bin")


def test_delete_after_export_removes_schema_domains_files_and_cache(doomed, tenant_a, tmp_path):
    slug = doomed.schema_name
    call_command("export_tenant", slug, "--out", str(tmp_path / "d.tar.gz"), stdout=StringIO())
    out = StringIO()
    call_command("drop_tenant", slug, "--yes", stdout=out)
    assert f"Using export {tmp_path / 'd.tar.gz'}" in out.getvalue() and "cache entries removed" in out.getvalue()
    _gone(slug)
    record = TenantExport.objects.get(schema_name=slug)
    assert record.tenant is None and Path(record.path).is_file()  # the history and the archive stay
    assert schema_exists("alpha") and Tenant.objects.filter(schema_name="alpha").exists()


def test_stale_or_tampered_exports_do_not_count_but_force_deletes(doomed, tmp_path, settings):
    slug = doomed.schema_name
    archive = tmp_path / "old.tar.gz"
    call_command("export_tenant", slug, "--out", str(archive), stdout=StringIO())
    TenantExport.objects.filter(schema_name=slug).update(created_at=timezone.now() - timedelta(hours=25))
    with pytest.raises(CommandError, match="No export"):
        call_command("drop_tenant", slug, "--yes", stdout=StringIO())

    call_command("export_tenant", slug, "--out", str(archive), stdout=StringIO())
    archive.write_bytes(archive.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(CommandError, match="No export"):
        call_command("drop_tenant", slug, "--yes", stdout=StringIO())

    settings.TENANT_DELETE_EXPORT_MAX_AGE_HOURS = 48
    TenantExport.objects.filter(schema_name=slug, created_at__lt=timezone.now() - timedelta(hours=1)).update(
        created_at=timezone.now() - timedelta(hours=30)
    )
    with pytest.raises(CommandError, match="No export"):  # the intact one is 30 h old: fine, but it was overwritten
        call_command("drop_tenant", slug, "--yes", stdout=StringIO())
    call_command("drop_tenant", slug, "--yes", "--force", stdout=StringIO())
    _gone(slug)


def test_delete_asks_for_the_slug_without_yes(doomed, monkeypatch):
    monkeypatch.setattr("builtins.input", lambda prompt: "something-else")
    with pytest.raises(CommandError, match="Not confirmed"):
        call_command("drop_tenant", doomed.schema_name, "--force", stdout=StringIO())
    assert schema_exists(doomed.schema_name)


@pytest.fixture
def operator(client):
    user = user_create(username="operator", email="op@platform.test", is_superuser=True)
    user.is_staff = True
    user.save()
    client.force_login(user)
    return client


def test_platform_admin_deletes_only_after_an_export(operator, doomed, tmp_path):
    slug = doomed.schema_name
    action = {"action": "delete_after_export", "_selected_action": [doomed.pk]}
    refused = operator.post("/admin/tenants/tenant/", action, HTTP_HOST="localhost", follow=True)
    assert "No export of" in refused.content.decode()
    assert Tenant.objects.filter(pk=doomed.pk).exists()

    call_command("export_tenant", slug, "--out", str(tmp_path / "a.tar.gz"), stdout=StringIO())
    done = operator.post("/admin/tenants/tenant/", action, HTTP_HOST="localhost", follow=True)
    assert f"Deleted tenant &#x27;{slug}&#x27;" in done.content.decode()
    _gone(slug)


def test_platform_admin_shows_plan_usage_and_lists_exports(operator, tenant_a, tmp_path):
    page = operator.get(f"/admin/tenants/tenant/{tenant_a.tenant.pk}/change/", HTTP_HOST="localhost")
    assert "users: 1 of 50 active users" in page.content.decode()
    call_command("export_tenant", "alpha", "--out", str(tmp_path / "a.tar.gz"), stdout=StringIO())
    listing = operator.get("/admin/ops/tenantexport/", HTTP_HOST="localhost").content.decode()
    assert str(tmp_path / "a.tar.gz") in listing
    assert operator.get("/admin/ops/tenantexport/add/", HTTP_HOST="localhost").status_code == 403
