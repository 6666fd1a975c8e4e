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


def _lock_statements(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "FOR KEY SHARE" in q["sql"]]


def test_a_metrics_only_batch_locks_the_run_in_its_write_statement(tenant_a):
    """The commonest batch (what ``mlflow.log_metric`` sends) takes the run's lock inside the statement that writes
    its points — one round trip; a batch without metrics still sends the lock on its own, first."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.metrics.models import RunParam

    with tenant_a.context():
        project = Project.objects.create(name="p", slug="integrity-lock")
        run = services.run_create(user=None, project=project)
        with CaptureQueriesContext(connection) as captured:
            services.run_log_batch(run=run, batch=parse_log_batch(BATCH))
        assert _lock_statements(captured) == []
        assert MetricPoint.objects.filter(run_id=run.pk).count() == 10
        with CaptureQueriesContext(connection) as captured:
            services.run_log_batch(run=run, batch=parse_log_batch({"params": [{"key": "lr", "value": "0.1"}]}))
        writes = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
        assert len(_lock_statements(captured)) == 1 and "FOR KEY SHARE" in writes[0]
        assert RunParam.objects.filter(run_id=run.pk).count() == 1


@pytest.mark.parametrize("with_metrics", [True, False])
def test_a_batch_for_a_run_in_the_trash_is_404_and_writes_nothing(tenant_a, with_metrics):
    """MLflow's delete-run moves a run to the trash (lifecycle ``deleted``); a batch for it writes no point, param
    or tag, whichever statement takes the lock."""
    from apps.metrics.choices import LifecycleStage
    from apps.metrics.models import RunParam, RunTag

    batch = {"params": [{"key": "lr", "value": "0.1"}], "tags": [{"key": "t", "value": "v"}]}
    if with_metrics:
        batch.update(BATCH)
    with tenant_a.context():
        project = Project.objects.create(name="p", slug="integrity-trash")
        run = services.run_create(user=None, project=project)
        Run.objects.filter(pk=run.pk).update(lifecycle_stage=LifecycleStage.DELETED)
        with pytest.raises(Http404):
            services.run_log_batch(run=run, batch=parse_log_batch(batch))
        assert MetricPoint.objects.filter(run_id=run.pk).count() == 0
        assert not RunParam.objects.filter(run_id=run.pk).exists()
        assert not RunTag.objects.filter(run_id=run.pk).exists()
