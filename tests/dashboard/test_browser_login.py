"""The dashboard in a real browser (system Chromium via Playwright) against a real gunicorn."""

import pytest

from tests.support.live_server import screenshot_dir

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_login_home_and_logout_in_a_browser(committed, live_server_url, page):
    alpha, _beta = committed
    page.goto(live_server_url.url(alpha.host, "/"))
    assert "/accounts/login/" in page.url
    page.screenshot(path=str(screenshot_dir() / "login.png"))
    page.get_by_label("Username").fill(alpha.admin_username)
    page.get_by_label("Password").fill(alpha.admin_password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_server_url.url(alpha.host, "/"))
    assert "Alpha Analytics" in page.content()
    page.locator("details.usermenu summary").click()  # the account menu opens
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/")


def test_wrong_password_shows_an_error(committed, live_server_url, page):
    alpha, _beta = committed
    page.goto(live_server_url.url(alpha.host, "/accounts/login/"))
    page.get_by_label("Username").fill(alpha.admin_username)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text().startswith("Your username and password didn't match")
