"""Project pages: list (filters, sort, pages), create and edit with validation messages, detail with the team
edited inline through htmx, and what other roles and tenants see."""

from __future__ import annotations

import re

import pytest

from apps.projects.models import Project, TeamMember
from tests.artifacts.factories import ArtifactFactory, ArtifactVersionFactory
from tests.dashboard.helpers import signed_in, text
from tests.projects.factories import ProjectFactory, TeamMemberFactory, UserFactory

pytestmark = pytest.mark.django_db


def _names(html: str) -> list[str]:
    """Project names in the list's table, in order."""
    table = html.split('data-testid="project-table"', 1)[1]
    return re.findall(r'<a href="/projects/\d+/">([^<]+)</a>', table)


@pytest.fixture
def catalogue(tenant_a):
    with tenant_a.context():
        ada = UserFactory(username="ada")
        rows = [
            ProjectFactory(name="Churn radar", status="active", problem_class="classification", complexity_score=30,
                           tags=["retail", "tabular"], owner=ada, spec="Predict churn of retail customers."),
            ProjectFactory(name="Demand forecast", status="completed", problem_class="forecasting", complexity_score=70,
                           tags=["retail"], success_score=81.5, success_score_source="explicit"),
            ProjectFactory(name="Invoice OCR", status="planned", problem_class="vision", complexity_score=55,
                           tags=["documents"]),
        ]  # fmt: skip
    return rows


def test_list_filters_by_status_tag_owner_and_search(tenant_a, catalogue):
    client = signed_in(tenant_a).client
    assert sorted(_names(client.get("/projects/").content.decode())) == [
        "Churn radar", "Demand forecast", "Invoice OCR"
    ]  # fmt: skip
    assert _names(client.get("/projects/?status=completed").content.decode()) == ["Demand forecast"]
    assert sorted(_names(client.get("/projects/?tag=retail").content.decode())) == ["Churn radar", "Demand forecast"]
    owner = catalogue[0].owner_id
    assert _names(client.get(f"/projects/?owner={owner}").content.decode()) == ["Churn radar"]
    assert _names(client.get("/projects/?q=churn+of+retail").content.decode()) == ["Churn radar"]
    empty = client.get("/projects/?q=nothing-like-this").content.decode()
    assert "No project matches these filters." in empty


def test_list_sorts_by_column_both_ways_with_missing_values_last(tenant_a, catalogue):
    client = signed_in(tenant_a).client
    assert _names(client.get("/projects/?sort=complexity").content.decode()) == [
        "Churn radar", "Invoice OCR", "Demand forecast"
    ]  # fmt: skip
    html = client.get("/projects/?sort=-complexity").content.decode()
    assert _names(html) == ["Demand forecast", "Invoice OCR", "Churn radar"]
    assert re.search(r'aria-sort="descending"><a class="sort" href="\?sort=complexity"', html)
    # projects without a success score come last whichever way the column is sorted
    assert _names(client.get("/projects/?sort=-success").content.decode())[0] == "Demand forecast"
    assert _names(client.get("/projects/?sort=success").content.decode())[0] == "Demand forecast"
    # an unknown sort key falls back to newest first instead of failing
    assert client.get("/projects/?sort=drop+table").status_code == 200


def test_list_pages_through_25_at_a_time(tenant_a):
    with tenant_a.context():
        for index in range(30):
            ProjectFactory(name=f"Bulk {index:02d}")
    client = signed_in(tenant_a).client
    first = client.get("/projects/?sort=name").content.decode()
    second = client.get("/projects/?sort=name&page=2").content.decode()
    assert _names(first) == [f"Bulk {index:02d}" for index in range(25)]
    assert _names(second) == [f"Bulk {index:02d}" for index in range(25, 30)]
    assert "26–30 of 30" in second
    assert _names(client.get("/projects/?sort=name&page=99").content.decode()) == _names(second)


def test_htmx_filter_request_gets_the_results_partial_whose_links_go_through_the_filter_form(tenant_a, catalogue):
    client = signed_in(tenant_a).client
    response = client.get("/projects/?status=active&sort=name", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html and 'id="project-results"' in html
    assert _names(html) == ["Churn radar"]
    # sort and page links submit the filter form (one request queue: issue 22), so nothing is swapped out of band
    assert 'data-filter-form="project-filters"' in html and "hx-swap-oob" not in html
    # a history restore (back button) needs the whole page
    restore = client.get("/projects/?status=active", HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<html" in restore.content.decode()


def test_create_project_shows_field_errors_then_creates_it(tenant_a):
    person = signed_in(tenant_a)
    bad = person.client.post(
        "/projects/new",
        {"name": "", "problem_class": "nlp", "status": "active", "complexity_score": "140", "visibility": "tenant",
         "start_date": "2026-05-01", "target_end_date": "2026-04-01"},
    )  # fmt: skip
    html = bad.content.decode()
    assert bad.status_code == 200
    assert "Please correct the highlighted fields." in html
    assert re.search(r'id="id_name_error"><p>This field is required.</p>', html)
    assert re.search(r'id="id_complexity_score_error"><p>Ensure this value is less than or equal to 100.</p>', html)
    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="id_complexity_score_helptext id_complexity_score_error"' in html
    with tenant_a.context():
        assert not Project.objects.exists()

    # the service's own rule (dates in order) comes back next to its field
    crossed = person.client.post(
        "/projects/new",
        {"name": "Search ranking", "problem_class": "nlp", "status": "active", "complexity_score": "40",
         "visibility": "tenant", "start_date": "2026-05-01", "target_end_date": "2026-04-01"},
    )  # fmt: skip
    assert "The target end date cannot be before the start date." in crossed.content.decode()

    created = person.client.post(
        "/projects/new",
        {"name": "Search ranking", "spec": "Rank results.", "problem_class": "nlp", "status": "active",
         "complexity_score": "40", "visibility": "tenant", "tags": "Search, nlp, search"},
    )  # fmt: skip
    with tenant_a.context():
        project = Project.objects.get()
    assert created.status_code == 302 and created["Location"] == f"/projects/{project.pk}/"
    assert (project.name, project.slug, project.tags, project.owner_id) == (
        "Search ranking", "search-ranking", ["search", "nlp"], person.user_id
    )  # fmt: skip
    detail = person.client.get(created["Location"]).content.decode()
    assert "Project “Search ranking” created." in detail


def test_completing_through_the_edit_form_computes_the_score_or_names_missing_outcome(tenant_a, catalogue):
    client = signed_in(tenant_a).client
    project = catalogue[0]
    form = client.get(f"/projects/{project.pk}/edit").content.decode()
    assert 'value="Churn radar"' in form and 'value="retail, tabular"' in form
    base = {"name": "Churn radar", "spec": project.spec, "problem_class": "classification", "complexity_score": "30",
            "visibility": "tenant", "tags": "retail, tabular", "owner": str(project.owner_id)}  # fmt: skip
    missing = client.post(f"/projects/{project.pk}/edit", {**base, "status": "completed", "model_performance": "0.9"})
    page = text(missing.content.decode())
    # one explanation in plain words, on the success score; the missing outcome fields say only that they are needed
    assert page.count("To complete the project, enter its success score, or 1 more of the outcome") == 1
    assert page.count("Needed to compute the success score.") == 2 and "success_score" not in page
    done = client.post(
        f"/projects/{project.pk}/edit",
        {**base, "status": "completed", "model_performance": "0.9", "business_impact": "60", "compute_cost": "10000"},
    )
    assert done.status_code == 302
    with tenant_a.context():
        project.refresh_from_db()
    assert (project.status, project.success_score, project.success_score_source) == ("completed", 70.0, "computed")
    assert 'data-testid="success-score">70.0' in client.get(f"/projects/{project.pk}/").content.decode()


def test_detail_shows_spec_team_usages_and_outcome(tenant_a, catalogue):
    project = catalogue[0]
    with tenant_a.context():
        TeamMemberFactory(project=project, display_name="Grace", role="data_scientist")
        version = ArtifactVersionFactory(artifact=ArtifactFactory(name="rfm-features"), version="2.1.0")
        project.artifact_usages.create(artifact_version=version, artifact=version.artifact, context="baseline")
    html = signed_in(tenant_a).client.get(f"/projects/{project.pk}/").content.decode()
    body = text(html)
    assert "Predict churn of retail customers." in body
    assert "Grace" in body and "Data scientist" in body
    assert "rfm-features 2.1.0" in body and "baseline" in body
    assert f'hx-get="/projects/{project.pk}/delivery-panel"' in html
    assert "Not completed yet" in body


def test_team_member_added_and_removed_inline_with_htmx(tenant_a, catalogue):
    project = catalogue[0]
    client = signed_in(tenant_a).client
    with tenant_a.context():
        ada = project.owner
    invalid = client.post(
        f"/projects/{project.pk}/team",
        {"display_name": "Bob", "role": "ml_engineer", "experience_level": "mid", "years_experience": "70",
         "contribution_hours": "10"},
        HTTP_HX_REQUEST="true",
    )  # fmt: skip
    html = invalid.content.decode()
    assert invalid.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<section class="card" id="team"')
    assert "Ensure this value is less than or equal to 60." in html and "<details open" in html
    added = client.post(
        f"/projects/{project.pk}/team",
        {"user": str(ada.pk), "display_name": "", "role": "ml_engineer", "experience_level": "senior",
         "years_experience": "7", "contribution_hours": "120", "performance_score": "88"},
        HTTP_HX_REQUEST="true",
    )  # fmt: skip
    html = added.content.decode()
    with tenant_a.context():
        member = TeamMember.objects.get(project=project)
    assert (member.user_id, member.display_name, member.years_experience) == (ada.pk, "ada", 7.0)
    assert "ada joined the team." in html and f'data-member="{member.pk}"' in html
    removed = client.post(f"/projects/{project.pk}/team/{member.pk}/remove", HTTP_HX_REQUEST="true")
    assert "ada left the team." in removed.content.decode()
    with tenant_a.context():
        assert not TeamMember.objects.filter(project=project).exists()


def test_team_form_without_javascript_redirects_back_with_messages(tenant_a, catalogue):
    project = catalogue[0]
    client = signed_in(tenant_a).client
    response = client.post(
        f"/projects/{project.pk}/team",
        {"role": "ml_engineer", "experience_level": "mid", "years_experience": "1", "contribution_hours": "1"},
    )
    assert response.status_code == 302 and response["Location"] == f"/projects/{project.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "A display name is required when no user is linked." in page


def test_delete_project(tenant_a, catalogue):
    client = signed_in(tenant_a).client
    project = catalogue[2]
    response = client.post(f"/projects/{project.pk}/delete")
    assert response.status_code == 302 and response["Location"] == "/projects/"
    with tenant_a.context():
        assert not Project.objects.filter(pk=project.pk).exists()


def test_viewer_sees_no_edit_controls_and_is_refused_when_posting(tenant_a, catalogue):
    project = catalogue[0]
    viewer = signed_in(tenant_a, role="viewer").client
    listing = viewer.get("/projects/").content.decode()
    assert "New project" not in listing
    detail = viewer.get(f"/projects/{project.pk}/").content.decode()
    assert "Churn radar" in detail
    for control in ("/edit", "/delete", "Add a team member", "Remove"):
        assert control not in detail
    assert viewer.get("/projects/new").status_code == 403
    assert viewer.get(f"/projects/{project.pk}/edit").status_code == 403
    data = {"display_name": "Mallory", "role": "other", "experience_level": "mid", "years_experience": "1",
            "contribution_hours": "1"}  # fmt: skip
    assert viewer.post(f"/projects/{project.pk}/team", data).status_code == 403
    assert viewer.post(f"/projects/{project.pk}/delete").status_code == 403
    assert (
        viewer.post(
            "/projects/new",
            {"name": "x", "problem_class": "nlp", "status": "active", "complexity_score": "5", "visibility": "tenant"},
        ).status_code
        == 403
    )
    with tenant_a.context():
        assert Project.objects.count() == 3 and not TeamMember.objects.exists()


def test_other_tenants_projects_are_invisible(tenant_a, tenant_b, catalogue):
    with tenant_b.context():
        secret = ProjectFactory(name="Beta secret")
    client_a = signed_in(tenant_a).client
    assert "Beta secret" not in client_a.get("/projects/").content.decode()
    # the same id on A's host is either another project of A or a 404, never B's project
    response = client_a.get(f"/projects/{secret.pk}/")
    assert response.status_code == 404 or "Beta secret" not in response.content.decode()
    # A's session means nothing on B's host
    cross = tenant_b.client()
    cross.cookies = client_a.cookies
    assert cross.get("/projects/").status_code == 302
    assert "Beta secret" in signed_in(tenant_b).client.get("/projects/").content.decode()


def test_anonymous_visitors_are_sent_to_login(tenant_a):
    response = tenant_a.client().get("/projects/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=/projects/")


def _csv(response) -> list[dict]:
    import csv
    import io

    assert response["Content-Type"].startswith("text/csv") and "attachment" in response["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_csv_export_holds_every_filtered_project_in_order_and_nothing_of_another_tenant(tenant_a, tenant_b, catalogue):
    with tenant_a.context():
        ProjectFactory(name='=HYPERLINK("http://evil.test")', status="active", tags=["retail"], complexity_score=10)
    rows = _csv(signed_in(tenant_a).client.get("/projects/?tag=retail&sort=-complexity&format=csv"))
    # the page's order, and a cell a spreadsheet would run as a formula is defused
    assert [r["name"] for r in rows] == ["Demand forecast", "Churn radar", '\'=HYPERLINK("http://evil.test")']
    by_name = {r["name"]: r for r in rows}
    assert by_name["Demand forecast"]["success_score"] == "81.5" and by_name["Churn radar"]["owner"] == "ada"
    assert by_name["Churn radar"]["tags"] == "retail, tabular"
    assert _csv(signed_in(tenant_b).client.get("/projects/?format=csv")) == []  # beta sees none of alpha's
