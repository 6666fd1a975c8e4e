"""Projects over the API: CRUD, slugs, filters, ordering, pagination, completion scoring, scoring settings."""

from datetime import date, timedelta

import pytest

from apps.projects.models import Project, ScoringSettings
from apps.projects.services import project_create
from tests.projects.factories import ProjectFactory
from tests.projects.helpers import admin_actor, member_actor

pytestmark = pytest.mark.django_db


def _errors(response):
    return {error["field"]: error["message"] for error in response.json()["errors"]}


def test_create_generates_slug_owner_and_normalised_tags(admin, tenant_a):
    response = admin.api.post(
        "/api/v1/projects",
        {"name": "Churn Model — EU!", "problem_class": "classification", "tags": ["Tabular", " tabular", "EU"]},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "churn-model-eu"
    assert body["owner"] == admin.user_id and body["owner_username"] == "admin"
    assert body["tags"] == ["tabular", "eu"]
    assert body["status"] == "planned" and body["success_score"] is None
    with tenant_a.context():
        assert Project.objects.get(pk=body["id"]).slug == "churn-model-eu"


def test_slugs_are_collision_safe(admin):
    slugs = [admin.api.post("/api/v1/projects", {"name": "Demand forecast"}).json()["slug"] for _ in range(3)]
    assert slugs == ["demand-forecast", "demand-forecast-2", "demand-forecast-3"]
    # a name that slugifies to nothing still gets a slug
    assert admin.api.post("/api/v1/projects", {"name": "日本語"}).json()["slug"] == "project"


def test_explicit_duplicate_slug_is_a_400_naming_slug(admin):
    assert admin.api.post("/api/v1/projects", {"name": "A", "slug": "shared"}).status_code == 201
    response = admin.api.post("/api/v1/projects", {"name": "B", "slug": "shared"})
    assert response.status_code == 400
    assert "slug" in _errors(response)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"complexity_score": 0}, "complexity_score"),
        ({"complexity_score": 101}, "complexity_score"),
        ({"problem_class": "astrology"}, "problem_class"),
        ({"model_performance": 1.2}, "model_performance"),
        ({"business_impact": -1}, "business_impact"),
        ({"compute_cost": -5}, "compute_cost"),
        ({"tags": ["x" * 51]}, "tags[0]"),
        ({"start_date": "2026-05-01", "target_end_date": "2026-04-01"}, "target_end_date"),
        ({"success_score": 50}, "success_score"),
        ({"owner": 999999}, "owner"),
    ],
)
def test_invalid_fields_are_400_naming_the_field(admin, tenant_a, payload, field):
    response = admin.api.post("/api/v1/projects", {"name": "Bad", **payload})
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["status"] == 400 and field in _errors(response), body
    with tenant_a.context():
        assert not Project.objects.filter(name="Bad").exists()


def test_retrieve_update_delete(admin, tenant_a):
    created = admin.api.post("/api/v1/projects", {"name": "Vision QA", "problem_class": "vision"}).json()
    url = f"/api/v1/projects/{created['id']}"
    assert admin.api.get(url).json()["name"] == "Vision QA"
    patched = admin.api.patch(url, {"status": "active", "spec": "Detect defects", "slug": ""})
    assert patched.status_code == 200
    assert patched.json()["status"] == "active" and patched.json()["slug"] == "vision-qa"
    assert admin.api.delete(url).status_code == 204
    assert admin.api.get(url).status_code == 404
    with tenant_a.context():
        assert not Project.objects.filter(pk=created["id"]).exists()


def test_filters_search_and_ordering(admin, tenant_a):
    with tenant_a.context():
        ProjectFactory(name="Alpha churn", status="active", problem_class="classification", tags=["a", "b"],
                       complexity_score=10, start_date=date(2026, 1, 10))  # fmt: skip
        ProjectFactory(name="Beta forecast", status="planned", problem_class="forecasting", tags=["b"],
                       complexity_score=80, start_date=date(2026, 3, 1))  # fmt: skip
        ProjectFactory(name="Gamma nlp", status="completed", problem_class="nlp", tags=["c"], complexity_score=60,
                       success_score=88, start_date=date(2026, 5, 1))  # fmt: skip

    def names(query):
        response = admin.api.get(f"/api/v1/projects?{query}")
        assert response.status_code == 200, response.content
        return [item["name"] for item in response.json()["results"]]

    assert names("status=active,planned&ordering=name") == ["Alpha churn", "Beta forecast"]
    assert names("status=active&status=completed&ordering=name") == ["Alpha churn", "Gamma nlp"]
    assert names("problem_class=nlp") == ["Gamma nlp"]
    assert names("tags=a,c&ordering=name") == ["Alpha churn", "Gamma nlp"]
    assert names("tags_all=a,b") == ["Alpha churn"]
    assert names("complexity_min=50&ordering=-complexity_score") == ["Beta forecast", "Gamma nlp"]
    assert names("success_score_min=80") == ["Gamma nlp"]
    assert names("start_date_after=2026-02-01&start_date_before=2026-04-01") == ["Beta forecast"]
    assert names("search=forecast") == ["Beta forecast"]
    assert names("ordering=-start_date") == ["Gamma nlp", "Beta forecast", "Alpha churn"]
    bad = admin.api.get("/api/v1/projects?status=dreaming")
    assert bad.status_code == 400 and "status" in _errors(bad)


def test_owner_filter(admin, tenant_a):
    other = member_actor(tenant_a, "owner2")
    admin.api.post("/api/v1/projects", {"name": "Mine"})
    other.api.post("/api/v1/projects", {"name": "Theirs"})
    results = admin.api.get(f"/api/v1/projects?owner={other.user_id}").json()["results"]
    assert [item["name"] for item in results] == ["Theirs"]
    results = admin.api.get("/api/v1/projects?owner_username=admin").json()["results"]
    assert [item["name"] for item in results] == ["Mine"]


def test_pagination_is_stable_across_equal_sort_keys(admin, tenant_a):
    with tenant_a.context():
        ProjectFactory.create_batch(7, status="active", complexity_score=42)
    seen = []
    for page in (1, 2, 3):
        body = admin.api.get(f"/api/v1/projects?ordering=complexity_score&page_size=3&page={page}").json()
        assert body["count"] == 7
        seen += [item["id"] for item in body["results"]]
    assert len(seen) == 7 and len(set(seen)) == 7
    assert seen == sorted(seen)  # ties broken by the primary key


def test_complete_action_computes_score_with_tenant_weights(admin, tenant_a):
    project = admin.api.post("/api/v1/projects", {"name": "Scored", "status": "active"}).json()
    response = admin.api.post(
        f"/api/v1/projects/{project['id']}/complete",
        {"model_performance": 0.9, "business_impact": 60, "compute_cost": "10000.00"},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "completed"
    assert body["success_score"] == 70.0 and body["success_score_source"] == "computed"
    assert body["completion_date"] == date.today().isoformat()
    with tenant_a.context():
        assert Project.objects.get(pk=project["id"]).success_score == 70.0


def test_complete_uses_changed_tenant_weights(admin, tenant_a):
    response = admin.api.put(
        "/api/v1/settings/scoring",
        {"w_model_performance": 1, "w_business_impact": 1, "w_cost_efficiency": 0, "min_components": 2},
    )
    assert response.status_code == 200, response.content
    project = admin.api.post("/api/v1/projects", {"name": "Reweighted"}).json()
    body = admin.api.post(
        f"/api/v1/projects/{project['id']}/complete", {"model_performance": 0.5, "business_impact": 90}
    ).json()
    assert body["success_score"] == 70.0  # 100 × (0.5 + 0.9) / 2


def test_complete_without_enough_outcome_is_400_naming_missing_fields(admin, tenant_a):
    project = admin.api.post("/api/v1/projects", {"name": "Unscored", "status": "active"}).json()
    response = admin.api.post(f"/api/v1/projects/{project['id']}/complete", {"model_performance": 0.8})
    assert response.status_code == 400
    errors = _errors(response)
    assert set(errors) == {"business_impact", "compute_cost", "success_score"}
    assert errors["business_impact"] == "Needed to compute the success score."
    assert errors["success_score"] == (
        "To complete the project, enter its success score, or 1 more of the outcome (business impact or compute "
        "cost) so the score can be computed from 2 of them (1 given)."
    )
    with tenant_a.context():
        stored = Project.objects.get(pk=project["id"])
        assert stored.status == "active" and stored.model_performance is None


def test_complete_with_explicit_score_needs_no_outcome(admin):
    project = admin.api.post("/api/v1/projects", {"name": "Explicit"}).json()
    body = admin.api.post(f"/api/v1/projects/{project['id']}/complete", {"success_score": 42.5}).json()
    assert (body["success_score"], body["success_score_source"]) == (42.5, "explicit")


def test_complete_twice_is_refused(admin):
    project = admin.api.post("/api/v1/projects", {"name": "Done"}).json()
    admin.api.post(f"/api/v1/projects/{project['id']}/complete", {"success_score": 10})
    response = admin.api.post(f"/api/v1/projects/{project['id']}/complete", {"success_score": 20})
    assert response.status_code == 400 and "status" in _errors(response)


def test_completing_via_update_follows_the_same_rule(admin):
    project = admin.api.post("/api/v1/projects", {"name": "Patched"}).json()
    url = f"/api/v1/projects/{project['id']}"
    refused = admin.api.patch(url, {"status": "completed", "business_impact": 50})
    assert refused.status_code == 400
    assert set(_errors(refused)) == {"model_performance", "compute_cost", "success_score"}
    body = admin.api.patch(url, {"status": "completed", "business_impact": 50, "compute_cost": 0}).json()
    assert body["success_score"] == pytest.approx(100 * (0.4 * 0.5 + 0.2 * 1.0) / 0.6, abs=1e-3)
    # a computed score follows later edits of the outcome fields
    body = admin.api.patch(url, {"model_performance": 1.0}).json()
    assert body["success_score"] == pytest.approx(100 * (0.4 * 1 + 0.4 * 0.5 + 0.2 * 1) / 1.0)
    # an explicit score sticks until cleared
    assert admin.api.patch(url, {"success_score": 12}).json()["success_score"] == 12
    assert admin.api.patch(url, {"business_impact": 100}).json()["success_score"] == 12
    assert admin.api.patch(url, {"success_score": None}).json()["success_score"] == 100.0
    # leaving completed clears the score and completion date, keeps the outcome
    reopened = admin.api.patch(url, {"status": "active"}).json()
    assert reopened["success_score"] is None and reopened["completion_date"] is None
    assert reopened["business_impact"] == 100


def test_create_as_completed_computes_score(admin):
    body = admin.api.post(
        "/api/v1/projects",
        {"name": "Born done", "status": "completed", "model_performance": 0.5, "business_impact": 50,
         "completion_date": (date.today() - timedelta(days=3)).isoformat()},
    ).json()  # fmt: skip
    assert body["success_score"] == 50.0
    assert body["completion_date"] == (date.today() - timedelta(days=3)).isoformat()


def test_scoring_settings_read_by_all_changed_by_admins_only(admin, tenant_a):
    member = member_actor(tenant_a)
    defaults = member.api.get("/api/v1/settings/scoring").json()
    assert defaults["w_model_performance"] == 0.4 and defaults["min_components"] == 2
    assert defaults["updated_at"] is None  # documented as nullable: fuzzing holds responses to the schema
    schema = admin.api.get("/api/schema/?format=json").json()
    assert schema["components"]["schemas"]["ScoringSettings"]["properties"]["updated_at"]["nullable"] is True
    refused = member.api.put("/api/v1/settings/scoring", {"w_cost_efficiency": 1})
    assert refused.status_code == 403
    ok = admin.api.put("/api/v1/settings/scoring", {"w_cost_efficiency": 1, "cost_reference": 500})
    assert ok.status_code == 200 and ok.json()["w_cost_efficiency"] == 1 and ok.json()["updated_at"]
    with tenant_a.context():
        row = ScoringSettings.objects.get()
        assert (row.pk, row.w_cost_efficiency, row.cost_reference, row.w_business_impact) == (1, 1, 500, 0.4)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"w_model_performance": 0, "w_business_impact": 0, "w_cost_efficiency": 0}, "w_model_performance"),
        ({"w_cost_efficiency": 0, "min_components": 3}, "min_components"),
        ({"min_components": 4}, "min_components"),
        ({"cost_reference": 0}, "cost_reference"),
        ({"w_business_impact": -1}, "w_business_impact"),
    ],
)
def test_invalid_scoring_settings_are_400(admin, tenant_a, payload, field):
    response = admin.api.put("/api/v1/settings/scoring", payload)
    assert response.status_code == 400 and field in _errors(response), response.content
    with tenant_a.context():
        assert not ScoringSettings.objects.exists()


def test_scoring_settings_are_per_tenant(admin, tenant_a, tenant_b):
    admin.api.put("/api/v1/settings/scoring", {"w_cost_efficiency": 0.9})
    assert admin_actor(tenant_b).api.get("/api/v1/settings/scoring").json()["w_cost_efficiency"] == 0.2


def test_plan_project_limit_is_enforced(admin, tenant_a):
    tenant = tenant_a.tenant
    with tenant_a.context():
        existing = Project.objects.count()
    tenant.max_projects = existing + 1
    tenant.save(update_fields=["max_projects"])
    try:
        assert admin.api.post("/api/v1/projects", {"name": "Last one"}).status_code == 201
        refused = admin.api.post("/api/v1/projects", {"name": "One too many"})
        assert refused.status_code == 403
        assert refused.json()["code"] == "quota_exceeded" and "projects" in refused.json()["detail"]
        with tenant_a.context():
            assert Project.objects.count() == existing + 1
    finally:
        tenant.max_projects = 100_000
        tenant.save(update_fields=["max_projects"])


def test_unknown_fields_in_service_data_are_rejected(tenant_a):
    from django.core.exceptions import ValidationError

    with tenant_a.context(), pytest.raises(ValidationError) as caught:
        project_create(user=None, data={"name": "X", "usage_count": 3})
    assert "usage_count" in caught.value.message_dict


def test_anonymous_requests_are_refused(tenant_a):
    assert tenant_a.api().get("/api/v1/projects").status_code == 401
    assert tenant_a.api().post("/api/v1/projects", {"name": "x"}).status_code == 401


def test_slug_taken_between_check_and_insert_is_handled(tenant_a, monkeypatch):
    """Simulates a concurrent insert: the uniqueness check passes, the INSERT then hits the unique index."""
    from django.core.exceptions import ValidationError

    from apps.projects import services

    with tenant_a.context():
        ProjectFactory(name="Race", slug="race")
        monkeypatch.setattr(services, "unique_project_slug", lambda name, exclude_pk=None: "race")
        with pytest.raises(ValidationError):
            project_create(user=None, data={"name": "Race"})  # regenerates, collides every time, gives up cleanly
        monkeypatch.setattr(Project, "validate_unique", lambda self, exclude=None: None)
        with pytest.raises(ValidationError) as caught:
            project_create(user=None, data={"name": "Other", "slug": "race"})
        assert caught.value.message_dict == {"slug": ["The slug 'race' is taken."]}


def test_owner_username_follows_an_owner_change(admin, tenant_a):
    """The list annotates only the owner's username; a PATCH that changes the owner answers the new one."""
    member = member_actor(tenant_a)
    project = admin.api.post("/api/v1/projects", {"name": "Handover"}).json()
    assert project["owner_username"] == "admin"
    response = admin.api.patch(f"/api/v1/projects/{project['id']}", {"owner": member.user_id})
    assert response.status_code == 200, response.content
    with tenant_a.context():
        member_name = Project.objects.get(pk=project["id"]).owner.username
    assert member_name != "admin" and response.json()["owner_username"] == member_name
    listed = admin.api.get("/api/v1/projects?search=Handover").json()["results"]
    assert [(p["owner"], p["owner_username"]) for p in listed] == [(member.user_id, member_name)]
    assert admin.api.get(f"/api/v1/projects/{project['id']}").json()["owner_username"] == member_name
