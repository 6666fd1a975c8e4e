"""The skill gate through the API: a tenant whose model does not beat the historical mean gets an explicit
``insufficient_skill`` with the baseline and the validation figures, never a normal-looking prediction."""

from __future__ import annotations

import pytest

from apps.recommendations import selectors
from apps.recommendations.api.serializers import RecommendationInsufficientSerializer
from apps.recommendations.models import ModelEvent, Prediction, SuccessModel
from tests.recommendations.support import admin_token, assert_documented, seeded, user_with_token

PROPOSAL = {
    "spec": "Forecast weekly demand for store products across all stores.",
    "problem_class": "forecasting",
    "complexity_score": 60,
    "team_members": [{"role": "analyst", "experience_level": "junior", "years_experience": 1,
                      "contribution_hours": 300}],
}  # fmt: skip


@pytest.fixture(scope="module")
def weak_beta(_session_tenants, django_db_blocker):
    """40 demo projects (about 32 completed): enough to train, too few to learn the ground truth."""
    _alpha, beta = _session_tenants
    with django_db_blocker.unblock(), seeded(beta, projects=40, seed=7) as result:
        yield result


def test_weak_signal_at_40_projects_answers_insufficient_skill_with_the_baseline(tenant_b, weak_beta):
    with tenant_b.context():
        model = SuccessModel.objects.get()
        assert model.status == "candidate" and not model.passes_gate and model.n_samples >= 30
        assert ModelEvent.objects.get(model=model).action == "kept"
    response = tenant_b.api(admin_token(tenant_b)).post("/api/v1/recommendations", PROPOSAL, format="json")
    data = response.json()
    assert response.status_code == 200 and data["status"] == "insufficient_skill", data.get("detail")
    assert_documented(RecommendationInsufficientSerializer, data)
    gate = data["validation"]["gate"]
    assert gate["evaluation"] == "forward" and gate["passed"] is False and gate["n"] >= 10
    assert gate["skill"] < gate["margin"] or gate["p_value"] >= gate["alpha"]
    assert data["validation"]["learning_curve"] and "more_projects" in data["validation"]["projects_needed"]
    assert data["baseline"]["n_completed"] == model.n_samples and data["baseline"]["historical_mean"] is not None
    assert "success" not in data and "suggested_artifacts" not in data
    with tenant_b.context():
        stored = Prediction.objects.get(pk=data["prediction_id"])
        assert stored.status == "insufficient_skill" and stored.predicted_success is None
        assert selectors.model_state()["status"] == "insufficient_skill"


def test_a_model_failing_the_gate_cannot_be_promoted_by_hand(tenant_b, weak_beta):
    with tenant_b.context():
        model = SuccessModel.objects.get()
    api = tenant_b.api(user_with_token(tenant_b, "recs-admin-gate", "admin", scope="admin")[1])
    response = api.post(f"/api/v1/models/{model.pk}/promote", {"reason": "try anyway"}, format="json")
    assert response.status_code == 400 and "skill gate" in response.json()["detail"]
    with tenant_b.context():
        assert SuccessModel.objects.get(pk=model.pk).status == "candidate"


def test_the_models_page_says_the_state_how_many_more_projects_and_draws_the_learning_curve(tenant_b, weak_beta):
    from tests.dashboard.helpers import json_script, signed_in

    with tenant_b.context():
        model = SuccessModel.objects.get()
    html = signed_in(tenant_b, role="viewer", username="recs-viewer-skill").client.get("/models").content.decode()
    assert 'data-testid="model-state" data-state="insufficient_skill"' in html
    assert "does not predict reliably better than the historical mean" in html
    needed = model.validation["projects_needed"]
    if needed.get("more_projects") is not None:
        assert f"About {needed['more_projects']} more completed projects" in html
    else:
        assert needed["reason"][1:] in html
    curve = json_script(html, "learning-chart-config")
    assert curve["data"]["labels"] == [str(p["size"]) for p in model.validation["learning_curve"]]
