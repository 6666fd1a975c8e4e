"""The delivery panel in a real browser: Chart.js draws the server's series, with no console errors."""

import pytest

from tests.integrations.factories import ProjectFactory, make_integration
from tests.integrations.helpers import outside_event_loop
from tests.integrations.payloads import deliver_github
from tests.integrations.test_metrics import at, github_history
from tests.support.live_server import screenshot_dir

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHART_DATA = """(id) => {
  const chart = window.Chart.getChart(document.getElementById(id));
  return chart ? chart.data.datasets.map((d) => d.data) : null;
}"""


def _create(alpha):
    with alpha.context():
        project = ProjectFactory(name="Browser delivery project")
        integration, secret = make_integration(project, created_at=at(1, 5))
    for event, payload in github_history():
        assert deliver_github(alpha.host, integration, secret, event, payload).status_code == 200
    return project


def _delete(alpha, project):
    with alpha.context():
        project.delete()


def test_delivery_panel_draws_charts_in_a_browser(committed, live_server_url, page):
    alpha, _beta = committed
    project = outside_event_loop(lambda: _create(alpha))
    try:
        page.goto(live_server_url.url(alpha.host, "/accounts/login/"))
        page.get_by_label("Username").fill(alpha.admin_username)
        page.get_by_label("Password").fill(alpha.admin_password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(live_server_url.url(alpha.host, "/"))

        page.goto(
            live_server_url.url(alpha.host, f"/projects/{project.pk}/delivery-panel?from=2026-03-02&to=2026-03-29")
        )
        page.wait_for_function("() => document.querySelector('[data-delivery-panel]').dataset.chartsReady === '1'")
        activity = page.evaluate(CHART_DATA, f"delivery-activity-{project.pk}")
        assert activity == [[3, 2, 1, 1], [2, 1, 1, 0]]
        assert page.evaluate(CHART_DATA, f"delivery-ci-{project.pk}") == [[50, 100, 0, 100]]
        assert page.locator('[data-metric="pr_lead_time"] .metric-value').inner_text() == "p50 42.0 h · p90 81.6 h"
        page.screenshot(path=str(screenshot_dir() / "delivery-panel.png"), full_page=True)

        page.get_by_label("From").fill("2026-03-09")
        page.get_by_label("To").fill("2026-03-22")
        page.get_by_role("button", name="Show").click()
        page.wait_for_url("**from=2026-03-09**")
        page.wait_for_function("() => document.querySelector('[data-delivery-panel]').dataset.chartsReady === '1'")
        assert page.evaluate(CHART_DATA, f"delivery-activity-{project.pk}") == [[2, 1], [1, 1]]
    finally:
        outside_event_loop(lambda: _delete(alpha, project))
