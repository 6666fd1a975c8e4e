"""Behaviour that needs committed data (this module is not transactional): re-processing on a real Celery worker,
concurrent deliveries of the same delivery id."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from apps.accounts.services import token_create
from apps.integrations.models import Commit, Integration, WebhookDelivery
from tests.integrations.factories import ProjectFactory, make_integration
from tests.integrations.helpers import outside_event_loop
from tests.integrations.payloads import deliver_github, gh_commit, gh_push
from tests.support.celery import wait_for

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.mark.slow
def test_reprocess_action_runs_on_the_worker(committed, celery_worker):
    outside_event_loop(lambda: _reprocess_on_the_worker(committed[0]))


def _reprocess_on_the_worker(alpha):
    with alpha.context():
        project = ProjectFactory()
        integration, secret = make_integration(project)
        token = token_create(user=get_user_model().objects.get(username="admin"), name="reprocess-test")
    try:
        deliver_github(alpha.host, integration, secret, "push", gh_push([gh_commit("w1", at=T0)]))
        with alpha.context():
            Commit.objects.filter(integration=integration).update(author_key="tampered")
        response = alpha.api(token.plaintext).post(
            f"/api/v1/projects/{project.pk}/integrations/{integration.pk}/reprocess"
        )
        assert response.status_code == 202 and response.json() == {"status": "queued", "integration": integration.pk}

        def restored():
            with alpha.context():
                return Commit.objects.filter(integration=integration, author_key="alice@acme.test").exists()

        wait_for(restored)
    finally:
        with alpha.context():
            project.delete()
            token.token.delete()


def test_concurrent_deliveries_of_one_delivery_id_are_processed_once(committed):
    """Two copies of a delivery pass the duplicate check while another transaction holds the integration lock; when
    it is released, one is processed and the other is answered as a duplicate (unique constraint), nothing twice."""
    outside_event_loop(lambda: _concurrent_replay(committed[0]))


def _concurrent_replay(alpha):
    with alpha.context():
        project = ProjectFactory()
        integration, secret = make_integration(project)
    payload = gh_push([gh_commit("race", at=T0)])
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        try:
            with alpha.context(), transaction.atomic():
                Integration.objects.select_for_update().get(pk=integration.pk)
                locked.set()
                release.wait(20)
        finally:
            connection.close()

    def deliver():
        try:
            return deliver_github(alpha.host, integration, secret, "push", payload, delivery="race-1")
        finally:
            connection.close()

    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            holder = pool.submit(hold_lock)
            assert locked.wait(20)
            answers = [pool.submit(deliver), pool.submit(deliver)]
            time.sleep(1.5)  # both requests are now waiting for the integration lock
            release.set()
            holder.result()
            statuses = sorted(answer.result().json()["status"] for answer in answers)
        assert statuses == ["duplicate", "processed"]
        with alpha.context():
            assert WebhookDelivery.objects.filter(integration=integration).count() == 1
            assert Commit.objects.filter(integration=integration).count() == 1
    finally:
        with alpha.context():
            project.delete()
