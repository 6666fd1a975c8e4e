"""Artifacts over the API: CRUD, read-only counters, filters, search, ordering."""

import pytest

from apps.artifacts.models import Artifact
from tests.artifacts.factories import ArtifactFactory

pytestmark = pytest.mark.django_db


def test_crud(admin, tenant_a):
    created = admin.api.post(
        "/api/v1/artifacts",
        {"name": "churn-features", "type": "feature_pipeline", "description": "RFM features", "tags": ["Retail"]},
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["usage_count"], body["impact_score"], body["owner"]) == (0, None, admin.user_id)
    assert body["tags"] == ["retail"]
    url = f"/api/v1/artifacts/{body['id']}"
    assert admin.api.patch(url, {"is_active": False}).json()["is_active"] is False
    assert admin.api.delete(url).status_code == 204
    with tenant_a.context():
        assert not Artifact.objects.filter(pk=body["id"]).exists()


def test_usage_count_and_impact_score_cannot_be_set_by_clients(admin, tenant_a):
    body = admin.api.post(
        "/api/v1/artifacts",
        {"name": "sneaky", "type": "prompt", "usage_count": 999, "impact_score": 0.99, "impact_updated_at": None},
    ).json()
    assert (body["usage_count"], body["impact_score"]) == (0, None)
    url = f"/api/v1/artifacts/{body['id']}"
    patched = admin.api.patch(url, {"usage_count": 5, "impact_score": 1.0, "description": "changed"}).json()
    assert (patched["usage_count"], patched["impact_score"], patched["description"]) == (0, None, "changed")
    put = admin.api.put(url, {"name": "sneaky", "type": "prompt", "usage_count": 7, "impact_score": 3}).json()
    assert (put["usage_count"], put["impact_score"]) == (0, None)
    with tenant_a.context():
        stored = Artifact.objects.get(pk=body["id"])
        assert (stored.usage_count, stored.impact_score) == (0, None)


def test_duplicate_name_and_bad_type_are_400(admin):
    admin.api.post("/api/v1/artifacts", {"name": "dup", "type": "schema"})
    response = admin.api.post("/api/v1/artifacts", {"name": "dup", "type": "schema"})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "name"
    response = admin.api.post("/api/v1/artifacts", {"name": "x", "type": "spreadsheet"})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "type"


def test_filters_search_and_ordering(admin, tenant_a):
    with tenant_a.context():
        a = ArtifactFactory(name="alpha-prompt", type="prompt", tags=["llm", "eu"], description="Summarise tickets")
        b = ArtifactFactory(name="beta-dataset", type="dataset", tags=["eu"], is_active=False)
        c = ArtifactFactory(name="gamma-model", type="model", tags=["vision"])
        Artifact.objects.filter(pk=a.pk).update(usage_count=5, impact_score=0.2)
        Artifact.objects.filter(pk=b.pk).update(usage_count=9, impact_score=0.7)
        Artifact.objects.filter(pk=c.pk).update(usage_count=1, impact_score=None)

    def names(query):
        response = admin.api.get(f"/api/v1/artifacts?{query}")
        assert response.status_code == 200, response.content
        return [item["name"] for item in response.json()["results"]]

    assert names("") == ["alpha-prompt", "beta-dataset", "gamma-model"]
    assert names("type=prompt,model") == ["alpha-prompt", "gamma-model"]
    assert names("tags=eu") == ["alpha-prompt", "beta-dataset"]
    assert names("tags_all=eu,llm") == ["alpha-prompt"]
    assert names("is_active=false") == ["beta-dataset"]
    assert names("search=tickets") == ["alpha-prompt"]
    assert names("ordering=-usage_count") == ["beta-dataset", "alpha-prompt", "gamma-model"]
    assert names("impact_min=0.5") == ["beta-dataset"]
    assert names("ordering=-created_at") == ["gamma-model", "beta-dataset", "alpha-prompt"]
    assert names("ordering=-name") == ["gamma-model", "beta-dataset", "alpha-prompt"]
