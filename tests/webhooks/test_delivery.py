"""Deliveries sent by the real service (``delivery_attempt``) to a real local receiver: signature by the recipe of
docs/webhooks.md, rotation overlap, backoff and dead letters, send-time SSRF refusal, Slack format, resend, tenant
isolation."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.webhooks import secrets, services
from apps.webhooks.choices import DeliveryStatus
from apps.webhooks.models import Delivery, Event
from tests.webhooks.helpers import deliveries, finish_run, project, readme_verify, subscribe

pytestmark = pytest.mark.django_db


def _attempt(delivery) -> Delivery:
    return services.delivery_attempt(delivery_id=delivery.pk)


def test_a_delivery_verifies_with_the_readme_recipe(tenant_a, receiver):
    verify = readme_verify()
    with tenant_a.context():
        created = subscribe(receiver.url())
        run = finish_run(project("Signed"))
        (delivery,) = deliveries()
        sent = _attempt(delivery)
    assert sent.status == DeliveryStatus.SUCCEEDED and sent.response_status == 200 and sent.attempts == 1
    (request,) = receiver.received()
    header = request.headers["maestro-signature"]
    assert verify(created.secret, header, request.body)
    assert not verify(created.secret, header, request.body + b" ")
    assert not verify(created.secret + "x", header, request.body)
    assert not verify(created.secret, header, request.body, tolerance=-1)  # too old for the receiver
    body = request.json()
    assert body["type"] == "run.finished" and body["tenant"] == tenant_a.schema
    assert body["data"]["run"]["id"] == run.pk and body["project_id"] == run.project_id
    assert request.headers["idempotency-key"] == str(delivery.idempotency_key)
    assert request.headers["maestro-event"] == "run.finished"
    assert request.headers["maestro-delivery"] == str(delivery.uuid)
    assert request.headers["content-type"] == "application/json"


def test_during_a_rotation_overlap_both_secrets_verify_and_afterwards_only_the_new_one(tenant_a, receiver):
    verify = readme_verify()
    with tenant_a.context():
        old = subscribe(receiver.url())
        new = services.subscription_rotate_secret(subscription=old.subscription, overlap_seconds=3600)
        assert new.secret != old.secret
        finish_run(project("Rotating"), "r1")
        _attempt(deliveries()[0])
        services.subscription_rotate_secret(subscription=new.subscription, overlap_seconds=0)
        newest = secrets.current_secret(new.subscription.__class__.objects.get(pk=new.subscription.pk))
        finish_run(project("Rotated"), "r2")
        _attempt(deliveries()[1])
    first, second = receiver.received()
    assert first.headers["maestro-signature"].count("v1=") == 2
    assert verify(old.secret, first.headers["maestro-signature"], first.body)
    assert verify(new.secret, first.headers["maestro-signature"], first.body)
    assert second.headers["maestro-signature"].count("v1=") == 1
    assert verify(newest, second.headers["maestro-signature"], second.body)
    assert not verify(new.secret, second.headers["maestro-signature"], second.body)


@override_settings(WEBHOOKS_MAX_ATTEMPTS=3, WEBHOOKS_RETRY_BASE_SECONDS=30, WEBHOOKS_RETRY_MAX_SECONDS=3600)
def test_failures_back_off_exponentially_and_dead_letter_after_the_last_attempt(tenant_a, receiver):
    receiver.status = 500
    receiver.answer = b"e" * 5000
    with tenant_a.context():
        subscribe(receiver.url())
        finish_run(project("Failing"))
        (delivery,) = deliveries()
        delays = []
        for attempt in (1, 2):
            before = timezone.now()
            delivery = _attempt(delivery)
            assert delivery.status == DeliveryStatus.RETRYING and delivery.attempts == attempt
            assert delivery.response_status == 500 and len(delivery.response_excerpt) == 1024
            delays.append((delivery.next_attempt_at - before).total_seconds())
            assert _attempt(delivery) is None  # not due yet: nothing is sent
            Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        delivery = _attempt(delivery)
        assert delivery.status == DeliveryStatus.DEAD and delivery.attempts == 3 and delivery.next_attempt_at is None
        assert _attempt(delivery) is None  # dead letters are never retried
    assert 15 <= delays[0] <= 31 and 30 <= delays[1] <= 61  # 30 s then 60 s, each × [0.5, 1)
    assert len(receiver.received()) == 3


@override_settings(WEBHOOKS_ALLOWED_NETWORKS=[])
def test_a_name_resolving_to_loopback_is_refused_at_send_time(tenant_a, receiver):
    with tenant_a.context():
        subscribe(receiver.url(host="localhost"))  # a name: accepted when saved, checked on every attempt
        finish_run(project("Rebound"))
        delivery = _attempt(deliveries()[0])
    assert delivery.status == DeliveryStatus.RETRYING and delivery.response_status is None
    assert delivery.error.startswith("Refused: localhost resolves to 127.0.0.1, which is loopback")
    assert receiver.received() == []


@override_settings(WEBHOOKS_ALLOWED_NETWORKS=[])
@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/x", "http://169.254.169.254/latest", "http://[::1]/x", "http://[::ffff:10.0.0.1]/"]
)
def test_a_url_with_a_refused_address_cannot_be_saved(tenant_a, url):
    from django.core.exceptions import ValidationError

    with tenant_a.context(), pytest.raises(ValidationError) as refused:
        subscribe(url)
    assert "url" in refused.value.message_dict


def test_slack_format_sends_a_slack_message(tenant_a, receiver):
    with tenant_a.context():
        subscribe(receiver.url("/slack"), payload_format="slack", event_types=["run.failed"])
        finish_run(project("Slack <team>"), "nightly", status="failed")
        _attempt(deliveries()[0])
    body = receiver.received("/slack")[0].json()
    assert body["text"] == "Run “nightly” failed in project “Slack &lt;team&gt;”."
    assert body["blocks"][0]["text"]["text"] == body["text"]


def test_resend_is_a_new_delivery_with_the_same_idempotency_key_and_is_audited(tenant_a, receiver):
    with tenant_a.context():
        subscribe(receiver.url())
        finish_run(project("Resent"))
        original = _attempt(deliveries()[0])
        resent = services.delivery_resend(delivery=original, user=None)
        assert resent.pk != original.pk and resent.resend_of_id == original.pk
        _attempt(resent)
        audit = AuditEvent.objects.get(action="webhook_delivery.resent")
        assert audit.object_id == str(resent.pk) and audit.extra["resend_of"] == original.pk
    first, second = receiver.received()
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"] == str(original.idempotency_key)
    assert first.headers["maestro-delivery"] != second.headers["maestro-delivery"]
    assert json.loads(first.body) == json.loads(second.body)


def test_only_subscribed_active_types_get_deliveries_and_a_rolled_back_change_emits_nothing(tenant_a, receiver):
    with tenant_a.context():
        subscribe(receiver.url("/finished"), event_types=["run.finished"])
        subscribe(receiver.url("/failed"), event_types=["run.failed"])
        subscribe(receiver.url("/off"), event_types=["run.finished"], is_active=False)
        owner = project("Types")
        finish_run(owner, "done")
        finish_run(owner, "broken", status="failed")
        with pytest.raises(RuntimeError), transaction.atomic():
            finish_run(owner, "undone")
            raise RuntimeError("roll back")
        assert sorted((d.subscription.name, d.event.type) for d in deliveries()) == [
            ("hook", "run.failed"),
            ("hook", "run.finished"),
        ]
        assert [d.subscription.url.rsplit("/", 1)[1] for d in deliveries()] == ["finished", "failed"]
        assert Event.objects.filter(type="run.finished").count() == 1


def test_an_event_of_one_tenant_never_reaches_another_tenants_subscription(tenant_a, tenant_b, receiver):
    with tenant_b.context():
        subscribe(receiver.url("/beta"), event_types=["run.finished", "project.completed"])
    with tenant_a.context():
        subscribe(receiver.url("/alpha"))
        finish_run(project("Alpha only"))
        for delivery in deliveries():
            _attempt(delivery)
    with tenant_b.context():
        assert deliveries() == [] and not Event.objects.exists()
    assert [r.path for r in receiver.received()] == ["/alpha"]


def test_an_inactive_subscription_dead_letters_its_open_deliveries(tenant_a, receiver):
    with tenant_a.context():
        created = subscribe(receiver.url())
        finish_run(project("Paused"))
        services.subscription_update(subscription=created.subscription, data={"is_active": False})
        delivery = _attempt(deliveries()[0])
    assert delivery.status == DeliveryStatus.DEAD and "inactive" in delivery.error
    assert receiver.received() == []


def test_a_claimed_delivery_is_not_sent_twice(tenant_a, receiver):
    """A task sent twice (by the commit hook and by reconciliation) sends once: the second finds it claimed."""
    with tenant_a.context():
        subscribe(receiver.url())
        finish_run(project("Claimed"))
        (delivery,) = deliveries()
        Delivery.objects.filter(pk=delivery.pk).update(claimed_until=timezone.now() + timedelta(minutes=1))
        assert _attempt(delivery) is None
        assert services.deliveries_due(older_than_seconds=0) == []
        Delivery.objects.filter(pk=delivery.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
        assert services.deliveries_due(older_than_seconds=0) == [delivery.pk]  # its worker died: taken up again
        assert _attempt(delivery).status == DeliveryStatus.SUCCEEDED
    assert len(receiver.received()) == 1
