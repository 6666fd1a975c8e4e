"""The tenant admin for runs: list columns, search, filters, inlines, and a delete that summarises the history."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.metrics import services
from apps.metrics.models import MetricPoint, Run, RunTag
from apps.metrics.validation import parse_log_batch
from tests.metrics.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(tenant_a):
    client = tenant_a.client()
    with tenant_a.context():  # sessions and users live in the tenant's schema
        client.force_login(get_user_model().objects.get(username=tenant_a.admin_username))
    return client


@pytest.fixture
def logged_run(tenant_a):
    with tenant_a.context():
        project = ProjectFactory(name="Churn model", slug="churn")
        run = services.run_create(
            user=None, project=project, name="xgb-tuned", params={"max_depth": "6"}, tags={"owner": "dana"}
        )
        batch = {"metrics": [{"key": "auc", "value": 0.5 + i / 1000, "step": i, "timestamp": i} for i in range(300)]}
        services.run_log_batch(run=run, batch=parse_log_batch(batch))
        services.run_create(user=None, project=ProjectFactory(name="Other"), name="unrelated", status="failed")
        return run


def test_changelist_columns_search_and_filters(admin_client, logged_run):
    page = admin_client.get("/admin/metrics/run/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "xgb-tuned" in html and "unrelated" in html and "Churn model" in html
    assert "Metric keys" in html
    found = admin_client.get("/admin/metrics/run/?q=churn").content.decode()
    assert "xgb-tuned" in found and "unrelated" not in found
    failed = admin_client.get("/admin/metrics/run/?status__exact=failed").content.decode()
    assert "unrelated" in failed and "xgb-tuned" not in failed


def test_change_page_shows_params_tags_and_latest_metrics_inline(admin_client, logged_run, tenant_a):
    page = admin_client.get(f"/admin/metrics/run/{logged_run.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    for text in ["max_depth", "dana", "Latest metric values", "auc", "0.7989999999999999"]:
        assert text in html, text
    assert re.search(r'field-step">\s*<p>299</p>', html)  # the latest point is the highest step
    # Tags are editable inline; params are not.
    form = {
        "project": logged_run.project_id,
        "name": "renamed",
        "status": "finished",
        "lifecycle_stage": "active",
        "start_time_0": timezone.now().strftime("%Y-%m-%d"),
        "start_time_1": "00:00:00",
        "end_time_0": "",
        "end_time_1": "",
        "params-TOTAL_FORMS": "1",
        "params-INITIAL_FORMS": "1",
        "tags-TOTAL_FORMS": "1",
        "tags-INITIAL_FORMS": "1",
        "latest_metrics-TOTAL_FORMS": "1",
        "latest_metrics-INITIAL_FORMS": "1",
    }
    with tenant_a.context():
        tag = RunTag.objects.get(run=logged_run)
        param_id = logged_run.params.get().pk
        latest_id = logged_run.latest_metrics.get().pk
    form.update(
        {
            "params-0-id": param_id,
            "params-0-run": logged_run.pk,
            "tags-0-id": tag.pk,
            "tags-0-run": logged_run.pk,
            "tags-0-key": "owner",
            "tags-0-value": "sam",
            "latest_metrics-0-id": latest_id,
            "latest_metrics-0-run": logged_run.pk,
        }
    )
    response = admin_client.post(f"/admin/metrics/run/{logged_run.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    with tenant_a.context():
        run = Run.objects.get(pk=logged_run.pk)
        assert run.name == "renamed" and run.status == "finished"
        assert RunTag.objects.get(run=run).value == "sam"
        assert run.params.get().value == "6"


def test_delete_confirmation_summarises_and_deletes_the_history(admin_client, logged_run, tenant_a):
    page = admin_client.get(f"/admin/metrics/run/{logged_run.pk}/delete/")
    assert page.status_code == 200
    assert "300 metric points, 1 params, 1 tags" in page.content.decode()
    response = admin_client.post(f"/admin/metrics/run/{logged_run.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    with tenant_a.context():
        assert not Run.objects.filter(pk=logged_run.pk).exists()
        assert MetricPoint.objects.count() == 0


def test_bulk_delete_action(admin_client, logged_run, tenant_a):
    with tenant_a.context():
        ids = list(Run.objects.values_list("pk", flat=True))
    confirm = admin_client.post(
        "/admin/metrics/run/", {"action": "delete_selected", "_selected_action": ids}
    ).content.decode()
    assert "300 metric points" in confirm
    admin_client.post("/admin/metrics/run/", {"action": "delete_selected", "_selected_action": ids, "post": "yes"})
    with tenant_a.context():
        assert Run.objects.count() == 0


def test_tenant_b_admin_does_not_list_tenant_a_runs(logged_run, tenant_b):
    client = tenant_b.client()
    with tenant_b.context():
        client.force_login(get_user_model().objects.get(username=tenant_b.admin_username))
    html = client.get("/admin/metrics/run/").content.decode()
    assert "xgb-tuned" not in html
    assert client.get(f"/admin/metrics/run/{logged_run.pk}/change/").status_code in (302, 404)
