"""The dashboard in a real browser (system Chromium via Playwright) against a real gunicorn on the test database.

Every test uses the shared ``page`` fixture, which fails on any JavaScript console error (Content-Security-Policy
violations included) and on any failed script, stylesheet, image, font or XHR request. Screenshots of the main pages
go to test-output/screenshots/. Data the server must see is committed (through ``outside_event_loop``: Playwright's
loop runs in this thread) and removed again at the end of the module.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from apps.access.selectors import level_for
from apps.accounts.services import token_create, user_create
from apps.artifacts.models import Artifact
from apps.projects.models import Project
from tests.integrations.helpers import outside_event_loop
from tests.support.live_server import screenshot_dir

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "browser-test-pass-7391"
CHART_DATA = """(id) => {
  const chart = window.Chart.getChart(document.getElementById(id));
  return chart ? chart.data.datasets.map((d) => ({label: d.label, points: d.data.map((p) => [p.x, p.y])})) : null;
}"""


class Api:
    """Calls to the live server's API with a Bearer token (Python's resolver does not resolve *.localhost, so the
    request goes to 127.0.0.1 with the tenant's Host header)."""

    def __init__(self, live, host: str, token: str):
        self.base, self.host, self.token = f"http://127.0.0.1:{live.port}", host, token

    def call(self, method: str, path: str, body=None) -> tuple[int, dict]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Host", self.host)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")


@pytest.fixture(scope="module")
def world(_session_tenants, django_db_blocker, live_server_url):
    """Committed users of tenant A (a lead and a viewer with passwords, the admin's token), removed afterwards."""
    alpha = _session_tenants[0]

    def create():
        with alpha.context():
            admin = get_user_model().objects.get(username=alpha.admin_username)
            lead = user_create(username="browser-lead", email="lead@alpha.test", role="lead", password=PASSWORD)
            viewer = user_create(username="browser-viewer", email="viewer@alpha.test", role="viewer",
                                 password=PASSWORD)  # fmt: skip
            token = token_create(user=admin, name="browser-tests").plaintext
        return {"admin": admin, "lead": lead, "viewer": viewer, "token": token}

    def remove(made):
        with alpha.context():
            Project.objects.filter(name__startswith="Browser ").delete()
            Artifact.objects.filter(name__startswith="browser-").delete()
            get_user_model().objects.filter(pk__in=[made["lead"].pk, made["viewer"].pk]).update(is_active=False)
            made["admin"].api_tokens.filter(name__in=["browser-tests", "browser-laptop"]).delete()

    with django_db_blocker.unblock():
        made = outside_event_loop(create)
        made["api"] = Api(live_server_url, alpha.host, made["token"])
        yield made
        outside_event_loop(lambda: remove(made))


def _login(page, live, ctx, username, password):
    page.goto(live.url(ctx.host, "/accounts/login/"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live.url(ctx.host, "/"))
    page.wait_for_load_state("networkidle")


def _shot(page, name: str) -> None:
    # Idle first: the screenshot shows the settled page, and no request (the favicon comes after "load") is still in
    # flight when the test navigates on — an aborted request would fail the test.
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(screenshot_dir() / f"{name}.png"), full_page=True)


def _wait_for_chart(page, canvas_id: str):
    page.wait_for_function(f"() => document.getElementById('{canvas_id}')?.dataset.chartReady === '1'")
    return page.evaluate(CHART_DATA, canvas_id)


def test_create_a_project_and_add_a_team_member(_session_tenants, world, live_server_url, page):
    alpha = _session_tenants[0]
    _login(page, live_server_url, alpha, alpha.admin_username, alpha.admin_password)
    _shot(page, "home")
    page.get_by_role("link", name="Projects", exact=True).click()
    page.get_by_role("link", name="New project").click()
    page.get_by_role("button", name="Create project").click()  # empty form: errors next to the fields
    assert page.locator("#id_name_error").inner_text() == "This field is required."
    assert page.get_by_label("Name").get_attribute("aria-invalid") == "true"
    page.get_by_label("Name").fill("Browser churn radar")
    page.get_by_label("Specification").fill("Predict which retail customers leave within 90 days.")
    page.get_by_label("Problem class").select_option("classification")
    page.get_by_label("Status").select_option("active")
    page.get_by_label("Tags").fill("retail, tabular")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url("**/projects/*/")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Browser churn radar")

    page.get_by_text("Add a team member").click()
    page.locator("#id_user").select_option(label="browser-lead")
    page.get_by_role("combobox", name="Role", exact=True).select_option("data_scientist")
    page.get_by_label("Experience level").select_option("senior")
    page.get_by_label("Years of experience").fill("6")
    page.get_by_label("Hours contributed").fill("120")
    page.get_by_role("button", name="Add to team").click()
    row = page.locator("#team tr", has_text="browser-lead")
    row.wait_for()
    assert "Data scientist" in row.inner_text() and "Senior" in row.inner_text()
    assert page.locator("#team [role=status]").inner_text() == "browser-lead joined the team."
    project_id = int(page.url.rstrip("/").rsplit("/", 1)[1])

    def stored():
        with alpha.context():
            project = Project.objects.get(pk=project_id)
            return project.tags, [(m.user.username, m.role, m.years_experience) for m in project.team]

    assert outside_event_loop(stored) == (["retail", "tabular"], [("browser-lead", "data_scientist", 6.0)])
    page.wait_for_selector("[data-delivery-panel]")  # the delivery panel was loaded into the page by htmx
    _shot(page, "project-detail")
    page.get_by_role("button", name="Remove browser-lead").click()  # hx-confirm: the dialog is accepted below
    page.locator("#team .empty").wait_for()
    page.goto(live_server_url.url(alpha.host, "/projects/?sort=-created"))
    _shot(page, "projects")


@pytest.fixture(autouse=True)
def _accept_dialogs(page):
    page.on("dialog", lambda dialog: dialog.accept())


def test_metrics_logged_through_the_api_are_drawn_and_two_runs_compare(_session_tenants, world, live_server_url, page):
    alpha = _session_tenants[0]
    api = world["api"]
    status, project = api.call("POST", "/api/v1/projects", {"name": "Browser vision", "status": "active"})
    assert status == 201, project
    losses = {"adam": [1.2, 0.8, 0.5, 0.35, 0.3], "sgd": [1.3, 1.1, 0.9, 0.8, 0.7]}
    run_ids = {}
    for name, values in losses.items():
        status, run = api.call("POST", "/api/v1/runs", {"project": project["id"], "name": f"browser-{name}",
                                                        "params": {"optimizer": name}})  # fmt: skip
        assert status == 201, run
        run_ids[name] = run["id"]
        batch = {"metrics": [{"key": "val/loss", "value": value, "step": step * 10, "timestamp": 1767225600000 + step}
                             for step, value in enumerate(values)]}  # fmt: skip
        status, written = api.call("POST", f"/api/v1/runs/{run['id']}/log-batch", batch)
        assert status == 200 and written["metrics_written"] == 5, written

    _login(page, live_server_url, alpha, alpha.admin_username, alpha.admin_password)
    page.goto(live_server_url.url(alpha.host, f"/runs/{run_ids['adam']}/"))
    drawn = _wait_for_chart(page, "metric-chart-0")
    assert drawn == [{"label": "val/loss", "points": [[0, 1.2], [10, 0.8], [20, 0.5], [30, 0.35], [40, 0.3]]}]
    page.get_by_role("button", name="Zoom in").click()
    zoomed = page.evaluate("() => window.Chart.getChart(document.getElementById('metric-chart-0')).scales.x.max")
    assert zoomed < 40
    page.get_by_role("button", name="Reset").click()
    _shot(page, "run-detail")

    page.goto(live_server_url.url(alpha.host, f"/runs/?project={project['id']}"))
    compare = page.get_by_role("button", name="Compare selected")
    assert compare.is_disabled()
    page.get_by_label("Select browser-adam").check()
    page.get_by_label("Select browser-sgd").check()
    assert page.locator("[data-compare-count]").inner_text() == "2 runs selected"
    _shot(page, "runs")
    compare.click()
    page.wait_for_url("**/runs/compare?*")
    drawn = _wait_for_chart(page, "compare-chart-0")
    by_label = {entry["label"].split(" ")[0]: [y for _x, y in entry["points"]] for entry in drawn}
    assert by_label == {"browser-adam": losses["adam"], "browser-sgd": losses["sgd"]}
    assert page.locator('[data-testid="compare-params"] .badge').inner_text() == "differs"
    _shot(page, "compare-runs")


def test_upload_an_artifact_version_and_download_it_identical(_session_tenants, world, live_server_url, page, tmp_path):
    alpha = _session_tenants[0]
    _login(page, live_server_url, alpha, alpha.admin_username, alpha.admin_password)
    page.goto(live_server_url.url(alpha.host, "/artifacts/new"))
    page.get_by_label("Name").fill("browser-rfm-features")
    page.get_by_label("Type").select_option("feature_pipeline")
    page.get_by_label("Tags").fill("retail")
    page.get_by_role("button", name="Add to the library").click()
    page.wait_for_url("**/artifacts/*/")
    content = bytes(range(256)) * 400 + "é résumé\n".encode()
    source = tmp_path / "rfm features.py"
    source.write_bytes(content)
    page.get_by_text("Upload a new version").click()
    page.get_by_role("textbox", name="Version", exact=True).fill("1.0.0")
    page.get_by_label("Changelog").fill("First release.")
    page.get_by_label("File").set_input_files(str(source))
    page.get_by_role("button", name="Upload version").click()
    page.wait_for_url("**#versions")
    assert "Version 1.0.0 uploaded." in page.locator(".messages").inner_text()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download rfm features.py").click()
    download = download_info.value
    saved = Path(download.path())
    assert saved.read_bytes() == content
    versions = page.locator('[data-testid="version-table"]').inner_text()
    assert hashlib.sha256(saved.read_bytes()).hexdigest()[:12] in versions
    _shot(page, "artifact-detail")
    page.goto(live_server_url.url(alpha.host, "/artifacts/?sort=usage"))
    _shot(page, "artifacts")


def test_create_and_revoke_a_token(_session_tenants, world, live_server_url, page):
    alpha = _session_tenants[0]
    _login(page, live_server_url, alpha, alpha.admin_username, alpha.admin_password)
    page.locator("details.usermenu summary").click()
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("browser-laptop")
    page.get_by_label("Scope").select_option("read")
    page.get_by_role("button", name="Create token").click()
    plaintext = page.locator("#new-token-value").inner_text()
    assert plaintext.startswith(f"mae_{alpha.schema}_")
    api = Api(live_server_url, alpha.host, plaintext)
    assert api.call("GET", "/api/v1/me")[1]["username"] == alpha.admin_username
    _shot(page, "tokens")
    page.goto(live_server_url.url(alpha.host, "/account/tokens"))  # shown once: the page never shows it again
    assert page.locator("#new-token-value").count() == 0
    row = page.locator('[data-testid="token-table"] tr', has_text="browser-laptop")
    row.get_by_role("button", name="Revoke browser-laptop").click()
    page.wait_for_load_state()
    assert "revoked" in page.locator(".messages").inner_text()
    assert api.call("GET", "/api/v1/me")[0] == 401


def test_viewer_sees_no_edit_controls(_session_tenants, world, live_server_url, page):
    alpha = _session_tenants[0]

    def visible_project():
        with alpha.context():
            return Project.objects.filter(visibility="tenant").values_list("pk", flat=True).first()

    project_id = outside_event_loop(visible_project)
    _login(page, live_server_url, alpha, "browser-viewer", PASSWORD)
    assert page.get_by_role("link", name="Admin", exact=True).count() == 0
    page.goto(live_server_url.url(alpha.host, "/projects/"))
    assert page.get_by_role("link", name="New project").count() == 0
    page.goto(live_server_url.url(alpha.host, f"/projects/{project_id}/"))
    for name in ("Edit", "Delete", "Access"):
        assert page.get_by_role("button", name=name, exact=True).count() == 0
        assert page.get_by_role("link", name=name, exact=True).count() == 0
    assert page.get_by_text("Add a team member").count() == 0
    assert page.get_by_role("button", name="Remove").count() == 0
    page.goto(live_server_url.url(alpha.host, "/artifacts/"))
    assert page.get_by_role("link", name="New artifact").count() == 0
    _shot(page, "viewer-project-list")


def test_admin_area_pages(_session_tenants, world, live_server_url, page):
    alpha = _session_tenants[0]
    _login(page, live_server_url, alpha, alpha.admin_username, alpha.admin_password)
    page.get_by_role("link", name="Admin", exact=True).click()
    assert page.get_by_role("link", name="Users and roles").get_attribute("aria-current") == "page"
    _shot(page, "admin-users")
    page.get_by_role("link", name="Audit log").click()
    page.get_by_label("Action starts with").fill("auth.")
    page.get_by_role("button", name="Filter").click()
    assert "auth.login" in page.locator('[data-testid="audit-table"]').inner_text()
    _shot(page, "admin-audit-log")


def test_grant_access_to_a_private_project_then_find_and_export_it_in_the_audit_log(
    _session_tenants, world, live_server_url, page
):
    alpha = _session_tenants[0]

    def private_project():
        with alpha.context():
            return Project.objects.create(name="Browser private", slug="browser-private", visibility="private")

    def viewer_level(project):
        with alpha.context():
            return level_for(get_user_model().objects.get(pk=world["viewer"].pk), project)

    project = outside_event_loop(private_project)
    _login(page, live_server_url, alpha, alpha.admin_username, alpha.admin_password)
    page.goto(live_server_url.url(alpha.host, f"/projects/{project.pk}/"))
    page.get_by_role("link", name="Access", exact=True).click()
    page.wait_for_url("**/manage/grants?object_type=project*")
    assert page.locator(".empty").inner_text() == "No grants on this project."
    page.get_by_label("User or group").select_option(label="browser-viewer")
    page.get_by_label("Level").select_option("change")
    page.get_by_role("button", name="Grant", exact=True).click()
    page.wait_for_load_state()
    assert "browser-viewer now holds change on “Browser private”." in page.locator(".messages").inner_text()
    row = page.locator(f'[data-testid="grant-table"] tr[data-principal="user:{world["viewer"].pk}"]')
    assert row.locator(".badge").inner_text() == "change"
    assert outside_event_loop(lambda: viewer_level(project)) == "change"
    _shot(page, "admin-grants")
    row.get_by_role("button", name="Remove the grant of browser-viewer").click()  # data-confirm: accepted
    page.wait_for_load_state()
    assert page.locator('[data-testid="grant-table"]').count() == 0
    assert outside_event_loop(lambda: viewer_level(project)) is None

    page.goto(live_server_url.url(alpha.host, "/manage/audit"))
    page.get_by_label("Action starts with").fill("grant.")
    page.get_by_label("Object type").fill("projects.project")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/manage/audit?*action_prefix=grant.*")
    # this project's events (the committed test database keeps those of earlier runs' projects)
    shown = page.locator('[data-testid="audit-table"] tbody tr', has_text=f"projects.project #{project.pk}")
    assert shown.count() == 2 and "change → ∅" in shown.first.inner_text()  # newest first: the removal
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export these as CSV").click()
    exported = list(csv.DictReader(io.StringIO(Path(download_info.value.path()).read_text())))
    assert {(r["action"], r["object_type"]) for r in exported} == {("grant.changed", "projects.project")}
    rows = [r for r in exported if r["object_id"] == str(project.pk)]
    assert [(r["action"], r["object_repr"], r["object_id"]) for r in rows] == [
        ("grant.changed", "Browser private", str(project.pk))
    ] * 2
    assert [json.loads(r["changes"])["level"]["after"] for r in rows] == [None, "change"]


def test_project_page_embeds_the_delivery_panel_with_its_charts(_session_tenants, world, live_server_url, page):
    from tests.integrations.factories import make_integration
    from tests.integrations.payloads import deliver_github
    from tests.integrations.test_metrics import at, github_history

    alpha = _session_tenants[0]

    def create():
        with alpha.context():
            project = Project.objects.create(name="Browser delivery", slug="browser-delivery", status="active")
            integration, secret = make_integration(project, created_at=at(1, 5))
        for event, payload in github_history():
            assert deliver_github(alpha.host, integration, secret, event, payload).status_code == 200
        return project

    project = outside_event_loop(create)
    _login(page, live_server_url, alpha, alpha.admin_username, alpha.admin_password)
    page.goto(live_server_url.url(alpha.host, f"/projects/{project.pk}/"))
    page.wait_for_selector("[data-delivery-panel]")  # htmx replaced the placeholder with the panel (last 90 days)
    # ... and choosing the period of the recorded history redraws it in place
    page.get_by_label("From").fill("2026-03-02")
    page.get_by_label("To").fill("2026-03-29")
    with page.expect_response("**/delivery-panel?from=2026-03-02&to=2026-03-29"):
        page.get_by_role("button", name="Show").click()
    canvas = f"delivery-activity-{project.pk}"
    # the 4 weeks asked for, not the 90-day chart still on the page until htmx has swapped the new panel in
    drawn = (f"() => {{ const c = window.Chart.getChart('{canvas}'); "
             "return c && c.data.datasets[0].data.length === 4 && c.data.datasets.map(d => d.data); }")  # fmt: skip
    activity = page.wait_for_function(drawn).json_value()
    assert activity == [[3, 2, 1, 1], [2, 1, 1, 0]]
    assert page.get_by_role("heading", level=1).inner_text().startswith("Browser delivery")  # still the project page
    _shot(page, "project-delivery")
