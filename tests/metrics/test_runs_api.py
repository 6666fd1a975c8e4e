"""Runs CRUD, filters and ordering, params (immutable), tags (last write wins) — and tenant isolation."""

from datetime import UTC, datetime, timedelta

import pytest

from apps.metrics.models import Run, RunParam, RunTag
from tests.metrics.factories import ProjectFactory, RunFactory

pytestmark = pytest.mark.django_db


def test_create_run_with_params_and_tags(api_a, project_a, tenant_a):
    response = api_a.post(
        "/api/v1/runs",
        {"project": project_a.pk, "name": "bert-base", "params": {"lr": "0.001"}, "tags": {"team": "nlp"}},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "bert-base" and body["status"] == "running" and body["project"] == project_a.pk
    assert body["params"] == {"lr": "0.001"} and body["tags"] == {"team": "nlp"} and body["metrics"] == {}
    assert len(body["uuid"]) == 32 and body["created_by"] == "admin" and body["end_time"] is None
    with tenant_a.context():
        run = Run.objects.get(pk=body["id"])
        assert run.created_by.username == "admin"
        assert RunParam.objects.get(run=run).value == "0.001"
        assert RunTag.objects.get(run=run).value == "nlp"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "no project"}, "project"),
        ({"project": 999_999}, "project"),
        ({"project": 10**30}, "project"),
        ({"project": "abc"}, "project"),
        ({"status": "exploded"}, "status"),
        ({"name": "x" * 251}, "name"),
        ({"params": {"bad key!": "1"}}, "params"),
        ({"params": {"lr": "x" * 6001}}, "params.lr"),
        ({"start_time": "2026-01-02T00:00:00Z", "end_time": "2026-01-01T00:00:00Z"}, "end_time"),
    ],
)
def test_create_run_validation_names_the_field(api_a, project_a, tenant_a, payload, field):
    data = payload if field == "project" else {"project": project_a.pk, **payload}
    response = api_a.post("/api/v1/runs", data, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["errors"][0]["field"] == field, body
    with tenant_a.context():
        assert Run.objects.count() == 0


def test_terminal_status_sets_end_time_and_update_validates(api_a, run_a):
    url = f"/api/v1/runs/{run_a['id']}"
    response = api_a.patch(url, {"status": "finished", "name": "renamed"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "finished" and response.json()["name"] == "renamed"
    assert response.json()["end_time"] is not None
    bad = api_a.patch(url, {"end_time": "2000-01-01T00:00:00Z"}, format="json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "end_time"
    assert api_a.patch(url, {"status": "nope"}, format="json").json()["errors"][0]["field"] == "status"
    put = api_a.put(url, {"name": "put-name"}, format="json")
    assert put.status_code == 200 and put.json()["name"] == "put-name"


def test_delete_run_removes_its_history(api_a, run_a, tenant_a):
    url = f"/api/v1/runs/{run_a['id']}"
    batch = {"metrics": [{"key": "loss", "value": float(i), "step": i, "timestamp": i} for i in range(50)]}
    assert api_a.post(f"{url}/log-batch", batch, format="json").status_code == 200
    assert api_a.delete(url).status_code == 204
    assert api_a.get(url).status_code == 404
    with tenant_a.context():
        from apps.metrics.models import LatestMetric, MetricPoint

        assert not Run.objects.filter(pk=run_a["id"]).exists()
        assert MetricPoint.objects.filter(run_id=run_a["id"]).count() == 0
        assert LatestMetric.objects.filter(run_id=run_a["id"]).count() == 0


def test_list_filters_and_ordering(api_a, tenant_a):
    base = datetime(2026, 3, 1, tzinfo=UTC)
    with tenant_a.context():
        p1, p2 = ProjectFactory(), ProjectFactory()
        RunFactory(project=p1, name="alpha-bert", status="finished", start_time=base)
        RunFactory(project=p1, name="beta-bert", status="failed", start_time=base + timedelta(days=1))
        RunFactory(project=p2, name="gamma-resnet", status="running", start_time=base + timedelta(days=2))
        RunFactory(
            project=p2, name="delta", status="finished", start_time=base + timedelta(days=3), lifecycle_stage="deleted"
        )

    def names(query: str) -> list[str]:
        response = api_a.get(f"/api/v1/runs{query}")
        assert response.status_code == 200, response.content
        return [run["name"] for run in response.json()["results"]]

    assert names("") == ["gamma-resnet", "beta-bert", "alpha-bert"]  # newest first; deleted runs are hidden
    assert names(f"?project={p1.pk}") == ["beta-bert", "alpha-bert"]
    assert names("?status=finished&status=failed") == ["beta-bert", "alpha-bert"]
    assert names("?name=BERT") == ["beta-bert", "alpha-bert"]
    assert names("?start_time_after=2026-03-02T00:00:00Z") == ["gamma-resnet", "beta-bert"]
    assert names("?start_time_before=2026-03-01T12:00:00Z") == ["alpha-bert"]
    assert names("?ordering=name") == ["alpha-bert", "beta-bert", "gamma-resnet"]
    assert names("?ordering=-status") == ["gamma-resnet", "alpha-bert", "beta-bert"]
    assert names("?search=resnet") == ["gamma-resnet"]
    assert api_a.get("/api/v1/runs?project=99999999999999999999999").status_code == 400
    assert api_a.get("/api/v1/runs?status=bogus").status_code == 400


def test_list_uses_a_bounded_number_of_queries(api_a, tenant_a, django_assert_max_num_queries):
    with tenant_a.context():
        project = ProjectFactory()
        for i in range(30):
            run = RunFactory(project=project)
            RunParam.objects.create(run=run, key="lr", value=str(i))
            RunTag.objects.create(run=run, key="team", value="x")
    # Constant in the number of runs: routing, token, count, runs, params, tags, latest metrics, and django-tenants'
    # two SET search_path statements (public for routing, then the tenant's).
    with django_assert_max_num_queries(9):
        response = api_a.get("/api/v1/runs?page_size=30")
    assert len(response.json()["results"]) == 30
    assert all(run["params"]["lr"] and run["tags"] == {"team": "x"} for run in response.json()["results"])


def test_huge_and_malformed_ids_are_404_not_500(api_a):
    for path in ["/api/v1/runs/99999999999999999999999999", "/api/v1/runs/9223372036854775808", "/api/v1/runs/0"]:
        assert api_a.get(path).status_code == 404, path
        assert api_a.post(f"{path}/log-batch", {}, format="json").status_code == 404
        assert api_a.get(f"{path}/metrics/loss/history").status_code == 404
    assert api_a.get("/api/v1/runs/abc").status_code == 404


def test_params_are_immutable(api_a, run_a, tenant_a):
    url = f"/api/v1/runs/{run_a['id']}/params"
    first = api_a.post(url, {"key": "lr", "value": "0.01"}, format="json")
    assert first.status_code == 201 and first.json() == {"key": "lr", "value": "0.01", "created": True}
    again = api_a.post(url, {"key": "lr", "value": "0.01"}, format="json")
    assert again.status_code == 200 and again.json()["created"] is False
    changed = api_a.post(url, {"key": "lr", "value": "0.02"}, format="json")
    assert changed.status_code == 400
    assert changed.json()["errors"][0]["field"] == "value" and "'lr'" in changed.json()["detail"]
    assert api_a.get(url).json() == {"lr": "0.01"}
    with tenant_a.context():
        assert RunParam.objects.get(run_id=run_a["id"], key="lr").value == "0.01"
    bad = api_a.post(url, {"key": "../etc", "value": "1"}, format="json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "key"


def test_tags_last_write_wins_and_delete(api_a, run_a, tenant_a):
    url = f"/api/v1/runs/{run_a['id']}/tags"
    assert api_a.post(url, {"key": "stage/name", "value": "a"}, format="json").status_code == 201
    second = api_a.post(url, {"key": "stage/name", "value": "b"}, format="json")
    assert second.status_code == 200 and second.json()["value"] == "b"
    assert api_a.post(url, {"key": "note", "value": ""}, format="json").status_code == 201
    assert api_a.get(url).json() == {"note": "", "stage/name": "b"}
    assert api_a.delete(f"{url}/stage/name").status_code == 204
    assert api_a.delete(f"{url}/stage/name").status_code == 404
    assert api_a.delete(f"{url}/note/").status_code == 204
    with tenant_a.context():
        assert not RunTag.objects.filter(run_id=run_a["id"]).exists()
    assert api_a.post(url, {"key": "t", "value": "x" * 8001}, format="json").json()["errors"][0]["field"] == "value"


def test_run_of_tenant_a_is_invisible_to_tenant_b(api_a, api_b, run_a, project_b):
    run_id = run_a["id"]
    assert api_b.get(f"/api/v1/runs/{run_id}").status_code == 404
    assert api_b.get("/api/v1/runs").json()["count"] == 0
    assert api_b.patch(f"/api/v1/runs/{run_id}", {"name": "x"}, format="json").status_code == 404
    assert api_b.delete(f"/api/v1/runs/{run_id}").status_code == 404
    assert api_b.post(f"/api/v1/runs/{run_id}/params", {"key": "a", "value": "b"}, format="json").status_code == 404
    assert api_b.post(f"/api/v1/runs/{run_id}/tags", {"key": "a", "value": "b"}, format="json").status_code == 404
    # B cannot create a run in A's project either: project ids are resolved inside B's schema.
    response = api_b.post("/api/v1/runs", {"project": run_a["project"] + 1000}, format="json")
    assert response.status_code == 400
    assert api_a.get(f"/api/v1/runs/{run_id}").json()["name"] == "baseline"


def test_anonymous_requests_are_refused(tenant_a, run_a):
    anonymous = tenant_a.api()
    assert anonymous.get("/api/v1/runs").status_code == 401
    assert anonymous.post(f"/api/v1/runs/{run_a['id']}/log-batch", {}, format="json").status_code == 401
    assert anonymous.post("/api/v1/runs/search", {}, format="json").status_code == 401
    assert anonymous.get(f"/api/v1/metrics/history?runs={run_a['id']}&key=a").status_code == 401


def test_run_representation_matches_declared_fields(api_a, run_a, tenant_a):
    """RunSerializer builds its output by hand for speed; it must stay what the schema declares and what DRF's
    fields would produce."""
    from rest_framework import serializers

    from apps.metrics.api.serializers import RunSerializer
    from apps.metrics.selectors import run_data_attach

    api_a.patch(f"/api/v1/runs/{run_a['id']}", {"status": "finished"}, format="json")
    with tenant_a.context():
        run = run_data_attach([Run.objects.select_related("created_by").get(pk=run_a["id"])])[0]
    data = RunSerializer(run).data
    assert set(data) == set(RunSerializer().fields)
    for name in ["start_time", "end_time", "created_at"]:
        assert data[name] == serializers.DateTimeField().to_representation(getattr(run, name))
    assert data["end_time"].endswith("Z")
