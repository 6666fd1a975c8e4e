"""Re-processing through the API on a real Celery worker (committed data: this module is not transactional)."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model

from apps.accounts.services import token_create
from apps.integrations.models import Commit
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
