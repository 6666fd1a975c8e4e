"""Where events are emitted: the real services of runs, projects, artifacts and the model registry, and the
documented accuracy rule (once per crossing)."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.utils import timezone

from apps.artifacts.models import Artifact
from apps.artifacts.services import artifact_version_create
from apps.metrics.models import Run
from apps.metrics.services import run_create, run_update
from apps.projects.choices import ProjectStatus
from apps.projects.models import Project
from apps.projects.services import project_complete, project_create
from apps.recommendations import dataset
from apps.recommendations.choices import ModelStatus, PredictionStatus, RunKind
from apps.recommendations.models import Prediction, SuccessModel
from apps.recommendations.services import model_promote, model_rollback, prediction_record_outcome, run_execute
from apps.recommendations.services.runs import run_request
from apps.webhooks.models import Event
from maestro.events import UnknownEventType, emit
from tests.webhooks.helpers import project

pytestmark = pytest.mark.django_db


def _types() -> list[str]:
    return list(Event.objects.order_by("id").values_list("type", flat=True))


def test_a_run_reaching_finished_or_failed_is_announced_once(tenant_a):
    with tenant_a.context():
        owner = project("Runs")
        run = Run.objects.create(project=owner, name="r", start_time=timezone.now())
        run_update(run=run, name="renamed")
        run_update(run=run, status="finished")
        run_update(run=Run.objects.get(pk=run.pk), status="finished")  # no change: no second event
        run_create(user=None, project=owner, name="born-failed", status="failed")
        run_update(run=Run.objects.create(project=owner, name="k", start_time=timezone.now()), status="killed")
        assert _types() == ["run.finished", "run.failed"]
        finished = Event.objects.get(type="run.finished")
        assert finished.project_id == owner.pk and finished.project_scoped
        assert finished.payload["run"]["name"] == "renamed" and finished.payload["project"]["name"] == "Runs"


def test_completing_a_project_is_announced_once(tenant_a):
    with tenant_a.context():
        planned = project_create(user=None, data={"name": "To complete", "status": "active"})
        project_complete(project=planned, user=None, success_score=0.8)
        planned.refresh_from_db()
        from apps.projects.services import project_update

        project_update(project=planned, user=None, data={"name": "Completed, renamed"})
        project_create(user=None, data={"name": "Born complete", "status": "completed", "success_score": 0.5})
        events = list(Event.objects.filter(type="project.completed").order_by("id"))
        assert [e.payload["project"]["name"] for e in events] == ["To complete", "Born complete"]
        assert events[0].payload["project"]["success_score"] == 0.8 and events[0].project_id == planned.pk


def test_a_new_artifact_version_is_announced(tenant_a):
    with tenant_a.context():
        artifact = Artifact.objects.create(name="features", type="dataset")
        artifact_version_create(artifact=artifact, version="1.2.0", user=None)
        (event,) = Event.objects.filter(type="artifact.version_created")
        assert event.payload["artifact"]["name"] == "features" and event.payload["version"]["version"] == "1.2.0"
        assert not event.project_scoped  # the library is open to everyone


def _model(version: int, *, status=ModelStatus.RETIRED, cv_mae=0.1) -> SuccessModel:
    return SuccessModel.objects.create(
        version=version, status=status, trained_at=timezone.now(), n_samples=40, features=[], cv_metrics={},
        cv_mae=cv_mae, feature_importances={}, booster=b"", training_seconds=1.0, data_fingerprint=f"fp{version}",
        validation={"gate": {"passed": True}},  # as a version that beat the historical mean (may be promoted)
    )  # fmt: skip


def test_promotion_and_rollback_are_announced(tenant_a):
    with tenant_a.context():
        first = _model(1, status=ModelStatus.ACTIVE)
        second = _model(2, status=ModelStatus.CANDIDATE)
        model_promote(model=second, user=None, reason="better")
        model_rollback(model=second, user=None, reason="worse in practice")
        promoted, rolled_back = Event.objects.filter(type__startswith="model.").order_by("id")
        assert promoted.type == "model.promoted" and promoted.payload == {
            "from_version": 1, "to_version": 2, "automatic": False, "reason": "better",
        }  # fmt: skip
        assert rolled_back.type == "model.rolled_back"
        assert (rolled_back.payload["from_version"], rolled_back.payload["to_version"]) == (2, first.version)


def test_a_failing_retraining_is_announced(tenant_a, monkeypatch):
    def broken():
        raise RuntimeError("feature store unreachable")

    monkeypatch.setattr(dataset, "training_set", broken)
    with tenant_a.context():
        run = run_request(kind=RunKind.TRAIN, dispatch=False)
        run_execute(run_id=run.pk)
        (event,) = Event.objects.filter(type="training.failed")
        assert event.payload == {"training_run_id": run.pk, "error": "feature store unreachable"}


def test_an_unknown_event_type_is_a_programming_error(tenant_a):
    with tenant_a.context(), pytest.raises(UnknownEventType):
        emit("run.exploded", payload={})


# ---------------------------------------------------------------------------------------------- accuracy rule
def _completed_with_prediction(index: int, *, predicted: float, actual: float, version: int) -> int:
    done = Project.objects.create(
        name=f"acc-{index}", slug=f"acc-{index}", status=ProjectStatus.COMPLETED, success_score=actual,
        completion_date=timezone.localdate(),
    )  # fmt: skip
    Prediction.objects.create(
        project=done, model_version=version, status=PredictionStatus.OK, request={}, response={},
        predicted_success=predicted,
    )  # fmt: skip
    return done.pk


@override_settings(RECOMMENDATIONS_ACCURACY_WINDOW=3, RECOMMENDATIONS_ACCURACY_DROP_RATIO=1.5)
def test_accuracy_dropped_is_emitted_once_per_crossing(tenant_a):
    """CV MAE 0.05 × 1.5 → threshold 0.075 over the last 3 scored predictions of the active model."""
    errors = [0.02, 0.03, 0.01, 0.4, 0.4, 0.01, 0.02, 0.01, 0.01, 0.5]
    with tenant_a.context():
        _model(1, status=ModelStatus.ACTIVE, cv_mae=0.05)
        stale = _completed_with_prediction(99, predicted=0.5, actual=1.0, version=0)  # another model's: ignored
        prediction_record_outcome(stale)
        emitted_after = []
        for index, error in enumerate(errors):
            project_id = _completed_with_prediction(index, predicted=0.5, actual=0.5 + error, version=1)
            assert prediction_record_outcome(project_id) == 1
            assert prediction_record_outcome(project_id) == 0  # recorded once: reconciliation adds no event
            emitted_after.append(Event.objects.filter(type="prediction.accuracy_dropped").count())
        # window after each outcome: –, –, 0.02 ok, 0.147 over (crossing), 0.27 over, 0.27 over, 0.143 over,
        # 0.013 ok (recovered), 0.013 ok, 0.173 over (crossing again)
        assert emitted_after == [0, 0, 0, 1, 1, 1, 1, 1, 1, 2]
        first = Event.objects.filter(type="prediction.accuracy_dropped").order_by("id").first()
        assert first.payload["model_version"] == 1 and first.payload["window"] == 3
        assert first.payload["rolling_mae"] == pytest.approx(0.1467, abs=1e-4)
        assert first.payload["threshold"] == pytest.approx(0.075) and first.payload["previous_rolling_mae"] == 0.02
        assert not first.project_scoped
