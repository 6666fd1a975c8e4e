"""The recommendation engine feeds the business metrics of issue 7: served recommendations and their latency,
insufficient-data predictions, model trainings (outcome, duration, active model's CV MAE) and the embedding backlog
— each labelled with the tenant's schema only, and changed only for the tenant that did the work."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from apps.projects.models import Project
from apps.recommendations import services
from apps.recommendations.choices import RunKind
from apps.recommendations.demo.seed import seed_tenant
from apps.recommendations.models import SuccessModel
from apps.recommendations.tasks import RUN_TASKS
from tests.ops.scrape import scrape, value
from tests.recommendations.support import LENIENT_GATE, admin_token

pytestmark = pytest.mark.django_db

PROPOSAL = {
    "spec": "Forecast weekly demand for spare parts in regional warehouses from order history.",
    "problem_class": "forecasting",
    "complexity_score": 40,
    "team_members": [{"role": "data_scientist", "experience_level": "senior", "years_experience": 6}],
}
SERVED = "maestro_recommendations_served_total"
INSUFFICIENT = "maestro_predictions_insufficient_data_total"
TRAININGS = "maestro_model_trainings_total"


@pytest.fixture(autouse=True)
def _lenient_gate(settings):
    """Trainings in these tests are on a few dozen demo projects; the skill gate is tested in test_skill.py."""
    settings.RECOMMENDATIONS_SKILL_MARGIN = LENIENT_GATE["RECOMMENDATIONS_SKILL_MARGIN"]
    settings.RECOMMENDATIONS_SKILL_ALPHA = LENIENT_GATE["RECOMMENDATIONS_SKILL_ALPHA"]


def _delta(before, after, name, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def _label_sets(samples, prefix: str) -> set[tuple]:
    return {labels for name, labels in samples if name.startswith(prefix)}


def _train():
    run = services.run_request(kind=RunKind.TRAIN, dispatch=False)
    return services.run_execute(run_id=run.pk)


def test_insufficient_data_answer_is_served_timed_and_counted_for_its_tenant_only(tenant_a, tenant_b):
    api_b = tenant_b.api(admin_token(tenant_b))
    before = scrape()
    body = api_b.post("/api/v1/recommendations", PROPOSAL, format="json").json()
    after = scrape()
    assert body["status"] == "insufficient_data"
    assert _delta(before, after, SERVED, tenant="beta") == 1
    assert _delta(before, after, INSUFFICIENT, tenant="beta") == 1
    assert _delta(before, after, "maestro_recommendation_latency_seconds_count") == 1
    assert _delta(before, after, "maestro_recommendation_latency_seconds_sum") > 0
    assert _delta(before, after, SERVED, tenant="alpha") == 0
    assert _delta(before, after, INSUFFICIENT, tenant="alpha") == 0
    # The only label is the schema name: nothing of the request (spec, user, project) reaches a label.
    for labels in _label_sets(after, SERVED) | _label_sets(after, INSUFFICIENT):
        assert [k for k, _ in labels] == ["tenant"]
        assert labels[0][1] in {"alpha", "beta", "public"}
    assert not any("spare parts" in str(labels) for _, labels in after)


def test_trainings_count_success_and_failure_and_publish_the_active_models_mae(tenant_a, tenant_b, settings):
    with tenant_a.context():
        seed_tenant(projects=45, seed=11, runs_per_project=1, metric_steps=2, train=False)
    with tenant_b.context():
        Project.objects.create(
            name="lonely", slug="test-lonely", spec="One completed project.", status="completed", success_score=60,
            start_date=date.today() - timedelta(days=30), completion_date=date.today(),
        )  # fmt: skip
    before = scrape()
    with tenant_a.context():
        run = _train()
        active = SuccessModel.objects.get(status="active")
    assert run.status == "succeeded" and run.model_id == active.pk
    settings.RECOMMENDATIONS_MIN_COMPLETED_PROJECTS = 1  # beta passes the data check but cannot be cross-validated
    with tenant_b.context():
        failed = _train()
    assert failed.status == "failed" and "need at least" in failed.error
    after = scrape()

    assert _delta(before, after, TRAININGS, tenant="alpha", outcome="success") == 1
    assert _delta(before, after, TRAININGS, tenant="alpha", outcome="failure") == 0
    assert _delta(before, after, TRAININGS, tenant="beta", outcome="failure") == 1
    assert _delta(before, after, TRAININGS, tenant="beta", outcome="success") == 0
    assert _delta(before, after, "maestro_model_training_duration_seconds_count") == 2
    assert _delta(before, after, "maestro_model_training_duration_seconds_sum") >= active.training_seconds
    assert value(after, "maestro_model_cv_mae", tenant="alpha") == pytest.approx(active.cv_mae)
    assert value(after, "maestro_model_last_trained_timestamp_seconds", tenant="alpha") == pytest.approx(
        active.trained_at.timestamp()
    )
    assert value(after, "maestro_model_cv_mae", tenant="beta") == value(before, "maestro_model_cv_mae", tenant="beta")

    # A prediction answered by the trained model is served and timed, and not counted as insufficient.
    api_a = tenant_a.api(admin_token(tenant_a))
    body = api_a.post("/api/v1/recommendations", PROPOSAL, format="json").json()
    served = scrape()
    assert body["status"] == "ok" and body["model"]["version"] == active.version
    assert _delta(after, served, SERVED, tenant="alpha") == 1
    assert _delta(after, served, INSUFFICIENT, tenant="alpha") == 0
    assert _delta(after, served, "maestro_recommendation_latency_seconds_count") == 1


def test_gauges_follow_the_active_model_through_kept_versions_promotion_and_rollback(
    tenant_a, django_capture_on_commit_callbacks
):
    last_trained = "maestro_model_last_trained_timestamp_seconds"
    with tenant_a.context():
        seed_tenant(projects=45, seed=11, runs_per_project=1, metric_steps=2, train=False)
        v1 = _train().model
        run = services.run_request(kind=RunKind.TRAIN, params={"force": True}, dispatch=False)
        v2 = services.run_execute(run_id=run.pk).model
        assert v2.status == "candidate"  # same data, same seed: not strictly better, kept
        # A kept version is a successful training, but the gauges describe the model that serves predictions.
        assert value(scrape(), last_trained, tenant="alpha") == pytest.approx(v1.trained_at.timestamp())
        with django_capture_on_commit_callbacks(execute=True):
            services.model_promote(model=v2, user=None, reason="metrics test")
        assert value(scrape(), last_trained, tenant="alpha") == pytest.approx(v2.trained_at.timestamp())
        assert value(scrape(), "maestro_model_cv_mae", tenant="alpha") == pytest.approx(v2.cv_mae)
        with django_capture_on_commit_callbacks(execute=True):
            services.model_rollback(model=SuccessModel.objects.get(pk=v2.pk), user=None, reason="metrics test")
        assert value(scrape(), last_trained, tenant="alpha") == pytest.approx(v1.trained_at.timestamp())


def test_embedding_backlog_is_measured_when_queued_and_counted_down_when_computed(tenant_a, tenant_b):
    with tenant_a.context():
        for i in range(3):
            Project.objects.create(name=f"stale {i}", slug=f"test-stale-{i}", spec=f"Spec number {i} of a new idea.")
        expected_a = len(services.embeddings_stale_project_ids())
        run = services.embeddings_request_stale()
    assert expected_a >= 3 and run is not None
    assert value(scrape(), "maestro_embedding_backlog", tenant="alpha") == expected_a

    with tenant_b.context():
        Project.objects.create(name="b", slug="test-stale-b", spec="A spec in the other tenant.")
        expected_b = len(services.embeddings_stale_project_ids())
        services.embeddings_request_stale()
    assert value(scrape(), "maestro_embedding_backlog", tenant="beta") == expected_b

    # The queued run, executed by its task body in alpha's schema, embeds everything: alpha's backlog drops to 0.
    assert RUN_TASKS[RunKind.EMBEDDINGS](schema_name="alpha", run_id=run.pk) == "succeeded"
    samples = scrape()
    assert value(samples, "maestro_embedding_backlog", tenant="alpha") == 0
    assert value(samples, "maestro_embedding_backlog", tenant="beta") == expected_b
