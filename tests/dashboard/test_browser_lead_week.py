"""Issue 22: what a new team lead ran into in a first hour with the dashboard, replayed in a real browser.

Each test reproduces one finding of the issue on a desktop (1280×800) and, where layout matters, a phone (390×844)
viewport. One signed-in browser context per viewport serves the whole module (logging in once each keeps the module
quick); every page the tests open fails the test on a console error or a failed request, as the shared ``page``
fixture does. Data the server must see is committed through ``outside_event_loop`` and removed at the end.
"""

from __future__ import annotations

import csv
import io
import json
import urllib.request
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.accounts.services import user_create
from apps.artifacts.models import Artifact, ArtifactUsage, ArtifactVersion
from apps.metrics.models import LatestMetric, MetricPoint, MetricSeries, Run
from apps.projects.models import Project, TeamMember
from apps.recommendations.models import ArtifactImpact
from tests.integrations.helpers import outside_event_loop
from tests.support.browser import request_problem
from tests.support.live_server import screenshot_dir

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "lead-week-pass-5821"
LEAD = "week-lead"
T0 = 1_767_225_600_000
HISTORY = {"val_loss": [1.0, 0.5, 0.25, 0.125, 0.0625], "val_accuracy": [0.5, 0.6, 0.7, 0.75, 0.8]}
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def week(_session_tenants, django_db_blocker, live_server_url):
    """A committed lead of tenant A with a password and three "Energy" projects created in a known order."""
    alpha = _session_tenants[0]

    def create():
        with alpha.context():
            lead = user_create(username=LEAD, email="week-lead@alpha.test", role="lead", password=PASSWORD)
            # created in this order: newest first is C, B, A; by complexity (largest first) B, C, A
            for name, complexity in (("A", 10), ("B", 90), ("C", 50)):
                Project.objects.create(
                    name=f"Week energy {name}", slug=f"week-energy-{name.lower()}", complexity_score=complexity
                )
            runs_project = Project.objects.create(
                name="Week runs", slug="week-runs", status="active", start_date=date(2026, 12, 1),
                target_end_date=date(2026, 12, 13), compute_cost=Decimal("1234.5"),
            )  # fmt: skip
            TeamMember.objects.create(project=runs_project, display_name="Ada", role="data_scientist",
                                      years_experience=4, contribution_hours=120, performance_score=80)  # fmt: skip
            start = timezone.now() - timedelta(days=2)
            runs = [
                Run.objects.create(
                    project=runs_project,
                    name=f"week-trial-{i:02d}",
                    status="finished",
                    start_time=start + timedelta(minutes=i),
                    end_time=start + timedelta(hours=3, minutes=i),
                )
                for i in range(12)
            ]
            for i, run in enumerate(runs):
                for key, value in (("val_loss", 0.9 - i / 20), ("val_accuracy", 0.6 + i / 40)):
                    LatestMetric.objects.create(run=run, key=key, value=value, step=10, timestamp=1_767_225_600_000)
            for key, values in HISTORY.items():  # the first run's history, one point a minute
                MetricPoint.objects.bulk_create(
                    MetricPoint(run=runs[0], key=key, value=v, step=step * 10, timestamp=T0 + step * 60_000)
                    for step, v in enumerate(values)
                )
                MetricSeries.objects.create(run=runs[0], key=key, points=len(values))
            artifacts = _impact_artifacts()
        return lead, runs_project, runs, artifacts

    def remove(lead):
        with alpha.context():
            Project.objects.filter(name__startswith="Week ").delete()
            Artifact.objects.filter(name__startswith="week-").delete()
            get_user_model().objects.filter(pk=lead.pk).update(is_active=False)

    with django_db_blocker.unblock():
        lead, runs_project, runs, artifacts = outside_event_loop(create)
        yield {"alpha": alpha, "lead": lead, "live": live_server_url, "runs_project": runs_project, "runs": runs,
               "artifacts": artifacts}  # fmt: skip
        outside_event_loop(lambda: remove(lead))


def _impact_artifacts() -> dict[str, Artifact]:
    """Two artifacts with the impact figures the lead found confusing (as the recommender stores them), the first
    used by 20 projects."""
    made = {}
    figures = {
        "zero": dict(impact=0.0, ci_low=0.0, ci_high=0.0, observed_lift=-1.8, observed_lift_ci_low=-5.3,
                     observed_lift_ci_high=2.7),
        "disagree": dict(impact=5.7, ci_low=5.6, ci_high=5.8, observed_lift=8.0, observed_lift_ci_low=6.2,
                         observed_lift_ci_high=9.9),
    }  # fmt: skip
    for key, numbers in figures.items():
        artifact = Artifact.objects.create(name=f"week-{key}", type="prompt", usage_count=20 if key == "zero" else 6)
        version = ArtifactVersion.objects.create(artifact=artifact, version="1.0.0", major=1)
        ArtifactImpact.objects.create(
            artifact=artifact, model_version=1, status="ok", n_projects=6, min_usage=5, comparable_n=40,
            has_indicator=True, computed_at=timezone.now(), **numbers,
        )  # fmt: skip
        users = 20 if key == "zero" else 6
        for i in range(users):
            project = Project.objects.create(name=f"Week user {key} {i:02d}", slug=f"week-user-{key}-{i:02d}")
            ArtifactUsage.objects.create(project=project, artifact_version=version, artifact=artifact)
        made[key] = artifact
    return made


def _console(tab, problems: list[str], msg) -> None:
    expected = getattr(tab, "expected_status", None)  # an error page the test opens on purpose
    if msg.type != "error" or (expected and f"status of {expected}" in msg.text):
        return
    problems.append(f"console {msg.type}: {msg.text}")


def _watch(tab, problems: list[str]) -> None:
    tab.on("console", lambda msg: _console(tab, problems, msg))
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    tab.on("requestfailed", lambda req: (problem := request_problem(req)) and problems.append(problem))


@pytest.fixture(scope="module")
def contexts(browser, week):
    """One browser context per viewport, signed in as the lead once."""
    alpha, live = week["alpha"], week["live"]
    made = {}
    for name, viewport in VIEWPORTS.items():
        context = browser.new_context(viewport=viewport, is_mobile=name == "phone", has_touch=name == "phone")
        tab = context.new_page()
        tab.goto(live.url(alpha.host, "/accounts/login/"))
        tab.get_by_label("Username").fill(LEAD)
        tab.get_by_label("Password").fill(PASSWORD)
        tab.get_by_role("button", name="Log in").click()
        tab.wait_for_url(live.url(alpha.host, "/"))
        tab.close()
        made[name] = context
    yield made
    for context in made.values():
        context.close()


@pytest.fixture(params=list(VIEWPORTS))
def tab(request, contexts):
    """A fresh tab in the signed-in context of each viewport; fails the test on console errors."""
    problems: list[str] = []
    page = contexts[request.param].new_page()
    page.viewport = request.param
    page.on("dialog", lambda dialog: dialog.accept())
    _watch(page, problems)
    yield page
    page.close()
    assert not problems, "browser problems:\n" + "\n".join(problems)


@pytest.fixture
def desktop(contexts):
    problems: list[str] = []
    page = contexts["desktop"].new_page()
    page.viewport = "desktop"
    page.on("dialog", lambda dialog: dialog.accept())
    _watch(page, problems)
    yield page
    page.close()
    assert not problems, "browser problems:\n" + "\n".join(problems)


def _url(week, path: str) -> str:
    return week["live"].url(week["alpha"].host, path)


def _shot(page, name: str) -> None:
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(screenshot_dir() / f"week-{name}-{page.viewport}.png"), full_page=True)


def _project_names(page) -> list[str]:
    return page.locator('[data-testid="project-table"] tbody tr td:first-child a').all_inner_texts()


# ---------------------------------------------------------------------------------------------- 1. sorting
def test_sorting_after_a_search_sorts_and_the_link_reproduces_it(week, tab):
    tab.goto(_url(week, "/projects/"))
    search = tab.get_by_label("Search")
    search.fill("week energy")
    # the lead clicks the header right after typing: the pending search and the sort must not race
    tab.locator('[data-testid="project-table"] thead').get_by_role("link", name="Complexity").click()
    tab.wait_for_url("**sort=-complexity**")
    tab.wait_for_load_state("networkidle")
    tab.wait_for_timeout(500)  # past the search box's 350 ms debounce
    tab.wait_for_load_state("networkidle")
    assert _project_names(tab) == ["Week energy B", "Week energy C", "Week energy A"]
    query = parse_qs(urlsplit(tab.url).query)
    assert query["sort"] == ["-complexity"] and query["q"] == ["week energy"]
    assert tab.locator("#filter-sort").input_value() == "-complexity"
    copied = tab.url
    tab.goto(copied)
    assert _project_names(tab) == ["Week energy B", "Week energy C", "Week energy A"]
    tab.locator('[data-testid="project-table"] thead').get_by_role("link", name="Complexity").click()  # reverses
    tab.wait_for_url("**sort=complexity**")
    tab.wait_for_load_state("networkidle")
    assert _project_names(tab) == ["Week energy A", "Week energy C", "Week energy B"]


# ---------------------------------------------------------------------------------------------- 3. compare
def test_compare_is_disabled_past_ten_runs_and_keeps_the_selection(week, tab):
    tab.goto(_url(week, f"/runs/?project={week['runs_project'].pk}"))
    compare = tab.get_by_role("button", name="Compare selected")
    count = tab.locator("[data-compare-count]")
    for run in week["runs"]:
        tab.get_by_label(f"Select {run.name}").check()
    assert compare.is_disabled()
    assert count.inner_text() == "12 runs selected: compare at most 10 at a time, untick 2"
    _shot(tab, "compare-too-many")
    tab.get_by_label(f"Select {week['runs'][0].name}").uncheck()
    tab.get_by_label(f"Select {week['runs'][1].name}").uncheck()
    assert compare.is_enabled() and count.inner_text() == "10 runs selected"

    # a link (or a page without JavaScript) that asks for twelve keeps them ticked to choose from
    ids = "&".join(f"ids={run.pk}" for run in week["runs"])
    tab.goto(_url(week, f"/runs/compare?{ids}"))
    assert "12 runs are selected; compare at most 10 at a time." in tab.get_by_role("alert").inner_text()
    boxes = tab.locator('[data-testid="choose-runs"] input[type=checkbox]')
    assert boxes.count() == 12 and all(boxes.nth(i).is_checked() for i in range(12))
    choose = tab.get_by_role("button", name="Compare selected")
    assert choose.is_disabled()
    boxes.nth(0).uncheck()
    boxes.nth(1).uncheck()
    choose.click()
    tab.wait_for_url("**/runs/compare?*")
    assert tab.get_by_role("heading", level=1).inner_text() == "Compare 10 runs"


# ---------------------------------------------------------------------------------------------- 5. artifact impact
def test_artifact_impact_is_explained_in_plain_words_and_used_by_lists_all(week, tab):
    zero, disagree = week["artifacts"]["zero"], week["artifacts"]["disagree"]
    tab.goto(_url(week, f"/artifacts/{zero.pk}/"))
    explained = tab.locator('[data-testid="impact-explained"]')
    assert explained.get_attribute("open") is not None  # opened by itself: there is something to know
    text = explained.inner_text()
    assert "The model gives this artifact no weight" in text and "not evidence that the artifact makes no" in text
    assert "the observed figure is the only one that speaks to it here" in text
    assert tab.locator('[data-testid="impact-disagree"]').count() == 0  # 0 lies inside −5.3 … +2.7
    usages = tab.locator('[data-testid="usage-list"] li')
    assert usages.count() == 15
    tab.locator('[data-testid="usage-see-all"]').click()
    tab.wait_for_url("**used_by=all**")
    assert usages.count() == 20
    _shot(tab, "artifact-impact-zero")

    tab.goto(_url(week, f"/artifacts/{disagree.pk}/"))
    assert "The two figures disagree" in tab.locator('[data-testid="impact-disagree"]').inner_text()
    assert tab.locator('[data-testid="impact-model-zero"]').count() == 0
    assert tab.locator('[data-testid="usage-see-all"]').count() == 0  # all 6 are shown


# ---------------------------------------------------------------------------------------------- 6. phone
def _inside(page, locator) -> bool:
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    return box is not None and box["width"] > 0 and box["x"] >= 0 and box["x"] + box["width"] <= width


def test_every_menu_entry_is_reachable_on_a_phone(week, tab):
    tab.goto(_url(week, "/projects/"))
    menu = tab.get_by_role("button", name="Menu")
    models = tab.get_by_role("navigation", name="Main").get_by_role("link", name="Models")
    if tab.viewport == "phone":
        assert menu.is_visible() and not models.is_visible()
        menu.click()
        assert menu.get_attribute("aria-expanded") == "true"
        _shot(tab, "menu-open")
    else:
        assert not menu.is_visible()
    for name in ("Home", "Projects", "Runs", "Artifacts", "What-if", "Models", "Admin"):
        link = tab.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)
        assert link.is_visible() and _inside(tab, link), name
    models.click()
    tab.wait_for_url("**/models")


def test_phone_tables_show_success_and_metric_columns(week, tab):
    tab.goto(_url(week, "/projects/?q=week+energy"))
    table = tab.locator('[data-testid="project-table"]')
    assert _inside(tab, table.get_by_role("link", name="Success"))
    assert _inside(tab, table.get_by_role("link", name="Complexity"))
    tab.goto(_url(week, f"/runs/?project={week['runs_project'].pk}"))
    runs = tab.locator('[data-testid="run-table"]')
    assert _inside(tab, runs.get_by_role("link", name="val_accuracy"))
    assert _inside(tab, runs.locator("tbody tr").first.locator("td.num").first)
    _shot(tab, "runs-table")


# ---------------------------------------------------------------------------------------------- 7. MLflow/W&B habits
def _download_csv(page, link) -> list[dict]:
    with page.expect_download() as info:
        link.click()
    return list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text())))


def test_filtered_tables_export_as_csv_with_their_total_counts(week, tab):
    tab.goto(_url(week, "/projects/?q=week+energy&sort=-complexity"))
    assert tab.locator('[data-testid="list-total"]').inner_text() == "3 projects match the filters."
    rows = _download_csv(tab, tab.get_by_role("link", name="Export these as CSV"))
    assert [(r["name"], r["complexity"]) for r in rows] == [
        ("Week energy B", "90"), ("Week energy C", "50"), ("Week energy A", "10")
    ]  # fmt: skip

    tab.goto(_url(week, f"/runs/?project={week['runs_project'].pk}&sort=-metrics.val_loss"))
    total = " ".join(tab.locator('[data-testid="list-total"]').inner_text().split())
    assert total.startswith("12 runs match the filters; 12 on this page.")
    rows = _download_csv(tab, tab.get_by_role("link", name="Export these as CSV"))
    assert len(rows) == 12 and rows[0]["name"] == "week-trial-00" and rows[0]["metrics.val_loss"] == "0.9"
    assert {"params.lr", "metrics.val_accuracy"} - set(rows[0]) == {"params.lr"}


def test_run_charts_switch_axis_scale_and_smoothing_and_compare_marks_the_best_run(week, desktop):
    tab, runs = desktop, week["runs"]
    tab.goto(_url(week, f"/runs/{runs[0].pk}/"))
    canvas = "metric-chart-1"  # val_loss (keys in order: val_accuracy, val_loss)
    points = """(id) => { const c = window.Chart.getChart(document.getElementById(id));
      return {type: c.options.scales.y.type, x: c.data.datasets[0].data.map((p) => p.x),
              y: c.data.datasets[0].data.map((p) => p.y)}; }"""
    tab.wait_for_function(f"() => document.getElementById('{canvas}')?.dataset.chartReady === '1'")
    drawn = tab.evaluate(points, canvas)
    assert drawn == {"type": "linear", "x": [0, 10, 20, 30, 40], "y": HISTORY["val_loss"]}
    figure = tab.locator("figure[data-metric-key='val_loss']")
    figure.get_by_label("Log scale").check()
    assert tab.evaluate(points, canvas)["type"] == "logarithmic"
    figure.get_by_label("X axis").select_option("relative")
    assert tab.evaluate(points, canvas)["x"] == [0, 60, 120, 180, 240]
    figure.get_by_label("X axis").select_option("time")
    assert tab.evaluate(points, canvas)["x"] == [T0 + i * 60_000 for i in range(5)]
    figure.get_by_label("Smoothing").fill("0.5")
    smoothed = tab.evaluate(points, canvas)["y"]
    assert smoothed[0] == 1.0 and abs(smoothed[1] - (0.5 * 0.5 + 0.5 * 0.5 * 1.0) / 0.75) < 1e-9
    _shot(tab, "run-chart-controls")

    tab.goto(_url(week, f"/runs/compare?ids={runs[0].pk}&ids={runs[1].pk}"))
    best = tab.locator('[data-testid="compare-metrics"] tr[data-metric="val_loss"] td.best')
    assert best.count() == 1 and "0.8500" in best.inner_text()  # lower is better for a loss: the second run
    accuracy = tab.locator('[data-testid="compare-metrics"] tr[data-metric="val_accuracy"] td.best')
    assert "0.6250" in accuracy.inner_text()  # higher is better otherwise
    tab.locator('tr[data-metric="val_loss"]').get_by_role("link", name="best = lowest ⇄").click()
    tab.wait_for_url("**best=val_loss%3Amax**")
    assert "0.9000" in tab.locator('tr[data-metric="val_loss"] td.best').inner_text()
    picker = tab.get_by_role("group", name="Metrics to chart (up to 6)")
    picker.get_by_label("val_accuracy").uncheck()  # a plain checkbox: no Ctrl-click
    tab.get_by_role("button", name="Show").click()
    tab.wait_for_url("**key=val_loss**")
    assert tab.locator("figure.chart-figure").count() == 1


def test_how_to_pages_have_snippets_for_this_host_and_a_token_button(week, tab):
    live, alpha = week["live"], week["alpha"]
    tab.goto(_url(week, f"/runs/?project={week['runs_project'].pk}"))
    tab.get_by_role("link", name="Search syntax and examples").click()
    tab.wait_for_url("**/help/run-search")
    assert "metrics.accuracy > 0.9 AND params.optimizer = 'adam'" in tab.locator("main").inner_text()
    tab.goto(_url(week, f"/help/log-runs?project={week['runs_project'].pk}"))
    base = live.url(alpha.host, "").rstrip("/")
    curl = tab.locator("#snippet-curl").inner_text()
    assert f"export MAESTRO_URL={base}" in curl and f'"project": {week["runs_project"].pk}' in curl
    tab.get_by_role("button", name="Create a token for these snippets").click()
    tab.wait_for_selector('[data-testid="new-token"]')
    exported = tab.locator("#snippet-mlflow-env").inner_text()
    token = exported.split("MLFLOW_TRACKING_TOKEN=", 1)[1].strip()
    assert token.startswith(f"mae_{alpha.schema}_") and f"MLFLOW_TRACKING_URI={base}" in exported
    status, me = _api_get(live, alpha.host, token, "/api/v1/me")
    assert status == 200 and me["username"] == LEAD
    tab.get_by_role("link", name="How to connect Git and CI").click()
    assert "/integrations" in tab.locator("#snippet-integration").inner_text()
    _shot(tab, "help-git-ci")


def _api_get(live, host: str, token: str, path: str):
    request = urllib.request.Request(f"http://127.0.0.1:{live.port}{path}")
    request.add_header("Host", host)
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


# ---------------------------------------------------------------------------------------------- 8. validation
def test_project_form_shows_every_error_at_once_in_plain_words(week, tab):
    tab.goto(_url(week, "/projects/new"))
    tab.get_by_label("Start date").fill("2026-03-10")
    tab.get_by_label("Target end date").fill("2026-03-01")
    tab.get_by_role("button", name="Create project").click()
    assert tab.locator("#id_name_error").inner_text() == "This field is required."
    dates = tab.locator("#id_target_end_date_error").inner_text()
    assert dates == "The target end date cannot be before the start date."  # with the other error, not after it
    tab.get_by_label("Name").fill("Week validation")
    tab.get_by_label("Target end date").fill("2026-04-01")
    tab.get_by_label("Status").select_option("completed")
    tab.get_by_label("Model performance").fill("0.9")
    tab.get_by_role("button", name="Create project").click()
    page_text = tab.locator("main").inner_text()
    assert page_text.count("To complete the project, enter its success score") == 1
    assert "success_score" not in page_text
    assert tab.locator("#id_business_impact_error").inner_text() == "Needed to compute the success score."
    _shot(tab, "project-form-errors")


def test_a_username_outside_the_safe_set_is_refused_in_the_admin_area(week, browser):
    alpha, live = week["alpha"], week["live"]
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    try:
        page.goto(live.url(alpha.host, "/accounts/login/"))
        page.get_by_label("Username").fill(alpha.admin_username)
        page.get_by_label("Password").fill(alpha.admin_password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(live.url(alpha.host, "/"))
        page.goto(live.url(alpha.host, "/manage/users"))
        page.get_by_label("Username").fill("bad user!<script>")
        page.get_by_role("button", name="Create", exact=True).click()
        error = page.locator("#id_username_error").inner_text()
        assert error.startswith("A username may contain only letters (a–z, A–Z), digits and . _ - @")
    finally:
        context.close()


# ---------------------------------------------------------------------------------------------- 9. formatting
def test_durations_dates_costs_and_team_columns_read_plainly(week, tab):
    run = week["runs"][0]
    tab.goto(_url(week, f"/runs/{run.pk}/"))
    facts = tab.locator("dl.facts")
    assert facts.locator("div", has_text="Duration").locator("dd").inner_text() == "3 h 0 min 0 s"
    project = week["runs_project"]
    tab.goto(_url(week, f"/projects/{project.pk}/"))
    main = tab.locator("main").inner_text()
    assert "2026-12-13" in main and "Dec." not in main  # ISO dates, like every other date in the product
    cost = tab.locator("dl.facts div", has_text="Compute cost").locator("dd").inner_text()
    assert cost == "1,234.50 cost units"  # the unit the organisation set, or say that it is one
    team = tab.locator("#team thead").inner_text()
    assert "Hours contributed" in team and "Performance (0–100)" in team and "Perf." not in team
    _shot(tab, "project-formatting")


# ---------------------------------------------------------------------------------------------- 10. error pages
def test_refusals_and_unknown_addresses_get_the_products_own_pages(week, tab):
    tab.expected_status = 403
    response = tab.goto(_url(week, "/manage/"))
    assert response.status == 403
    page = tab.get_by_test_id("error-403")
    assert page.get_by_role("heading", level=1).inner_text() == "You can't open this page"
    assert "The lead role may not create users and service accounts." in page.inner_text()
    assert tab.locator("nav#mainnav").count() == 1  # the product's frame, its menu included
    _shot(tab, "error-403")
    page.get_by_role("link", name="Object grants you manage").click()
    tab.wait_for_url("**/manage/grants")
    tab.expected_status = 404
    response = tab.goto(_url(week, "/no/such/page"))
    assert response.status == 404
    assert tab.get_by_test_id("error-404").get_by_role("heading", level=1).inner_text() == "Page not found"
    assert "URLconf" not in tab.content()
    _shot(tab, "error-404")
