"""Nested routes declare their parent (``access_parent_kwarg``): hidden parent → 404, insufficient level → 403."""

import pytest
from django.test import override_settings

from apps.access import policy
from apps.access.services import grant_set
from tests.support.access import make_principal, make_project, make_run_with_metric

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("extra_urls")]


@pytest.fixture
def extra_urls():
    with override_settings(ROOT_URLCONF="tests.access.urls_extra"):
        yield


def test_parent_project_from_the_url_is_checked(tenant_a):
    lead = make_principal(tenant_a, "lead")
    member = make_principal(tenant_a, "member")
    with tenant_a.context():
        open_project = make_project("Open Parent", owner=lead.user, visibility="tenant")
        hidden = make_project("Hidden Parent", owner=lead.user)
    api = tenant_a.api(member.token)
    assert api.get(f"/api/v1/test/projects/{open_project.pk}/runs").status_code == 200
    assert api.get(f"/api/v1/test/projects/{hidden.pk}/runs").status_code == 404
    assert api.get("/api/v1/test/projects/not-a-number/runs").status_code == 404
    assert api.post(f"/api/v1/test/projects/{hidden.pk}/runs").status_code == 404
    refused = api.post(f"/api/v1/test/projects/{open_project.pk}/runs")
    assert refused.status_code == 403 and "change" in refused.json()["detail"]
    with tenant_a.context():
        grant_set(actor=lead.user, obj=open_project, level=policy.CHANGE, user=member.user)
    assert api.post(f"/api/v1/test/projects/{open_project.pk}/runs").status_code == 201


def test_parent_found_by_another_model_and_field(tenant_a):
    lead = make_principal(tenant_a, "lead")
    service = make_principal(tenant_a, "service", scope="write")
    with tenant_a.context():
        project = make_project("Ingest Parent", owner=lead.user, visibility="tenant")
        run = make_run_with_metric(project)
    api = tenant_a.api(service.token)
    assert api.post(f"/api/v1/test/runs/{run.uuid}/metrics").status_code == 403
    assert api.post("/api/v1/test/runs/not-a-uuid/metrics").status_code == 404
    with tenant_a.context():
        grant_set(actor=lead.user, obj=project, level=policy.CHANGE, user=service.user)
    assert api.post(f"/api/v1/test/runs/{run.uuid}/metrics").status_code == 201


def test_extra_actions_map_each_method(tenant_a):
    from apps.access.declarations import api_routes, route_problems

    routes = [r for r in api_routes("tests.access.urls_extra") if "run-tools" in r.pattern]
    assert len(routes) == 2 and route_problems(routes) == []
    viewer = tenant_a.api(make_principal(tenant_a, "viewer").token)
    assert viewer.get("/api/v1/test/run-tools/params").json() == {"method": "GET"}
    assert viewer.post("/api/v1/test/run-tools/params").status_code == 403
    assert viewer.post("/api/v1/test/run-tools/search").status_code == 200
    member = tenant_a.api(make_principal(tenant_a, "member").token)
    assert member.post("/api/v1/test/run-tools/params").json() == {"method": "POST"}
