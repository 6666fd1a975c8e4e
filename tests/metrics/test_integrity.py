"""Metric points have no database-level foreign key (it cost a third of ingest); locking keeps them consistent."""

import time

import pytest
from django.http import Http404

from apps.metrics import services
from apps.metrics.models import MetricPoint, Run
from apps.metrics.validation import parse_log_batch
from apps.projects.models import Project
from tests.support.batch_in_flight import batch_in_flight, committed_run

BATCH = {"metrics": [{"key": "loss", "value": 1.0 / (i + 1), "step": i, "timestamp": i} for i in range(10)]}


def test_batch_for_a_run_deleted_meanwhile_is_404_and_writes_nothing(tenant_a):
    with tenant_a.context():
        project = Project.objects.create(name="p", slug="integrity-p")
        run = services.run_create(user=None, project=project)
        stale = Run.objects.get(pk=run.pk)
        services.run_delete(run=run)
        with pytest.raises(Http404):
            services.run_log_batch(run=stale, batch=parse_log_batch(BATCH))
        assert MetricPoint.objects.filter(run_id=stale.pk).count() == 0


@pytest.mark.slow
def test_deleting_a_run_waits_for_a_batch_in_flight_and_removes_its_points(committed):
    """A batch holds the run FOR KEY SHARE until it commits; deletion (FOR UPDATE) waits and then removes the
    batch's points too — no orphaned history, on two real connections."""
    alpha, _ = committed
    with committed_run(alpha, "integrity-concurrent") as run:
        with batch_in_flight(alpha, run.pk, parse_log_batch(BATCH)) as errors:
            started = time.monotonic()
            with alpha.context():
                services.run_delete(run=Run.objects.get(pk=run.pk))
                waited = time.monotonic() - started
                assert MetricPoint.objects.filter(run_id=run.pk).count() == 0
                assert not Run.objects.filter(pk=run.pk).exists()
        assert not errors, errors
        assert waited > 0.5  # the deletion really waited for the batch to commit
