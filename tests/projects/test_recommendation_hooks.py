"""The projects services keep the recommendation engine in step: a changed spec queues re-embedding, a completion
records the actual outcome on the project's open predictions."""

import pytest

from apps.projects.models import Project
from apps.recommendations.choices import PredictionStatus, RunKind
from apps.recommendations.models import Prediction, TrainingRun
from tests.projects.helpers import admin_actor

pytestmark = pytest.mark.django_db


def _embedding_runs_for(project_id):
    return [
        r for r in TrainingRun.objects.filter(kind=RunKind.EMBEDDINGS) if project_id in r.params.get("project_ids", [])
    ]


def test_a_new_or_changed_spec_queues_its_embedding(tenant_a, django_capture_on_commit_callbacks):
    admin = admin_actor(tenant_a)
    created = admin.api.post("/api/v1/projects", {"name": "Churn model", "spec": "Predict churn from usage logs."})
    assert created.status_code == 201
    with tenant_a.context():
        assert len(_embedding_runs_for(created.json()["id"])) == 1
    respecced = admin.api.patch(f"/api/v1/projects/{created.json()['id']}", {"spec": "Predict churn, weekly."})
    assert respecced.status_code == 200
    with tenant_a.context():
        assert len(_embedding_runs_for(created.json()["id"])) == 1, "the identical queued run is reused"


def test_completion_records_the_actual_outcome_on_open_predictions(tenant_a, django_capture_on_commit_callbacks):
    admin = admin_actor(tenant_a)
    project_id = admin.api.post("/api/v1/projects", {"name": "Forecast", "status": "active"}).json()["id"]
    with tenant_a.context():
        prediction = Prediction.objects.create(
            project_id=project_id, status=PredictionStatus.OK, request={}, response={}, predicted_success=70.0
        )
    with django_capture_on_commit_callbacks(execute=True):
        done = admin.api.post(
            f"/api/v1/projects/{project_id}/complete",
            {"model_performance": 0.9, "business_impact": 80, "compute_cost": 100, "success_score": 77.5},
        )
    assert done.status_code == 200, done.json()
    with tenant_a.context():
        prediction.refresh_from_db()
        assert prediction.actual_success == 77.5
        assert prediction.actual_cost == 100.0
        assert Project.objects.get(pk=project_id).success_score == 77.5
