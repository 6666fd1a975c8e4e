"""Tenant-defined project attributes: defined by admins, validated on the API (400 naming ``attributes.<key>``,
nothing written), shown in the project form, invisible to other tenants, and features of the success model."""

from __future__ import annotations

import numpy as np
import pytest

from apps.projects.models import MAX_PROJECT_ATTRIBUTES, Project, ProjectAttribute
from apps.recommendations.ml.features import FeatureSpace, Member, ProjectInput
from apps.recommendations.ml.training import TrainingConfig, TrainingSet, train
from tests.recommendations.support import admin_token, user_with_token

pytestmark = pytest.mark.django_db

DEFINITIONS = [
    {"key": "data_readiness", "label": "Data readiness", "kind": "number", "min_value": 0, "max_value": 5},
    {"key": "has_sponsor", "label": "Executive sponsor", "kind": "boolean"},
    {"key": "domain", "label": "Domain", "kind": "category", "choices": ["risk", "marketing", "operations"]},
]


def _admin(ctx, name="attr-admin"):
    return ctx.api(user_with_token(ctx, name, "admin", scope="admin")[1])


def _define(api) -> None:
    for body in DEFINITIONS:
        response = api.post("/api/v1/project-attributes", body, format="json")
        assert response.status_code == 201, response.content


def test_admins_define_attributes_others_read_them_and_other_tenants_see_nothing(tenant_a, tenant_b):
    admin = _admin(tenant_a)
    member = tenant_a.api(user_with_token(tenant_a, "attr-member", "member", scope="admin")[1])
    assert member.post("/api/v1/project-attributes", DEFINITIONS[0], format="json").status_code == 403
    _define(admin)
    listed = member.get("/api/v1/project-attributes").json()
    assert [a["key"] for a in listed["results"]] == ["data_readiness", "domain", "has_sponsor"]
    assert tenant_b.api(admin_token(tenant_b)).get("/api/v1/project-attributes").json()["count"] == 0
    bad = [
        ({"key": "Bad Key", "label": "x", "kind": "number"}, "key"),
        ({"key": "colour", "label": "x", "kind": "category"}, "choices"),
        ({"key": "colour", "label": "x", "kind": "category", "choices": ["a", "a"]}, "choices"),
        ({"key": "flag", "label": "x", "kind": "boolean", "min_value": 1}, "min_value"),
        ({"key": "domain", "label": "again", "kind": "number"}, "key"),
    ]
    for body, field in bad:
        response = admin.post("/api/v1/project-attributes", body, format="json")
        assert response.status_code == 400 and field in [e["field"] for e in response.json()["errors"]], body
    domain = ProjectAttribute.objects.get(key="domain")
    changed = admin.patch(f"/api/v1/project-attributes/{domain.pk}", {"kind": "number"}, format="json")
    assert changed.status_code == 400 and changed.json()["errors"][0]["field"] == "kind"
    for i in range(MAX_PROJECT_ATTRIBUTES - len(DEFINITIONS)):
        admin.post("/api/v1/project-attributes", {"key": f"extra_{i}", "label": "x", "kind": "number"}, format="json")
    over = admin.post("/api/v1/project-attributes", {"key": "one_more", "label": "x", "kind": "number"}, format="json")
    assert over.status_code == 400 and ProjectAttribute.objects.count() == MAX_PROJECT_ATTRIBUTES


def test_project_attribute_values_are_validated_stored_and_removed_with_their_definition(tenant_a):
    api = _admin(tenant_a)
    _define(api)
    body = {"name": "With attributes", "attributes": {"data_readiness": 3.5, "has_sponsor": True, "domain": "risk"}}
    created = api.post("/api/v1/projects", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["attributes"] == {"data_readiness": 3.5, "has_sponsor": True, "domain": "risk"}
    before = Project.objects.count()
    for attributes, field in [
        ({"data_readiness": 9}, "attributes.data_readiness"),
        ({"data_readiness": "high"}, "attributes.data_readiness"),
        ({"has_sponsor": "yes"}, "attributes.has_sponsor"),
        ({"domain": "astrology"}, "attributes.domain"),
        ({"budget": 1}, "attributes.budget"),
    ]:
        response = api.post("/api/v1/projects", {"name": "Bad", "attributes": attributes}, format="json")
        assert response.status_code == 400, response.content
        assert field in [e["field"] for e in response.json()["errors"]], response.json()
    assert Project.objects.count() == before
    pk = created.json()["id"]
    recommendation = api.post(
        "/api/v1/recommendations",
        {"spec": "x y", "problem_class": "nlp", "complexity_score": 5, "attributes": {"domain": "nope"}},
        format="json",
    )
    assert recommendation.status_code == 400 and recommendation.json()["errors"][0]["field"] == "attributes.domain"
    domain = ProjectAttribute.objects.get(key="domain")
    assert api.delete(f"/api/v1/project-attributes/{domain.pk}").status_code == 204
    assert Project.objects.get(pk=pk).attributes == {"data_readiness": 3.5, "has_sponsor": True}


def test_the_project_form_shows_and_saves_the_attributes(tenant_a):
    _define(_admin(tenant_a))
    client = tenant_a.client()
    client.post("/accounts/login/", {"username": "admin", "password": tenant_a.admin_password})
    page = client.get("/projects/new").content.decode()
    assert 'data-testid="project-attributes"' in page and "Data readiness" in page and "Executive sponsor" in page
    response = client.post("/projects/new", {
        "name": "Form project", "problem_class": "nlp", "status": "planned", "complexity_score": 40,
        "visibility": "tenant", "attr__data_readiness": "2", "attr__has_sponsor": "no", "attr__domain": "marketing",
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    project = Project.objects.get(name="Form project")
    assert project.attributes == {"data_readiness": 2.0, "has_sponsor": False, "domain": "marketing"}


def test_attributes_become_features_the_model_learns_from():
    rng = np.random.default_rng(4)
    inputs, success = [], []
    for _ in range(200):
        domain = ["risk", "marketing", "operations"][int(rng.integers(0, 3))]
        readiness = float(rng.integers(0, 6))
        attributes = (("data_readiness", readiness), ("domain", domain))
        inputs.append(ProjectInput("nlp", 50.0, 100.0, (Member("ml_engineer", "mid", 3, 100),), attributes=attributes))
        success.append(50 + 4 * readiness + (8 if domain == "risk" else 0) + rng.normal(0, 2))
    defs = (("data_readiness", "number", ()), ("domain", "category", ("risk", "marketing", "operations")),
            ("unused", "boolean", ()))  # fmt: skip
    n = len(inputs)
    ts = TrainingSet(
        project_ids=np.arange(1, n + 1), inputs=inputs, embeddings=np.zeros((n, 4), np.float32),
        has_embedding=np.zeros(n, bool), success=np.array(success), duration_days=np.full(n, np.nan),
        compute_cost=np.full(n, np.nan), attribute_defs=defs,
    )  # fmt: skip
    bundle = train(ts, TrainingConfig(num_boost_round=100))
    assert "attr_data_readiness" in bundle.space.names and "attr_domain" in bundle.space.names
    assert "attr_unused" not in bundle.space.names  # no training project has a value
    assert bundle.space.col("attr_domain") in bundle.space.categorical_cols
    assert bundle.importances["attr_data_readiness"] + bundle.importances["attr_domain"] > 0.8
    assert bundle.gate["passed"]
    assert FeatureSpace.from_dict(bundle.space.to_dict()).names == bundle.space.names
