"""Deleting a project deletes its runs with their whole metric history (points have no database foreign key)."""

import pytest
from django.db import connection
from django.http import Http404

from apps.audit.models import AuditEvent
from apps.metrics import services as metric_services
from apps.metrics.models import LatestMetric, MetricPoint, Run, RunParam, RunTag
from apps.metrics.validation import parse_log_batch
from apps.projects.models import Project
from apps.projects.services import project_delete
from tests.support.batch_in_flight import batch_in_flight

BATCH = {
    "metrics": [{"key": "loss", "value": 1.0 / (i + 1), "step": i, "timestamp": 1000 + i} for i in range(5)],
    "params": [{"key": "lr", "value": "0.1"}],
    "tags": [{"key": "stage", "value": "dev"}],
}


def _project_with_runs(name: str, runs: int) -> tuple[Project, list[int]]:
    project = Project.objects.create(name=name, slug=name)
    ids = []
    for _ in range(runs):
        run = metric_services.run_create(user=None, project=project)
        metric_services.run_log_batch(run=run, batch=parse_log_batch(BATCH))
        ids.append(run.pk)
    return project, ids


def _rows(run_ids: list[int]) -> dict[str, int]:
    return {
        "runs": Run.objects.filter(pk__in=run_ids).count(),
        "points": MetricPoint.objects.filter(run_id__in=run_ids).count(),
        "latest": LatestMetric.objects.filter(run_id__in=run_ids).count(),
        "params": RunParam.objects.filter(run_id__in=run_ids).count(),
        "tags": RunTag.objects.filter(run_id__in=run_ids).count(),
    }


@pytest.mark.django_db
def test_deleting_a_project_deletes_its_runs_metric_history_and_leaves_other_projects_alone(admin, tenant_a, tenant_b):
    with tenant_a.context():
        doomed, doomed_runs = _project_with_runs("doomed", 2)
        _kept, kept_runs = _project_with_runs("kept", 1)
        assert _rows(doomed_runs) == {"runs": 2, "points": 10, "latest": 2, "params": 2, "tags": 2}
    with tenant_b.context():
        other, other_runs = _project_with_runs("doomed", 1)  # same slug in the other tenant

    assert admin.api.delete(f"/api/v1/projects/{doomed.pk}").status_code == 204

    with tenant_a.context():
        assert _rows(doomed_runs) == {"runs": 0, "points": 0, "latest": 0, "params": 0, "tags": 0}
        assert _rows(kept_runs) == {"runs": 1, "points": 5, "latest": 1, "params": 1, "tags": 1}
        ours = [str(pk) for pk in doomed_runs + kept_runs]
        deleted = AuditEvent.objects.filter(action="run.deleted", object_id__in=ours).values_list(
            "object_id", flat=True
        )
        assert sorted(int(i) for i in deleted) == sorted(doomed_runs)
        assert AuditEvent.objects.filter(action="project.deleted", object_id=str(doomed.pk)).exists()
    with tenant_b.context():
        assert Project.objects.filter(pk=other.pk).exists()
        assert _rows(other_runs) == {"runs": 1, "points": 5, "latest": 1, "params": 1, "tags": 1}


@pytest.mark.django_db
def test_project_runs_delete_returns_the_count_and_a_batch_for_a_deleted_run_writes_nothing(tenant_a):
    with tenant_a.context():
        project, run_ids = _project_with_runs("bulk", 3)
        stale = Run.objects.get(pk=run_ids[0])
        assert metric_services.project_runs_delete(project=project) == 3
        assert metric_services.project_runs_delete(project=project) == 0
        with pytest.raises(Http404):
            metric_services.run_log_batch(run=stale, batch=parse_log_batch(BATCH))
        assert _rows(run_ids) == {"runs": 0, "points": 0, "latest": 0, "params": 0, "tags": 0}
        assert Project.objects.filter(pk=project.pk).exists()


@pytest.mark.slow
def test_deleting_a_project_waits_for_a_batch_in_flight_and_leaves_no_orphaned_points(committed):
    """A batch holds its run FOR KEY SHARE until it commits; project deletion locks the runs FOR UPDATE first, so it
    waits and then removes the batch's points too (a plain cascade would delete the points it sees, then wait on
    the run row, and leave the batch's points orphaned) — on two real connections."""
    alpha, _ = committed
    with alpha.context():
        project = Project.objects.create(name="p", slug="delete-while-logging")
        run = metric_services.run_create(user=None, project=project)
    try:
        with batch_in_flight(alpha, run.pk, parse_log_batch(BATCH)) as errors, alpha.context():
            project_delete(project=Project.objects.get(pk=project.pk), user=None)
        assert not errors, errors
        with alpha.context():
            assert _rows([run.pk]) == {"runs": 0, "points": 0, "latest": 0, "params": 0, "tags": 0}
    finally:
        with alpha.context():
            for model in (MetricPoint, LatestMetric, RunParam, RunTag):
                model.objects.filter(run_id=run.pk).delete()
            Run.objects.filter(pk=run.pk).delete()
            Project.objects.filter(pk=project.pk).delete()
        connection.set_schema_to_public()
