"""Every dashboard page reads a bounded number of queries, however much data the tenant has: each page is
measured with a small data set and again with several times more rows, and must stay under the same bound.

Counts include django-tenants' ``SET search_path`` statements: with TENANT_LIMIT_SET_CALLS on, a request sets it when
the schema changes — public for the domain lookup, then the tenant's — so two per page. Common to every signed-in page:
the domain lookup, the session and the user (3 statements), and the top bar's notification count (1)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.access.services import grant_set
from apps.accounts.services import token_create
from apps.artifacts.models import ArtifactUsage
from apps.metrics import services
from apps.metrics.validation import parse_log_batch
from apps.webhooks.services import subscription_create
from tests.artifacts.factories import ArtifactFactory, ArtifactVersionFactory
from tests.dashboard.helpers import signed_in
from tests.metrics.factories import RunFactory, points
from tests.projects.factories import ProjectFactory, TeamMemberFactory, UserFactory

pytestmark = pytest.mark.django_db

# page → most queries it may run (statements and the two search_path statements, as captured). Pages paginated by
# CappedCountPaginator (projects, audit) include its planner estimate (EXPLAIN) before the capped count.
BOUNDS = {
    "home": 13,
    "projects": 10,
    "project": 13,
    "project_edit": 9,  # one of them reads the organisation's project attribute definitions (the form's fields)
    "project_create": 8,  # + the organisation's project attribute definitions (the form's fields)
    "runs": 8,
    "run": 11,
    "compare": 14,
    "artifacts": 8,
    "artifact": 11,
    "artifact_create": 6,
    "artifact_edit": 7,
    "tokens": 7,
    "manage_users": 8,
    "manage_user": 9,
    "manage_groups": 7,
    "manage_group": 9,
    "manage_tokens": 10,
    "grants": 12,
    "grants_search": 8,
    "audit": 9,
    "audit_export": 7,
    "password_change": 6,
    "webhooks": 7,
    "webhook": 9,
    "notifications": 9,
}


def _seed(ctx, scale: int) -> dict:
    with ctx.context():
        admin = get_user_model().objects.get(username=ctx.admin_username)
        subscription = subscription_create(
            user=admin,
            data={"name": f"hook-{scale}", "url": "https://hooks.example.com/", "event_types": ["run.finished"]},
        ).subscription
        versions = [ArtifactVersionFactory(artifact=ArtifactFactory()) for _ in range(2 * scale)]
        project = None
        for index in range(5 * scale):
            project = ProjectFactory(owner=UserFactory())
            TeamMemberFactory.create_batch(3, project=project, user=UserFactory())
            for version in versions[:3]:
                ArtifactUsage.objects.create(
                    project=project, artifact_version=version, artifact=version.artifact, used_by=admin
                )
            for run_index in range(2):
                run = RunFactory(project=project, name=f"run-{index}-{run_index}")
                batch = points("loss", [1.0, 0.5, 0.25]) + points("acc", [0.1, 0.2, 0.3])
                params = [{"key": f"p{k}", "value": str(k)} for k in range(6)]
                services.run_log_batch(run=run, batch=parse_log_batch({"metrics": batch, "params": params}))
                services.run_update(run=run, status="finished")  # an event: a delivery and a notification
        runs = list(project.runs.values_list("pk", flat=True))
        group = Group.objects.create(name=f"group-{scale}")
        for index in range(3 * scale):
            person = get_user_model().objects.create(username=f"person-{scale}-{index}", role="member")
            person.groups.add(group)
            token_create(user=person, name=f"token-{index}")
            grant_set(actor=admin, obj=project, level="view", user=person)
    return {
        "home": "/",
        "projects": "/projects/?sort=-complexity&status=active",
        "project": f"/projects/{project.pk}/",
        "project_edit": f"/projects/{project.pk}/edit",
        "project_create": "/projects/new",
        "runs": "/runs/?sort=-metrics.loss",
        "run": f"/runs/{runs[0]}/",
        "compare": f"/runs/compare?ids={runs[0]}&ids={runs[1]}",
        "artifacts": "/artifacts/?sort=usage",
        "artifact": f"/artifacts/{versions[0].artifact_id}/",
        "artifact_create": "/artifacts/new",
        "artifact_edit": f"/artifacts/{versions[0].artifact_id}/edit",
        "tokens": "/account/tokens",
        "manage_users": "/manage/users",
        "manage_user": f"/manage/users/{person.pk}",
        "manage_groups": "/manage/groups",
        "manage_group": f"/manage/groups/{group.pk}",
        "manage_tokens": "/manage/tokens",
        "grants": f"/manage/grants?object_type=project&object_id={project.pk}",
        "grants_search": "/manage/grants?q=a",
        "audit": "/manage/audit?category=data",
        "audit_export": "/manage/audit/export?category=data",
        "password_change": "/accounts/password/",
        "webhooks": "/manage/webhooks",
        "webhook": f"/manage/webhooks/{subscription.pk}",
        "notifications": "/notifications",
    }


def _get(client, url: str):
    """GET ``url``, reading a streamed body (the CSV export queries while it streams)."""
    response = client.get(url)
    if response.streaming:
        response.content_bytes = b"".join(response.streaming_content)
    return response


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = _get(client, url)
    assert response.status_code == 200, (url, response.status_code)
    return len(captured.captured_queries)


def test_every_page_runs_a_bounded_number_of_queries(tenant_a, django_assert_max_num_queries):
    client = signed_in(tenant_a).client
    small = {page: _count(client, url) for page, url in _seed(tenant_a, 1).items()}
    for page, url in _seed(tenant_a, 6).items():
        with django_assert_max_num_queries(BOUNDS[page], info=page):
            response = _get(client, url)
        assert response.status_code == 200
        # A run table sorted by a metric whose page is not full reads the runs without a value in a second
        # query (apps.metrics.search), so the small data set may cost more; more data must never cost more.
        assert _count(client, url) <= small[page], f"{page}: the query count grows with the data"


def test_sign_in_pages_run_a_bounded_number_of_queries(tenant_a, django_assert_max_num_queries):
    with django_assert_max_num_queries(4, info="login form"):  # one reads the tenant's single sign-on offer
        assert tenant_a.client().get("/accounts/login/").status_code == 200
    client = signed_in(tenant_a).client
    with django_assert_max_num_queries(7, info="password changed"):
        assert client.get("/accounts/password/done/").status_code == 200
    with django_assert_max_num_queries(6, info="admin area entry"):
        assert client.get("/manage/")["Location"] == "/manage/users"


def test_run_page_charts_at_most_six_metrics_one_query_each(tenant_a, django_assert_max_num_queries):
    with tenant_a.context():
        run = RunFactory(project=ProjectFactory())
        batch = [point for index in range(10) for point in points(f"m{index}", [1.0, 2.0])]
        services.run_log_batch(run=run, batch=parse_log_batch({"metrics": batch}))
    client = signed_in(tenant_a).client
    with django_assert_max_num_queries(BOUNDS["run"] + 4):  # 6 charts instead of the 2 above
        html = client.get(f"/runs/{run.pk}/").content.decode()
    assert html.count("data-metric-key=") == 6


def test_number_filters_print_one_zero_and_durations_in_words():
    """Issue 22 item 9: the same value reads the same everywhere ("0.0", never "+0.0" or "−0.0")."""
    from datetime import timedelta

    from apps.dashboard.templatetags.dashboard import duration, num, signed

    assert [signed(v) for v in (0.0, 0.04, -0.04, -0.0, 0.05, -0.06, 5.7)] == [
        "0.0", "0.0", "0.0", "0.0", "+0.1", "−0.1", "+5.7"
    ]  # fmt: skip
    assert [num(v, 1) for v in (-0.0, 0.0, 1234.5)] == ["0.0", "0.0", "1,234.5"]
    assert duration(timedelta(hours=3, seconds=17.423754)) == "3 h 0 min 17 s"
    assert [duration(timedelta(seconds=s)) for s in (0.4, 45, 725, 200_000)] == ["0.4 s", "45 s", "12 min 5 s",
                                                                                   "2 d 7 h"]  # fmt: skip
    assert duration(None) == "—"
