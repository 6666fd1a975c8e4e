"""The whole single sign-on redirect flow in Chromium against a real gunicorn and a real OpenID provider: the tenant's
login page → "Sign in with Test IdP" → the provider's login form → consent → back, signed in with the mapped role;
then logging out of Maestro and of the provider."""

from __future__ import annotations

import pytest

from apps.accounts.models import User
from apps.sso.models import SsoConfig
from apps.sso.services import sso_config_save
from tests.integrations.helpers import outside_event_loop
from tests.sso.conftest import MAPPING, SECRETS, owner_of
from tests.support.live_server import screenshot_dir
from tests.support.oidc import Client, OidcProvider, Person

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PERSON = Person("lena", "lena-idp-password-1", "lena@alpha.test", groups=["ml-leads"], given_name="Lena")


@pytest.fixture(scope="module")
def live_provider(live_server_url, tmp_path_factory):
    base = f"http://alpha.localhost:{live_server_url.port}"
    client = Client(
        "alpha-client", SECRETS["alpha-client"], [f"{base}/accounts/sso/callback/"], [f"{base}/accounts/login/"]
    )
    provider = OidcProvider(tmp_path_factory.mktemp("oidc-live"), people=[PERSON], clients=[client]).start()
    yield provider
    provider.stop()


def _configure(alpha, provider) -> None:
    with alpha.context():
        sso_config_save(
            actor=owner_of(alpha),
            data={
                "enabled": True,
                "display_name": "Test IdP",
                "issuer": provider.issuer,
                "client_id": "alpha-client",
                "scopes": "openid email profile groups",
                "allowed_domains": ["alpha.test"],
                "role_claim": "groups",
                "role_mapping": MAPPING,
                "default_role": "",
                "sso_only": True,
            },
            secret=SECRETS["alpha-client"],
        )


def _remove(alpha) -> None:
    with alpha.context():
        SsoConfig.objects.all().delete()
        User.objects.filter(email=PERSON.email).delete()


def _signed_in_person(alpha) -> tuple[str, bool]:
    with alpha.context():
        user = User.objects.get(email=PERSON.email)
        return user.role, user.has_usable_password()


@pytest.fixture
def alpha_with_sso(committed, live_provider):
    """Alpha's single sign-on ("SSO only"), committed so that gunicorn sees it; removed afterwards with the person it
    created. ORM calls run outside Playwright's event loop (see ``outside_event_loop``)."""
    alpha = committed[0]
    outside_event_loop(lambda: _configure(alpha, live_provider))
    yield alpha
    outside_event_loop(lambda: _remove(alpha))


def test_sign_in_through_the_provider_and_out_again_in_a_browser(alpha_with_sso, live_server_url, live_provider, page):
    alpha = alpha_with_sso
    page.goto(live_server_url.url(alpha.host, "/accounts/login/"))
    page.screenshot(path=str(screenshot_dir() / "sso-login.png"))
    page.get_by_role("link", name="Sign in with Test IdP").click()

    page.wait_for_url(f"{live_provider.issuer.rsplit('/o', 1)[0]}/accounts/login/**")
    page.get_by_label("IdP username").fill(PERSON.username)
    page.get_by_label("IdP password").fill(PERSON.password)
    page.get_by_role("button", name="Sign in to the IdP").click()

    page.wait_for_url(f"{live_provider.issuer}/authorize/**")
    assert "Let alpha-client sign you in?" in page.content()
    page.get_by_role("button", name="Authorize").click()

    page.wait_for_url(live_server_url.url(alpha.host, "/"))
    page.screenshot(path=str(screenshot_dir() / "sso-signed-in.png"))
    assert "Lena Person · Lead" in page.locator("details.usermenu summary").inner_text()
    assert outside_event_loop(lambda: _signed_in_person(alpha)) == ("lead", False)

    page.locator("details.usermenu summary").click()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/sso/signed-out/")
    page.get_by_role("link", name="Sign out of Test IdP too").click()
    page.wait_for_url(live_server_url.url(alpha.host, "/accounts/login/") + "**")
    # signed out at the provider too: the next sign-in asks for the password again
    page.get_by_role("link", name="Sign in with Test IdP").click()
    page.wait_for_url(f"{live_provider.issuer.rsplit('/o', 1)[0]}/accounts/login/**")


def test_the_owner_keeps_a_password_and_sees_the_settings_without_the_secret(alpha_with_sso, live_server_url, page):
    alpha = alpha_with_sso
    page.goto(live_server_url.url(alpha.host, "/accounts/login/"))
    assert "Password sign-in is for owners only" in page.content()
    page.get_by_label("Username").fill(alpha.admin_username)
    page.get_by_label("Password").fill(alpha.admin_password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_server_url.url(alpha.host, "/"))
    page.wait_for_load_state("networkidle")  # the icon too: leaving earlier aborts its request
    page.get_by_role("link", name="Admin").click()
    page.get_by_role("link", name="Single sign-on").click()
    page.wait_for_url(live_server_url.url(alpha.host, "/manage/sso"))
    page.screenshot(path=str(screenshot_dir() / "sso-settings.png"), full_page=True)
    assert page.get_by_label("Client secret").input_value() == ""
    assert "A client secret is stored" in page.get_by_test_id("secret-state").inner_text()
    assert SECRETS["alpha-client"] not in page.content()
    assert page.get_by_label("Client ID").input_value() == "alpha-client"
