"""The delivery panel (server-rendered partial with Chart.js) and the tenant admin pages."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth import get_user_model

from apps.accounts.services import user_create
from apps.integrations.models import Commit, Integration
from tests.integrations.factories import ProjectFactory, make_integration
from tests.integrations.payloads import deliver_github
from tests.integrations.test_metrics import at, github_history

pytestmark = pytest.mark.django_db


def _login(ctx, username="admin"):
    client = ctx.client()
    with ctx.context():
        client.force_login(get_user_model().objects.get(username=username))
    return client


@pytest.fixture
def history_project(tenant_a):
    with tenant_a.context():
        project = ProjectFactory(name="Churn model")
        integration, secret = make_integration(project, created_at=at(1, 5))
    for event, payload in github_history():
        deliver_github(tenant_a.host, integration, secret, event, payload)
    return project


def test_panel_renders_metrics_and_chart_data_without_inline_scripts(tenant_a, history_project):
    url = f"/projects/{history_project.pk}/delivery-panel?from=2026-03-02&to=2026-03-29"
    response = _login(tenant_a).get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and "Churn model" in html
    cards = dict(
        re.findall(
            r'data-metric="(\w+)">\s*<div class="metric-label">[^<]+</div>\s*<div class="metric-value">([^<]+)<', html
        )
    )
    assert cards == {
        "commit_frequency": "1.75 commits/week",
        "active_contributors": "3",
        "pr_lead_time": "p50 42.0 h · p90 81.6 h",
        "review_turnaround": "p50 7.0 h · p90 19.8 h",
        "ci_pass_rate": "60.0 %",
        "ci_mean_duration": "12.0 min",
        "rework_rate": "42.9 % of commits",
        "bus_factor": "57.1 % of commits by the top contributor",
    }
    data = re.search(r'<script id="delivery-data-\d+" type="application/json">(.*?)</script>', html).group(1)
    assert json.loads(data)["series"]["commits"] == [3, 2, 1, 1]
    scripts = re.findall(r"<script([^>]*)>", html)
    assert all("src=" in attrs or 'type="application/json"' in attrs for attrs in scripts)
    assert any("vendor/chart.umd.min.js" in attrs for attrs in scripts)
    assert any("js/delivery-panel.js" in attrs for attrs in scripts)
    assert "cdn" not in html.lower()


def test_htmx_request_gets_only_the_partial(tenant_a, history_project):
    response = _login(tenant_a).get(f"/projects/{history_project.pk}/delivery-panel", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.strip().startswith("<section") or "<section" in html.split("\n", 3)[-1]


def test_panel_states_insufficient_data_and_missing_integration(tenant_a, history_project):
    client = _login(tenant_a)
    html = client.get(f"/projects/{history_project.pk}/delivery-panel?from=2026-03-04&to=2026-03-08").content.decode()
    assert "Insufficient data" in html and "1 merged pull requests; at least 3 are needed" in html
    with tenant_a.context():
        bare = ProjectFactory()
    html = client.get(f"/projects/{bare.pk}/delivery-panel").content.decode()
    assert 'data-status="no-integration"' in html and "<canvas" not in html


def test_panel_rejects_a_bad_period_naming_the_field(tenant_a, history_project):
    response = _login(tenant_a).get(f"/projects/{history_project.pk}/delivery-panel?from=2026-02-30")
    assert response.status_code == 400
    assert "from: &#x27;2026-02-30&#x27; is not a date" in response.content.decode()


def test_panel_access(tenant_a, tenant_b, history_project):
    anonymous = tenant_a.client().get(f"/projects/{history_project.pk}/delivery-panel")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    with tenant_a.context():
        user_create(username="viewer2", email="v2@x.test", password="a-long-password-1", role="viewer")
        private = ProjectFactory(visibility="private")
    viewer = _login(tenant_a, "viewer2")
    assert viewer.get(f"/projects/{history_project.pk}/delivery-panel").status_code == 200
    assert viewer.get(f"/projects/{private.pk}/delivery-panel").status_code == 404
    # Tenant B's admin on B's host: A's project does not exist there.
    other = _login(tenant_b).get(f"/projects/{history_project.pk}/delivery-panel")
    assert other.status_code == 404 and "Churn model" not in other.content.decode()


def test_tenant_admin_lists_searches_and_reprocesses(tenant_a, history_project):
    client = _login(tenant_a)
    with tenant_a.context():
        integration = Integration.objects.get(project=history_project)
        Commit.objects.filter(integration=integration).update(author_key="tampered")
    pages = {
        "/admin/integrations/integration/?provider__exact=github&q=acme": "acme/churn-model",
        "/admin/integrations/webhookdelivery/?status__exact=processed": "workflow_run",
        "/admin/integrations/commit/?q=Revert": "Bob",
        "/admin/integrations/pullrequest/?state__exact=merged": "Feature 4",
        "/admin/integrations/cirun/?outcome__exact=failure": "workflow_run:5",
    }
    for url, expected in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        assert expected in response.content.decode(), url
    assert client.get("/admin/integrations/integration/add/").status_code == 403
    assert "secret_salt" not in client.get(f"/admin/integrations/integration/{integration.pk}/change/").content.decode()
    response = client.post(
        "/admin/integrations/integration/",
        {"action": "reprocess", "_selected_action": [integration.pk]},
        follow=True,
    )
    assert "30 processed, 0 ignored, 0 failed" in response.content.decode()
    with tenant_a.context():
        assert not Commit.objects.filter(integration=integration, author_key="tampered").exists()
