"""Delivery metrics from Git/CI integrations (issue 10) as optional features of the success model: a tenant with
integrations trains with them, a tenant without keeps exactly the feature space it had, and each saved version
predicts with the columns it was trained on."""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta

import numpy as np
import pytest

from apps.integrations.features import DELIVERY_FEATURE_NAMES
from apps.projects.models import Project
from apps.recommendations import caches, services
from apps.recommendations.choices import RunKind
from apps.recommendations.demo.seed import seed_tenant
from apps.recommendations.ml.features import FeatureSpace, ProjectInput
from apps.recommendations.models import SuccessModel
from tests.integrations.factories import make_integration
from tests.integrations.payloads import deliver_github, gh_commit, gh_push, gh_workflow_run
from tests.recommendations.support import LENIENT_GATE, admin_token

PROPOSAL = {
    "spec": "Forecast weekly demand for spare parts in regional warehouses from order history.",
    "problem_class": "forecasting",
    "complexity_score": 40,
    "team_members": [{"role": "data_scientist", "experience_level": "senior", "years_experience": 6}],
}
INTEGRATED = 14
DEV = {"name": "Bob", "email": "bob@acme.test", "username": "bob"}


@pytest.fixture(autouse=True)
def _lenient_gate(settings):
    """Trainings in these tests are on a few dozen demo projects; the skill gate is tested in test_skill.py."""
    settings.RECOMMENDATIONS_SKILL_MARGIN = LENIENT_GATE["RECOMMENDATIONS_SKILL_MARGIN"]
    settings.RECOMMENDATIONS_SKILL_ALPHA = LENIENT_GATE["RECOMMENDATIONS_SKILL_ALPHA"]


def _train() -> SuccessModel:
    run = services.run_request(kind=RunKind.TRAIN, dispatch=False)
    run = services.run_execute(run_id=run.pk)
    assert run.status == "succeeded", (run.detail, run.error)
    return run.model


def _give_delivery_history(ctx, project: Project, n: int) -> None:
    """An integration observing the project's repository since 60 days before its start, with commits by one or two
    people and CI runs (every n-th fails) in the four weeks before the start: features are taken as of the start
    date (what was known when the project was proposed)."""
    end = datetime.combine(project.start_date, time(12), tzinfo=UTC)
    with ctx.context():
        integration, secret = make_integration(project, created_at=end - timedelta(days=60))
    commits = [
        gh_commit(
            f"p{project.pk}-{i}", at=end - timedelta(days=2 + 3 * i), added=[f"f{i}.py"], **(DEV if i % 2 else {})
        )
        for i in range(2 + n % 5)
    ]
    assert deliver_github(ctx.host, integration, secret, "push", gh_push(commits)).status_code in (200, 202)
    for r in range(3):
        started = end - timedelta(days=3 + 5 * r)
        run = gh_workflow_run(
            project.pk * 10 + r, started=started, finished=started + timedelta(minutes=5 + n + r),
            conclusion="failure" if (r + n) % 3 == 0 else "success",
        )  # fmt: skip
        assert deliver_github(ctx.host, integration, secret, "workflow_run", run).status_code in (200, 202)


@pytest.mark.django_db
def test_delivery_features_join_the_model_of_the_tenant_that_has_them_only(tenant_a, tenant_b):
    with tenant_b.context():  # no integrations at all
        seed_tenant(projects=50, seed=5, runs_per_project=1, metric_steps=2, train=False)
        plain = _train()
    with tenant_a.context():
        seed_tenant(projects=45, seed=11, runs_per_project=1, metric_steps=2, train=False)
        completed = list(Project.objects.filter(status="completed", start_date__isnull=False).order_by("pk"))
    for n, project in enumerate(completed[:INTEGRATED]):
        _give_delivery_history(tenant_a, project, n)
    with tenant_a.context():
        rich = _train()
        integrated = completed[0]

    # beta: exactly the feature space without integrations.
    assert not any(name.startswith("delivery_") for name in plain.features)
    # alpha: the delivery columns its projects have, by name, in the importances too.
    delivery = [name for name in rich.features if name.startswith("delivery_")]
    assert {"delivery_commits_per_week", "delivery_active_contributors", "delivery_ci_pass_rate"} <= set(delivery)
    assert delivery == [name for name in DELIVERY_FEATURE_NAMES if name in delivery]
    assert rich.features.index(delivery[-1]) + 1 == rich.features.index("neighbor_success")
    assert set(delivery) <= set(rich.feature_importances)
    assert math.isclose(sum(rich.feature_importances.values()), 1.0, rel_tol=1e-6)

    # The saved feature space is the one each version predicts with.
    with tenant_a.context():
        assert caches.predictor_for(rich.pk, rich.version).space.names == rich.features
    with tenant_b.context():
        assert caches.predictor_for(plain.pk, plain.version).space.names == plain.features

    # A proposed project (no integration yet): delivery values are missing, the prediction works.
    body = tenant_a.api(admin_token(tenant_a)).post("/api/v1/recommendations", PROPOSAL, format="json").json()
    assert body["status"] == "ok" and body["model"]["version"] == rich.version
    assert 0 <= body["success"]["predicted"] <= 100
    values = {f["feature"]: f["value"] for f in body["feature_contributions"]["features"]}
    assert set(values) == set(rich.features)
    assert all(values[name] is None for name in delivery)

    # An existing project with an integration: its measured delivery values are used.
    body = (
        tenant_a.api(admin_token(tenant_a))
        .post("/api/v1/recommendations", {"project_id": integrated.pk}, format="json")
        .json()
    )
    values = {f["feature"]: f["value"] for f in body["feature_contributions"]["features"]}
    assert body["status"] == "ok" and values["delivery_commits_per_week"] > 0
    assert 0 <= values["delivery_ci_pass_rate"] <= 1

    # beta predicts as before; its response names no delivery feature.
    body = tenant_b.api(admin_token(tenant_b)).post("/api/v1/recommendations", PROPOSAL, format="json").json()
    assert body["status"] == "ok" and body["model"]["version"] == plain.version
    assert not any(f["feature"].startswith("delivery_") for f in body["feature_contributions"]["features"])


def test_feature_space_without_delivery_data_is_unchanged_and_old_versions_still_load():
    inputs = [ProjectInput("nlp", 50.0), ProjectInput("vision", 20.0)]
    assert FeatureSpace.fit(inputs, delivery_names=DELIVERY_FEATURE_NAMES).names == FeatureSpace().names
    legacy = {"indicator_artifacts": [], "names": FeatureSpace().names}  # saved before delivery features existed
    assert FeatureSpace.from_dict(legacy).delivery_features == ()

    with_data = [ProjectInput("nlp", 50.0, delivery=(("delivery_rework_rate", 0.25),)), ProjectInput("nlp", 30.0)]
    space = FeatureSpace.fit(with_data, delivery_names=DELIVERY_FEATURE_NAMES)
    assert space.delivery_features == ("delivery_rework_rate",)
    assert FeatureSpace.from_dict(space.to_dict()).names == space.names
    X = space.matrix(with_data)
    col = space.col("delivery_rework_rate")
    assert X[0, col] == 0.25 and np.isnan(X[1, col])
    assert X[0, col] == space.row(with_data[0].with_artifact(1, "dataset").with_members(()))[col]
