"""GET/PATCH /api/v1/tenant: everyone reads their organisation's settings; owners and admins rename it."""

import pytest

from apps.audit.models import AuditEvent
from apps.tenants.models import Tenant
from tests.support.access import make_principal

pytestmark = pytest.mark.django_db


def test_admin_renames_the_tenant_and_it_is_audited(tenant_a, tenant_b):
    admin = make_principal(tenant_a, "admin")
    response = tenant_a.api(admin.token).patch("/api/v1/tenant", {"name": "Alpha Renamed"}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "Alpha Renamed"
    assert Tenant.objects.get(pk=tenant_a.tenant.pk).name == "Alpha Renamed"
    assert Tenant.objects.get(pk=tenant_b.tenant.pk).name == "Beta Vision"
    with tenant_a.context():
        event = AuditEvent.objects.get(action="tenant_settings.updated")
    assert event.changes == {"name": {"before": "Alpha Analytics", "after": "Alpha Renamed"}}
    with tenant_b.context():
        assert not AuditEvent.objects.filter(action="tenant_settings.updated").exists()


def test_members_read_but_cannot_rename_and_plan_is_read_only(tenant_a):
    member = make_principal(tenant_a, "member")
    shown = tenant_a.api(member.token).get("/api/v1/tenant").json()
    assert (shown["slug"], shown["name"], shown["plan"]) == ("alpha", "Alpha Analytics", "team")
    assert tenant_a.api(member.token).patch("/api/v1/tenant", {"name": "x"}, format="json").status_code == 403
    owner = make_principal(tenant_a, "owner")
    ignored = tenant_a.api(owner.token).patch("/api/v1/tenant", {"plan": "enterprise"}, format="json")
    assert ignored.status_code == 200 and ignored.json()["plan"] == "team"
    blank = tenant_a.api(owner.token).patch("/api/v1/tenant", {"name": "  "}, format="json")
    assert blank.status_code == 400 and blank.json()["errors"][0]["field"] == "name"
