"""The delivery pipeline end to end on the real Celery worker and a real local HTTP receiver (committed data).

A receiver that is down while events happen — some of them recorded while the broker is unreachable too — gets
every event exactly once after it comes back; the other tenant's subscription to the same receiver gets nothing."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.artifacts.models import Artifact
from apps.artifacts.services import artifact_version_create
from apps.projects.models import Project
from apps.projects.services import project_complete
from apps.webhooks.choices import DeliveryStatus
from apps.webhooks.models import Delivery, Event, Subscription
from apps.webhooks.tasks import reconcile_deliveries
from tests.integrations.helpers import outside_event_loop
from tests.recommendations.support import celery_broker
from tests.support.celery import wait_for
from tests.webhooks.helpers import finish_run, readme_verify, subscribe
from tests.webhooks.receiver import Receiver

TYPES = ["run.finished", "project.completed", "artifact.version_created"]
UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"


@pytest.mark.slow
def test_a_receiver_down_for_a_while_gets_every_event_exactly_once_after_it_comes_back(committed, celery_worker):
    outside_event_loop(lambda: _down_then_up(*committed))


def _open(ctx) -> list[Delivery]:
    with ctx.context():
        return list(Delivery.objects.filter(status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING]))


def _down_then_up(alpha, beta):
    receiver = Receiver(port=Receiver.reserve_port())  # nothing listens there yet: the receiver is down
    verify = readme_verify()
    with beta.context():
        subscribe(receiver.url("/beta"), event_types=TYPES, name="beta-hook")
    with alpha.context():
        secret = subscribe(receiver.url("/alpha"), event_types=TYPES, name="alpha-hook").secret
        project = Project.objects.create(name="Down and up", slug="webhooks-down-and-up", status="active")
        artifact = Artifact.objects.create(name="webhooks-down-and-up", type="dataset")
    try:
        with alpha.context():
            for index in range(3):
                finish_run(project, f"run-{index}")
            artifact_version_create(artifact=artifact, version="1.0.0", user=None)
            project_complete(project=project, user=None, success_score=0.7)
        # the worker tries each one and finds the receiver down
        wait_for(lambda: all(d.attempts >= 1 and d.status == DeliveryStatus.RETRYING for d in _open(alpha)), 60)
        assert len(_open(alpha)) == 5
        with celery_broker(UNREACHABLE_BROKER), alpha.context():  # Redis down as well: the tasks cannot be sent
            finish_run(project, "run-during-broker-outage")
        with alpha.context():
            late = Delivery.objects.get(event__payload__run__name="run-during-broker-outage")
            assert late.status == DeliveryStatus.PENDING and late.attempts == 0
            retry_etas = list(
                Delivery.objects.filter(status=DeliveryStatus.RETRYING).values_list("next_attempt_at", flat=True)
            )

        receiver.start()  # the receiver comes back
        with alpha.context():  # time passes: every open delivery is overdue for reconciliation
            Delivery.objects.filter(status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING]).update(
                next_attempt_at=timezone.now() - timedelta(minutes=5)
            )
        assert reconcile_deliveries() >= 6
        wait_for(lambda: not _open(alpha), 60)
        # The retries' own countdown tasks (sent when the attempts failed) come due now and must send nothing more;
        # so must another reconciliation.
        time.sleep(max((max(retry_etas) - timezone.now()).total_seconds(), 0) + 3)
        reconcile_deliveries()
        time.sleep(2)

        with alpha.context():
            events = {str(uuid): kind for uuid, kind in Event.objects.values_list("uuid", "type")}
            assert all(d.status == DeliveryStatus.SUCCEEDED for d in Delivery.objects.all())
        received = receiver.received("/alpha")
        per_event = Counter(r.headers["maestro-event-id"] for r in received)
        assert set(per_event) == set(events) and len(events) == 6
        assert set(per_event.values()) == {1}, f"duplicates: {per_event}"
        assert Counter(events.values()) == {"run.finished": 4, "artifact.version_created": 1, "project.completed": 1}
        assert all(verify(secret, r.headers["maestro-signature"], r.body) for r in received)
        assert receiver.received("/beta") == []
        with beta.context():
            assert not Delivery.objects.exists() and not Event.objects.exists()
    finally:
        receiver.stop()
        for ctx in (alpha, beta):
            with ctx.context():
                Subscription.objects.all().delete()
                Event.objects.all().delete()
        with alpha.context():
            project.delete()
            artifact.delete()
