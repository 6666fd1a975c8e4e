"""The webhooks and notifications API: secrets shown once, validation naming the field, the matrix rows, audit
coverage, resend and ping, and tenant isolation."""

from __future__ import annotations

import pytest
from django.test import override_settings

from apps.audit.models import AuditEvent
from apps.webhooks import secrets
from apps.webhooks.models import Delivery, Subscription
from tests.support.access import make_principal
from tests.webhooks.helpers import finish_run, project

pytestmark = pytest.mark.django_db

BASE = "/api/v1/webhook-subscriptions"
NEW = {"name": "ops", "url": "https://hooks.example.com/maestro", "event_types": ["run.failed", "model.promoted"]}


def _create(ctx, token, data=None):
    return ctx.api(token).post(BASE, data or NEW, format="json")


def test_create_shows_the_secret_once_and_it_is_the_signing_secret(tenant_a):
    admin = make_principal(tenant_a, "admin")
    response = _create(tenant_a, admin.token)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["secret"].startswith("mwhsec_") and body["event_types"] == ["run.failed", "model.promoted"]
    with tenant_a.context():
        subscription = Subscription.objects.get(pk=body["id"])
        assert secrets.current_secret(subscription) == body["secret"]
        assert body["secret"] not in str(Subscription.objects.filter(pk=body["id"]).values().get())  # not stored
    api = tenant_a.api(admin.token)
    assert "secret" not in api.get(f"{BASE}/{body['id']}").json()
    assert all("secret" not in item for item in api.get(BASE).json()["results"])


@override_settings(WEBHOOKS_ALLOWED_NETWORKS=[])
@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({**NEW, "url": "http://127.0.0.1:6379/"}, "url"),
        ({**NEW, "url": "http://169.254.169.254/latest/meta-data"}, "url"),
        ({**NEW, "url": "ftp://example.com/x"}, "url"),
        ({**NEW, "url": "http://user:pw@example.com/"}, "url"),
        ({**NEW, "event_types": ["run.exploded"]}, "event_types[0]"),
        ({**NEW, "event_types": []}, "event_types"),
        ({**NEW, "payload_format": "xml"}, "payload_format"),
        ({"url": NEW["url"], "event_types": NEW["event_types"]}, "name"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(tenant_a, data, field):
    admin = make_principal(tenant_a, "admin")
    response = _create(tenant_a, admin.token, data)
    assert response.status_code == 400, response.json()
    assert field in [error["field"] for error in response.json()["errors"]]
    with tenant_a.context():
        assert not Subscription.objects.exists()


@pytest.mark.parametrize("role", ["lead", "member", "viewer", "service"])
def test_only_owners_and_admins_manage_subscriptions(tenant_a, role):
    someone = make_principal(tenant_a, role)
    api = tenant_a.api(someone.token)
    assert api.get(BASE).status_code == 403
    assert _create(tenant_a, someone.token).status_code == 403


def test_a_read_token_of_an_admin_lists_but_cannot_create(tenant_a):
    reader = make_principal(tenant_a, "admin", scope="read")
    assert tenant_a.api(reader.token).get(BASE).status_code == 200
    assert _create(tenant_a, reader.token).status_code == 403


def test_every_change_is_audited(tenant_a):
    admin = make_principal(tenant_a, "owner")
    api = tenant_a.api(admin.token)
    created = _create(tenant_a, admin.token).json()
    url = f"{BASE}/{created['id']}"
    assert api.patch(url, {"is_active": False, "name": "ops-2"}, format="json").status_code == 200
    rotated = api.post(f"{url}/rotate-secret", {"overlap_seconds": 600}, format="json")
    assert rotated.status_code == 200 and rotated.json()["secret"] != created["secret"]
    assert rotated.json()["previous_secret_expires_at"] is not None
    assert api.delete(url).status_code == 204
    with tenant_a.context():
        events = list(AuditEvent.objects.filter(object_type="webhooks.subscription").order_by("id"))
        assert [e.action for e in events] == [
            "webhook_subscription.created",
            "webhook_subscription.updated",
            "webhook_subscription.secret_rotated",
            "webhook_subscription.deleted",
        ]
        assert events[2].changes["secret_salt"] == {"before": "***", "after": "***"}
        assert all(e.actor_id == admin.user.pk for e in events)


def test_ping_and_resend_through_the_api(tenant_a):
    admin = make_principal(tenant_a, "admin")
    api = tenant_a.api(admin.token)
    created = _create(tenant_a, admin.token, {**NEW, "event_types": ["run.finished"]}).json()
    ping = api.post(f"{BASE}/{created['id']}/ping")
    assert ping.status_code == 202 and ping.json()["event_type"] == "ping" and ping.json()["status"] == "pending"
    with tenant_a.context():
        finish_run(project("Logged"))
    log = api.get(f"{BASE}/{created['id']}/deliveries").json()["results"]
    assert [d["event_type"] for d in log] == ["run.finished", "ping"]
    resent = api.post(f"{BASE}/{created['id']}/deliveries/{log[0]['id']}/resend")
    assert resent.status_code == 202
    assert resent.json()["idempotency_key"] == log[0]["idempotency_key"] and resent.json()["resend_of"] == log[0]["id"]
    assert api.get(f"{BASE}/{created['id']}/deliveries/999999").status_code == 404
    assert api.post(f"{BASE}/999999/deliveries/{log[0]['id']}/resend").status_code == 404
    with tenant_a.context():
        assert AuditEvent.objects.filter(action="webhook_delivery.resent", actor_id=admin.user.pk).count() == 1


def test_another_tenant_sees_nothing_of_a_tenants_subscriptions(tenant_a, tenant_b):
    alpha = make_principal(tenant_a, "owner")
    beta = make_principal(tenant_b, "owner")
    created = _create(tenant_a, alpha.token, {**NEW, "event_types": ["run.finished"]}).json()
    with tenant_a.context():
        finish_run(project("Alpha runs"))
        delivery = Delivery.objects.get()
    api = tenant_b.api(beta.token)
    assert api.get(BASE).json()["results"] == []
    assert api.get(f"{BASE}/{created['id']}").status_code == 404
    assert api.post(f"{BASE}/{created['id']}/rotate-secret").status_code == 404
    assert api.get(f"{BASE}/{created['id']}/deliveries").status_code == 404
    assert api.post(f"{BASE}/{created['id']}/deliveries/{delivery.pk}/resend").status_code == 404
    # a token of tenant A used on tenant B's host is refused too
    assert tenant_b.api(alpha.token).get(BASE).status_code in (401, 403, 404)
