"""Plan limits: users (enforced in user_create and the tenant admin), projects, artifacts and storage
(quota_check for the services that create them); a clear 403 in the shared error shape; other tenants unaffected."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django_tenants.utils import schema_context

from apps.accounts.services import user_create
from apps.artifacts.models import Artifact, ArtifactBlob
from apps.projects.models import Project
from apps.tenants import quotas
from apps.tenants.models import Tenant
from apps.tenants.quotas import MIB, QuotaExceeded, quota_check, quota_usage
from maestro.api.exceptions import exception_handler
from tests.ops.scrape import scrape, value

pytestmark = pytest.mark.django_db


def _limit(ctx, **limits):
    Tenant.objects.filter(pk=ctx.tenant.pk).update(**limits)


def test_user_limit_refuses_the_next_user_with_a_clear_message(tenant_a, tenant_b):
    _limit(tenant_a, max_users=3)
    _limit(tenant_b, max_users=3)
    before = scrape()
    with tenant_a.context():
        user_create(username="u2", email="u2@a.test")
        user_create(username="u3", email="u3@a.test")
        with pytest.raises(QuotaExceeded) as refused:
            user_create(username="u4", email="u4@a.test")
        assert not get_user_model().objects.filter(username="u4").exists()
        assert refused.value.detail == (
            "Plan limit reached: this organisation may have at most 3 active users (3 in use, this request adds 1). "
            "A platform operator can raise max_users."
        )
        assert refused.value.detail.code == "quota_exceeded"
        get_user_model().objects.filter(username="u3").update(is_active=False)  # deactivated users free a place
        user_create(username="u4", email="u4@a.test")
    with tenant_b.context():  # beta's own count: only its admin
        user_create(username="u2", email="u2@b.test")
    assert (
        value(scrape(), "maestro_quota_refusals_total", resource="users")
        - value(before, "maestro_quota_refusals_total", resource="users")
        == 1
    )


def test_quota_refusal_renders_as_403_in_the_shared_error_shape(tenant_a):
    _limit(tenant_a, max_users=1)
    with tenant_a.context(), pytest.raises(QuotaExceeded) as refused:
        user_create(username="extra", email="x@a.test")
    response = exception_handler(refused.value, {})
    assert response.status_code == 403
    assert response.data == {
        "status": 403,
        "code": "quota_exceeded",
        "detail": "Plan limit reached: this organisation may have at most 1 active users (1 in use, this request "
        "adds 1). A platform operator can raise max_users.",
        "errors": [],
    }


def test_tenant_admin_cannot_add_a_user_beyond_the_limit(tenant_a):
    _limit(tenant_a, max_users=1)
    client = tenant_a.client()
    client.post("/accounts/login/", {"username": "admin", "password": tenant_a.admin_password})
    form = {
        "username": "newbie", "usable_password": "false", "password1": "", "password2": "",
        "api_tokens-TOTAL_FORMS": "0", "api_tokens-INITIAL_FORMS": "0",
    }  # fmt: skip
    response = client.post("/admin/accounts/user/add/", form)
    assert response.status_code == 200
    assert "Plan limit reached: users: 1 of 1 active users" in response.content.decode()
    with tenant_a.context():
        assert not get_user_model().objects.filter(username="newbie").exists()
    _limit(tenant_a, max_users=5)
    created = client.post("/admin/accounts/user/add/", form)
    assert created.status_code == 302
    with tenant_a.context():
        assert get_user_model().objects.filter(username="newbie").exists()


def test_project_artifact_and_storage_limits(tenant_b):
    _limit(tenant_b, max_projects=1, max_artifacts=1, max_storage_mb=2)
    with tenant_b.context(), transaction.atomic():
        assert quota_check("projects").used == 0
        Project.objects.create(name="P1", slug="p1")
        with pytest.raises(QuotaExceeded, match="at most 1 projects \\(1 in use"):
            quota_check("projects")
        Artifact.objects.create(name="A1", type=Artifact._meta.get_field("type").choices[0][0])
        with pytest.raises(QuotaExceeded, match="at most 1 artifacts"):
            quota_check("artifacts")
        ArtifactBlob.objects.create(sha256="a" * 64, file="artifacts/aa/a", size=int(1.5 * MIB))
        assert quota_check("storage", adding=MIB // 2).used == int(1.5 * MIB)
        with pytest.raises(
            QuotaExceeded, match=r"at most 2\.0 MB of stored files \(1\.5 in use, this request adds 0\.6"
        ):
            quota_check("storage", adding=int(0.6 * MIB))


def test_usage_is_per_tenant_and_the_platform_has_no_limits(tenant_a, tenant_b):
    with tenant_a.context():
        Project.objects.create(name="Only alpha", slug="only-alpha")
    assert quota_usage("projects", tenant=tenant_a.tenant).used == 1
    assert quota_usage("projects", tenant=tenant_b.tenant).used == 0
    with schema_context("public"):
        assert quota_check("users") is None and quota_usage("users") is None
    with pytest.raises(ValueError, match="Unknown quota resource 'gpus'"):
        quota_check("gpus")


def test_a_resource_no_app_counts_is_a_configuration_error_not_unlimited(tenant_b, monkeypatch):
    """The counts come from the owning apps (register_quota_measure in their ready()); a missing one must not
    turn the limit off."""
    assert all(quotas._MEASURES[resource] for resource in quotas.RESOURCES)
    monkeypatch.setitem(quotas._MEASURES, "projects", {})
    with tenant_b.context(), transaction.atomic(), pytest.raises(ImproperlyConfigured, match="'projects'"):
        quota_check("projects")
