"""Dashboard pages of webhooks (/manage/webhooks): create shows the secret once, edit, rotate, test ping, delivery
log with resend, delete; owners and admins only."""

from __future__ import annotations

import re

import pytest

from apps.accounts.services import user_create
from apps.audit.models import AuditEvent
from apps.webhooks import secrets
from apps.webhooks.models import Delivery, Subscription
from tests.support.forms import post_form_fields
from tests.webhooks.helpers import finish_run, project

pytestmark = pytest.mark.django_db

SECRET = re.compile(r'<code id="new-secret-value">(mwhsec_[0-9a-f]+)</code>')


def _client(ctx, role="admin"):
    client = ctx.client()
    with ctx.context():
        client.force_login(user_create(username=f"pages-{role}", role=role))
    return client


def test_an_admin_creates_a_webhook_and_sees_its_secret_once(tenant_a):
    client = _client(tenant_a)
    page = client.get("/manage/webhooks")
    assert page.status_code == 200
    data = {
        **post_form_fields(page.content.decode(), "webhook-create"),
        "name": "ops",
        "url": "https://hooks.example.com/in",
        "event_types": ["run.finished", "project.completed"],
        "payload_format": "slack",
    }
    created = client.post("/manage/webhooks", data)
    assert created.status_code == 200
    (secret,) = SECRET.findall(created.content.decode())
    with tenant_a.context():
        subscription = Subscription.objects.get(name="ops")
        assert secrets.current_secret(subscription) == secret
        assert subscription.event_types == ["run.finished", "project.completed"]
        assert subscription.payload_format == "slack"
    detail = client.get(f"/manage/webhooks/{subscription.pk}").content.decode()
    assert secret not in detail and "ops" in detail


def test_a_bad_url_is_shown_on_the_form_and_nothing_is_saved(tenant_a):
    client = _client(tenant_a)
    response = client.post(
        "/manage/webhooks", {"name": "bad", "url": "http://169.254.169.254/", "event_types": ["run.finished"],
                             "payload_format": "maestro", "is_active": "on"},
    )  # fmt: skip
    assert response.status_code == 400 and "link-local" in response.content.decode()
    with tenant_a.context():
        assert not Subscription.objects.exists()


def test_edit_rotate_ping_resend_and_delete(tenant_a):
    client = _client(tenant_a, "owner")
    with tenant_a.context():
        from tests.webhooks.helpers import subscribe

        subscription = subscribe("https://hooks.example.com/in").subscription
        finish_run(project("Paged"))
    url = f"/manage/webhooks/{subscription.pk}"
    edited = client.post(url, {"name": "renamed", "url": "https://hooks.example.com/v2", "event_types": ["run.failed"],
                               "payload_format": "maestro"})  # fmt: skip
    assert edited.status_code == 302
    with tenant_a.context():
        subscription.refresh_from_db()
        assert (subscription.name, subscription.is_active, subscription.event_types) == (
            "renamed",
            False,
            ["run.failed"],
        )
    rotated = client.post(f"{url}/rotate-secret")
    (secret,) = SECRET.findall(rotated.content.decode())
    with tenant_a.context():
        assert secrets.current_secret(Subscription.objects.get(pk=subscription.pk)) == secret
    assert client.post(f"{url}/ping").status_code == 302
    log = client.get(url).content.decode()
    assert "run.finished" in log and "ping" in log
    with tenant_a.context():
        original = Delivery.objects.get(event__type="run.finished")
        Subscription.objects.filter(pk=subscription.pk).update(is_active=True)
    assert client.post(f"{url}/deliveries/{original.pk}/resend").status_code == 302
    assert client.post(f"{url}/deliveries/999999/resend").status_code == 404
    with tenant_a.context():
        assert Delivery.objects.filter(resend_of=original, idempotency_key=original.idempotency_key).count() == 1
        assert AuditEvent.objects.filter(action="webhook_delivery.resent").count() == 1
    assert client.post(f"{url}/delete").status_code == 302
    with tenant_a.context():
        assert not Subscription.objects.exists() and not Delivery.objects.exists()
        actions = set(
            AuditEvent.objects.filter(action__startswith="webhook_subscription.").values_list("action", flat=True)
        )
        assert actions >= {"webhook_subscription.updated", "webhook_subscription.secret_rotated",
                           "webhook_subscription.deleted"}  # fmt: skip


@pytest.mark.parametrize("role", ["lead", "member", "viewer"])
def test_other_roles_are_refused(tenant_a, role):
    assert _client(tenant_a, role).get("/manage/webhooks").status_code == 403


def test_another_tenants_webhook_is_not_found(tenant_a, tenant_b):
    with tenant_a.context():
        from tests.webhooks.helpers import subscribe

        subscription = subscribe("https://hooks.example.com/in").subscription
    client = _client(tenant_b, "owner")
    assert client.get(f"/manage/webhooks/{subscription.pk}").status_code == 404
    assert client.post(f"/manage/webhooks/{subscription.pk}/rotate-secret").status_code == 404
