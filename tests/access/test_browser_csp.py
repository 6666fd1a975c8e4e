"""A real Chromium loads the dashboard, admin and API docs without a single Content-Security-Policy violation.

No django_db mark here: the session's Playwright browser keeps an event loop in the main thread, where a test
transaction could not be opened or rolled back."""

import pytest

pytestmark = [pytest.mark.browser]


def test_chromium_sees_no_csp_violation_on_dashboard_admin_and_docs(_session_tenants, live_server_url, page):
    """The shared ``page`` fixture fails on any console error, which is how Chromium reports a CSP violation."""
    tenant = _session_tenants[0]
    violations: list[str] = []
    page.on("console", lambda m: violations.append(f"{page.url}: {m.text}") if "Content Security Policy" in m.text
            else None)  # fmt: skip
    page.goto(live_server_url.url(tenant.host, "/accounts/login/"))
    page.fill("#id_username", "admin")
    page.fill("#id_password", tenant.admin_password)
    page.click("button[type=submit]")
    page.wait_for_url(live_server_url.url(tenant.host, "/"))
    for path in ("/", "/admin/", "/admin/accounts/user/", "/admin/audit/auditevent/", "/api/docs/"):
        page.goto(live_server_url.url(tenant.host, path))
        page.wait_for_load_state("networkidle")
    page.goto(live_server_url.url(tenant.host, "/api/docs/"))
    page.wait_for_selector(".swagger-ui .info", timeout=15000)  # the UI rendered: its scripts were allowed
    assert violations == [], "\n".join(violations)
