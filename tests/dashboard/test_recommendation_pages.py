"""Recommender pages on a small seeded tenant (committed for the module, like the recommendations API tests): the
what-if page answers exactly what the API answers, the model registry with its actions and permissions, the
project's similar projects and prediction vs actual, an artifact's impact, and the latest model on the home page."""

from __future__ import annotations

import re

import pytest

from apps.accounts.services import token_create
from apps.artifacts.models import Artifact
from apps.audit.models import AuditEvent
from apps.projects.models import Project
from apps.recommendations import caches, services
from apps.recommendations.models import ArtifactImpact, ModelEvent, Prediction, SuccessModel, TrainingRun
from tests.dashboard.helpers import json_script, signed_in, text
from tests.recommendations.support import LENIENT_GATE, seeded

pytestmark = pytest.mark.django_db

TEAM = [("ml_engineer", "mid", "4", "400"), ("analyst", "junior", "1", "300")]
SPEC = ("Classify card transactions by the risk of loan defaults using core banking ledgers. Calibrated "
        "probabilities are required.")  # fmt: skip


@pytest.fixture(scope="module")
def seeded_alpha(_session_tenants, django_db_blocker):
    alpha, _beta = _session_tenants
    with django_db_blocker.unblock(), seeded(alpha, projects=70, seed=11, gate=False) as result:
        yield result


@pytest.fixture(autouse=True)
def _lenient_gate(settings):
    """Trainings in these tests are on a few dozen demo projects; the skill gate is tested in test_skill.py."""
    settings.RECOMMENDATIONS_SKILL_MARGIN = LENIENT_GATE["RECOMMENDATIONS_SKILL_MARGIN"]
    settings.RECOMMENDATIONS_SKILL_ALPHA = LENIENT_GATE["RECOMMENDATIONS_SKILL_ALPHA"]


@pytest.fixture(autouse=True)
def _fresh_caches():
    yield
    caches.clear()


def _form(*, artifacts=(), team=TEAM, spec=SPEC, project_id=None, predict=False) -> dict:
    """The what-if form as the page posts it: team rows as parallel lists; ``predict`` is the Predict button (the
    lead asks, and the prediction is stored) rather than a live update."""
    data = {"spec": spec, "problem_class": "classification", "complexity_score": "60", "planned_duration_days": "150",
            "member_role": [row[0] for row in team], "member_level": [row[1] for row in team],
            "member_years": [row[2] for row in team], "member_hours": [row[3] for row in team],
            "artifact_ids": [str(pk) for pk in artifacts]}  # fmt: skip
    if project_id:
        data["project_id"] = str(project_id)
    if predict:
        data["predict"] = "1"
    return data


def _api_body(artifacts=(), team=TEAM) -> dict:
    return {
        "spec": SPEC, "problem_class": "classification", "complexity_score": 60, "planned_duration_days": 150,
        "team_members": [{"role": r, "experience_level": lv, "years_experience": float(y),
                          "contribution_hours": float(h)} for r, lv, y, h in team],
        "artifact_ids": list(artifacts),
    }  # fmt: skip


def test_what_if_shows_the_numbers_the_api_returns_for_the_same_input(tenant_a, seeded_alpha):
    person = signed_in(tenant_a)
    with tenant_a.context():
        artifact = Artifact.objects.filter(is_active=True).order_by("name").first()
        token = token_create(user=person_user(tenant_a), name="what-if").plaintext
    page = person.client.get("/what-if").content.decode()
    assert 'hx-post="/what-if/predict"' in page and f'value="{artifact.pk}"' in page
    html = person.client.post(
        "/what-if/predict", _form(artifacts=[artifact.pk], predict=True), HTTP_HX_REQUEST="true"
    ).content.decode()
    api = tenant_a.api(token).post("/api/v1/recommendations", _api_body([artifact.pk]), format="json").json()
    assert api["status"] == "ok"
    success = api["success"]
    shown = re.search(r'data-testid="predicted-success">([^<]+)<', html).group(1)
    assert shown == f"{success['predicted']:,.1f}"
    assert f"{success['lower']:,.1f} – {success['upper']:,.1f}" in text(html)
    suggested = html.split('data-testid="suggested-artifacts"', 1)[1].split("</ul>", 1)[0]
    assert [int(i) for i in re.findall(r'data-add-artifact="(\d+)"', suggested)] == [
        a["artifact_id"] for a in api["suggested_artifacts"]
    ]
    contributions = json_script(html, "contribution-chart-config")["data"]["datasets"][0]["data"]
    assert contributions == [f["contribution"] for f in api["feature_contributions"]["features"][:12]]
    similar = re.findall(r'<a href="/projects/(\d+)/">', html.split('data-testid="similar-projects"', 1)[1])
    assert [int(pk) for pk in similar] == [p["project_id"] for p in api["similar_projects"]]
    with tenant_a.context():
        stored = list(Prediction.objects.order_by("id").values_list("predicted_success", "request"))
    assert stored[-2][0] == stored[-1][0] == success["predicted"]  # both stored, same number


def person_user(ctx):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=ctx.admin_username)


def test_what_if_names_bad_fields_and_team_rows(tenant_a, seeded_alpha):
    client = signed_in(tenant_a).client
    html = client.post(
        "/what-if/predict", _form(spec="", team=[("ml_engineer", "mid", "4", "400"), ("analyst", "mid", "99", "1")])
    ).content.decode()
    assert "The prediction needs a few corrections" in html
    assert "Specification: This field is required." in html
    blank = client.post("/what-if/predict", _form(spec="   ")).content.decode()
    assert "Specification:" in blank
    rows = client.post("/what-if/predict", _form(team=[("ml_engineer", "mid", "99", "1")])).content.decode()
    assert "Team member 1: years experience: Ensure this value is less than or equal to 60." in text(rows)
    with tenant_a.context():
        assert not Prediction.objects.filter(request__spec="").exists()


def test_what_if_without_a_model_says_there_is_not_enough_data(tenant_b):
    html = signed_in(tenant_b).client.post("/what-if/predict", _form()).content.decode()
    assert 'data-status="insufficient_data"' in html and "Not enough data to predict" in html
    assert "the model needs 30" in html


def test_what_if_from_a_project_keeps_the_prediction_with_it_and_shows_it_against_the_actual(tenant_a, seeded_alpha):
    client = signed_in(tenant_a).client
    with tenant_a.context():
        project = Project.objects.create(
            name="Ledger risk", slug="test-ledger-risk", spec=SPEC, problem_class="classification", status="active"
        )
    page = client.get(f"/what-if?project={project.pk}").content.decode()
    assert f'name="project_id" value="{project.pk}"' in page and "Classify card transactions" in page
    assert 'hx-trigger="load, change' in page  # a project's proposal is predicted as soon as the page opens
    client.post("/what-if/predict", _form(project_id=project.pk, predict=True))
    with tenant_a.context():
        prediction = Prediction.objects.get(project=project)
        Project.objects.filter(pk=project.pk).update(status="completed", success_score=70.0)
        services.prediction_record_outcome(project.pk)
    detail = client.get(f"/projects/{project.pk}/").content.decode()
    shown = text(detail.split('data-testid="prediction"', 1)[1].split("</p>", 1)[0])
    assert f"Predicted {prediction.predicted_success:.1f}" in shown and "Actual 70.0" in shown
    inside = prediction.lower <= 70.0 <= prediction.upper
    assert ("inside the interval" if inside else "outside the interval") in shown


def test_project_similar_partial_lists_visible_similar_projects(tenant_a, seeded_alpha):
    with tenant_a.context():
        project = Project.objects.filter(status="completed").exclude(spec="").order_by("id").first()
        private = Project.objects.filter(status="completed").exclude(pk=project.pk).order_by("id").first()
        Project.objects.filter(pk=private.pk).update(visibility="private", owner=None)
    member = signed_in(tenant_a, role="member", username="recs-member").client
    html = member.get(f"/projects/{project.pk}/similar", HTTP_HX_REQUEST="true").content.decode()
    ids = [int(pk) for pk in re.findall(r'<a href="/projects/(\d+)/">', html)]
    assert len(ids) == 5 and project.pk not in ids and private.pk not in ids
    assert f'hx-get="/projects/{project.pk}/similar"' in member.get(f"/projects/{project.pk}/").content.decode()


def test_model_registry_shows_versions_metrics_charts_and_runs(tenant_a, seeded_alpha):
    html = signed_in(tenant_a, role="viewer", username="recs-viewer").client.get("/models").content.decode()
    with tenant_a.context():
        model = SuccessModel.objects.get(status="active")
    cv = json_script(html, "cv-chart-config")
    assert cv["data"]["labels"] == [f"v{model.version}"]
    assert cv["data"]["datasets"][0]["data"] == [model.cv_metrics["success"]["mae"]]
    assert cv["data"]["datasets"][1]["data"] == [model.cv_metrics["success"]["baseline_mae"]]
    importance = json_script(html, "importance-chart-config")
    top = max(model.feature_importances.items(), key=lambda item: item[1])
    assert importance["data"]["datasets"][0]["data"][0] == round(top[1] * 100, 2)
    assert not any(label.startswith("artifact_") for label in importance["data"]["labels"])  # readable names
    assert 'data-testid="training-runs"' in html
    assert ">Retrain now</button>" not in html and ">Promote</button>" not in html and ">Roll back</button>" not in html


def test_retrain_promote_and_rollback_are_for_leads_and_admins_with_a_reason(tenant_a, seeded_alpha):
    lead = signed_in(tenant_a, role="lead", username="recs-lead").client
    assert ">Retrain now</button>" in lead.get("/models").content.decode()
    response = lead.post("/models/retrain", {"force": "on"})
    assert response.status_code == 302
    with tenant_a.context():
        run = TrainingRun.objects.order_by("-id").first()
        active = SuccessModel.objects.get(status="active")
    assert (run.kind, run.params, run.requested_by.username) == ("train", {"force": True}, "recs-lead")
    refused = lead.post(f"/models/{active.pk}/rollback", follow=True).content.decode()  # no reason: nothing done
    assert "Give a reason" in refused
    with tenant_a.context():
        assert SuccessModel.objects.get(pk=active.pk).status == "active"
    member = signed_in(tenant_a, role="member", username="recs-member").client
    assert member.post(f"/models/{active.pk}/rollback", {"reason": "x"}).status_code == 403
    viewer = signed_in(tenant_a, role="viewer", username="recs-viewer").client
    assert viewer.post("/models/retrain").status_code == 403

    admin = signed_in(tenant_a).client
    with tenant_a.context():
        services.model_train(TrainingRun.objects.create(kind="train", params={"force": True}))
        candidate = SuccessModel.objects.exclude(pk=active.pk).get()
    assert ">Promote</button>" in admin.get("/models").content.decode()
    admin.post(f"/models/{candidate.pk}/promote", {"reason": "Newer data"})
    with tenant_a.context():
        candidate.refresh_from_db()
        assert candidate.status == "active"
        assert ModelEvent.objects.filter(model=candidate, action="promoted", reason="Newer data").exists()
        assert AuditEvent.objects.filter(action="model.promoted", object_id=str(candidate.pk)).exists()
    page = admin.post(f"/models/{candidate.pk}/rollback", {"reason": "Worse in review"}, follow=True)
    assert f"Model v{candidate.version} rolled back; v{active.version} now serves predictions." in page.content.decode()
    again = admin.post(f"/models/{candidate.pk}/rollback", {"reason": "again"}, follow=True).content.decode()
    assert "is not the active model" in again


def test_artifact_page_shows_impact_with_interval_or_not_enough_usage(tenant_a, seeded_alpha):
    client = signed_in(tenant_a).client
    with tenant_a.context():
        measured = ArtifactImpact.objects.filter(status="ok").select_related("artifact").first()
        unused = Artifact.objects.create(name="test-unused-artifact", type="prompt")
    html = client.get(f"/artifacts/{measured.artifact_id}/").content.decode()
    card = text(html.split('data-testid="impact"', 1)[1].split("</section>", 1)[0])
    sign = "+" if measured.impact > 0 else "−"
    assert f"{sign}{abs(measured.impact):.1f} points" in card
    assert f"from the {measured.n_projects} completed projects that use it" in card and "observational estimate" in card
    lonely = text(client.get(f"/artifacts/{unused.pk}/").content.decode().split('data-testid="impact"', 1)[1])
    assert lonely.startswith("> Impact on success Not enough usage yet.")


def test_home_shows_the_latest_model_against_its_baseline(tenant_a, seeded_alpha):
    html = signed_in(tenant_a).client.get("/").content.decode()
    with tenant_a.context():
        model = SuccessModel.objects.order_by("-version").first()
    shown = text(html.split('data-testid="latest-model"', 1)[1].split("</dl>", 1)[0])
    assert f"Version v{model.version}" in shown
    assert f"{model.cv_metrics['success']['mae']:.2f}" in shown
    assert f"{model.cv_metrics['success']['baseline_mae']:.2f}" in shown


def test_recommender_pages_run_a_bounded_number_of_queries(tenant_a, seeded_alpha, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = signed_in(tenant_a).client
    with tenant_a.context():
        project = Project.objects.filter(status="completed").order_by("id").first()
        artifact = ArtifactImpact.objects.filter(status="ok").first().artifact_id
    pages = {
        # each page with the top bar counts the notification bell's unread events (one query)
        "/what-if": 7,
        f"/what-if?project={project.pk}": 9,
        "/models": 15,
        f"/projects/{project.pk}/similar": 11,
        f"/artifacts/{artifact}/": 11,
        f"/projects/{project.pk}/": 14,  # + the cost unit, read only when the project has a compute cost
        "/": 13,
    }

    def counts() -> dict:
        found = {}
        for url in pages:
            with CaptureQueriesContext(connection) as captured:
                assert client.get(url).status_code == 200, url
            found[url] = len(captured.captured_queries)
        return found

    before = counts()
    with tenant_a.context():  # a second model version, another training run, more predictions
        services.model_train(TrainingRun.objects.create(kind="train", params={"force": True}))
    for _ in range(3):
        client.post("/what-if/predict", _form(project_id=project.pk, predict=True))
    for url, bound in pages.items():
        with django_assert_max_num_queries(bound, info=url):
            client.get(url)
    after = counts()  # caches warm up (the similarity index), so counts may drop, never grow
    assert all(after[url] <= before[url] for url in pages), (before, after)
    with django_assert_max_num_queries(22, info="predict"):
        client.post("/what-if/predict", _form())


# ---------------------------------------------------------------------------------------------- issue 22, item 4
def test_live_updates_are_previews_and_only_predict_stores_a_prediction(tenant_a, seeded_alpha):
    client = signed_in(tenant_a).client
    with tenant_a.context():
        before = Prediction.objects.count()
    for _ in range(3):  # what the page posts while the lead types
        live = client.post("/what-if/predict", _form(), HTTP_HX_REQUEST="true").content.decode()
    assert "live preview, not saved" in text(live) and "saved as prediction #" not in live
    with tenant_a.context():
        assert Prediction.objects.count() == before
    asked = client.post("/what-if/predict", _form(predict=True), HTTP_HX_REQUEST="true").content.decode()
    with tenant_a.context():
        assert Prediction.objects.count() == before + 1
        newest = Prediction.objects.order_by("-id").first().pk
    assert f"saved as prediction #{newest}" in text(asked)


def test_what_if_says_an_empty_team_and_a_meaningless_spec_are_outside_the_data(tenant_a, seeded_alpha):
    client = signed_in(tenant_a).client
    usual = client.post("/what-if/predict", _form()).content.decode()
    assert 'data-status="ok"' in usual and 'data-testid="what-if-warnings"' not in usual
    assert "What these numbers mean" in usual and "80 % interval:" in text(usual)  # the interval and confidence
    empty = client.post("/what-if/predict", _form(team=[])).content.decode()
    warnings = text(empty.split('data-testid="what-if-warnings"', 1)[1].split("</ul>", 1)[0])
    assert "No team members: every past project the model learned from had" in warnings
    assert "an empty team is outside its data" in warnings and "unlike any past project" not in warnings
    gibberish = client.post("/what-if/predict", _form(spec="x" * 10_000)).content.decode()
    warnings = text(gibberish.split('data-testid="what-if-warnings"', 1)[1].split("</ul>", 1)[0])
    assert re.search(r"This spec is unlike any past project \(the closest is \d+% similar\)", warnings)


def test_contribution_labels_read_does_not_use():
    from apps.recommendations.views import feature_labels

    labels = feature_labels(["artifact_7", "artifact_8"], {7: "RFM features", 8: "Churn prompt"}, [0.0, 1.0])
    assert labels == ["does not use RFM features", "uses Churn prompt"]


def test_required_roles_are_in_the_suggested_team_with_its_interval(tenant_a, seeded_alpha):
    client = signed_in(tenant_a).client
    data = _form(team=[("analyst", "junior", "1", "300")]) | {"required_roles": ["data_scientist", "ml_engineer"]}
    html = client.post("/what-if/predict", data).content.decode()
    team = text(html.split('data-testid="suggested-team"', 1)[1].split("</table>", 1)[0])
    assert "Data scientist" in team and "ML engineer" in team
    assert "Must include: Data scientist, ML engineer." in text(html)
    assert re.search(r"Its 80 % interval: [\d.]+ – [\d.]+; yours: [\d.]+ – [\d.]+\.", text(html))


def test_api_team_constraint_min_per_role_is_kept_and_checked(tenant_a, seeded_alpha):
    with tenant_a.context():
        token = token_create(user=person_user(tenant_a), name="min-per-role").plaintext
    api = tenant_a.api(token)
    body = _api_body(team=[("analyst", "junior", "1", "300")])
    body["constraints"] = {"min_per_role": {"data_scientist": 2, "ml_engineer": 1}, "max_team_size": 5}
    answer = api.post("/api/v1/recommendations", body, format="json").json()
    team = answer["suggested_team"]
    counts = {}
    for member in team["members"]:
        counts[member["role"]] = counts.get(member["role"], 0) + member["count"]
    assert counts.get("data_scientist", 0) >= 2 and counts.get("ml_engineer", 0) >= 1 and team["team_size"] <= 5
    assert team["constraints"]["min_per_role"] == {"data_scientist": 2, "ml_engineer": 1}
    assert team["lower"] <= team["predicted_success"] <= team["upper"]
    body["constraints"] = {"min_per_role": {"data_scientist": 1}, "allowed_roles": ["analyst"]}
    refused = api.post("/api/v1/recommendations", body, format="json")
    assert refused.status_code == 400 and "Required but not allowed: data_scientist" in refused.content.decode()
    body["constraints"] = {"min_per_role": {"data_scientist": 6}, "max_team_size": 4}
    refused = api.post("/api/v1/recommendations", body, format="json")
    assert refused.status_code == 400 and "The required roles need 6 people" in refused.content.decode()


def test_models_table_exports_as_csv(tenant_a, seeded_alpha):
    import csv
    import io

    response = signed_in(tenant_a).client.get("/models?format=csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    with tenant_a.context():
        versions = list(SuccessModel.objects.order_by("-version").values_list("version", "status", "cv_mae"))
    assert [(int(r["version"]), r["status"]) for r in rows] == [(v, s) for v, s, _mae in versions]
    assert abs(float(rows[0]["cv_mae"]) - versions[0][2]) < 1e-9
