"""A real OpenID provider for the SSO tests (tests/support/oidc_provider), with clients for both test tenants.

Maestro runs in the test process (Django test client, each test's writes rolled back); the provider is its own
process, and Maestro reaches its discovery, JWKS and token endpoints over HTTP as it would reach Keycloak.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from apps.accounts.models import User
from apps.audit.models import AuditEvent
from apps.sso.services import sso_config_save
from tests.support.oidc import Client, OidcProvider, Person, ProviderUser

ALPHA_CALLBACK = "http://alpha.localhost/accounts/sso/callback/"
BETA_CALLBACK = "http://beta.localhost/accounts/sso/callback/"

PEOPLE = [
    Person("alice", "alice-idp-password-1", "alice@alpha.test", groups=["ml-leads", "everyone"]),
    Person("bob", "bob-idp-password-1", "bob@alpha.test", groups=["everyone"]),
    Person("nadia", "nadia-idp-password-1", "nadia@alpha.test", groups=[]),
    Person("mallory", "mallory-idp-password-1", "mallory@elsewhere.org", groups=["ml-leads"]),
    # claims the address of alpha's owner ("admin@alpha.test"), once unverified and once verified by the provider
    Person("impostor", "impostor-idp-password-1", "admin@alpha.test", email_verified=False, groups=["ml-admins"]),
    Person("owner-at-idp", "owner-idp-password-1", "admin@alpha.test", groups=[]),
    Person("beatrice", "beatrice-idp-password-1", "beatrice@beta.test", groups=["ml-leads"]),
]
CLIENTS = [
    Client("alpha-client", "alpha-client-secret-1", [ALPHA_CALLBACK], ["http://alpha.localhost/accounts/login/"]),
    Client("beta-client", "beta-client-secret-1", [BETA_CALLBACK], ["http://beta.localhost/accounts/login/"]),
    # a provider that issues beta's client an ID token meant for alpha's client
    Client("beta-confused", "beta-confused-secret-1", [BETA_CALLBACK], audience="alpha-client"),
    # a provider whose ID tokens are expired when they arrive (ten minutes, past the 120 s leeway)
    Client("alpha-expired", "alpha-expired-secret-1", [ALPHA_CALLBACK], id_token_lifetime=-600),
]
SECRETS = {client.client_id: client.client_secret for client in CLIENTS}
MAPPING = [{"value": "ml-admins", "role": "admin"}, {"value": "ml-leads", "role": "lead"}]


@pytest.fixture(scope="session")
def provider(tmp_path_factory):
    running = OidcProvider(tmp_path_factory.mktemp("oidc-provider"), people=PEOPLE, clients=CLIENTS).start()
    yield running
    running.stop()


def owner_of(ctx) -> User:
    with ctx.context():
        return User.objects.get(username=ctx.admin_username)


def configure(ctx, provider, client_id: str = "", **overrides):
    """Set up ``ctx``'s single sign-on through the service (the discovery check included), as its owner would."""
    client_id = client_id or f"{ctx.schema}-client"
    data = {
        "enabled": True,
        "display_name": "Test IdP",
        "issuer": provider.issuer,
        "client_id": client_id,
        "scopes": "openid email profile groups",
        "allowed_domains": [f"{ctx.schema}.test"],
        "role_claim": "groups",
        "role_mapping": MAPPING,
        "default_role": "member",
        "sso_only": False,
        **overrides,
    }
    with ctx.context():
        return sso_config_save(actor=owner_of(ctx), data=data, secret=SECRETS[client_id])


@dataclass
class Attempt:
    client: object  # the Django test client (Maestro's cookies)
    start: object  # response of /accounts/sso/login/
    callback_url: str  # where the provider sent the browser back
    response: object  # Maestro's answer on the callback


def deliver(client, callback_url: str):
    parts = urlsplit(callback_url)
    return client.get(f"{parts.path}?{parts.query}")


def sign_in(ctx, provider, username: str, *, client=None, deliver_to=None, next_url: str = "") -> Attempt:
    """Click "Sign in with …" on ``ctx``'s host, sign in and consent at the provider, and follow the provider's
    redirect back — to ``ctx``'s host, or with ``deliver_to`` to another tenant's client (a stolen callback)."""
    client = client or ctx.client()
    start = client.get("/accounts/sso/login/" + (f"?next={next_url}" if next_url else ""))
    assert start.status_code == 302, start.content[:500]
    callback_url = ProviderUser(provider, provider.people[username]).authorize(start["Location"])
    assert urlsplit(callback_url).netloc == ctx.host
    response = deliver(deliver_to or client, callback_url)
    return Attempt(client=client, start=start, callback_url=callback_url, response=response)


def events(ctx, action: str) -> list[AuditEvent]:
    with ctx.context():
        return list(AuditEvent.objects.filter(action=action).order_by("id"))


def signed_in_username(ctx, client) -> str | None:
    """Who ``client`` is on ``ctx``'s host (None: nobody), as the dashboard's own profile API says."""
    response = client.get("/api/v1/me", HTTP_HOST=ctx.host)
    return response.json()["username"] if response.status_code == 200 else None
