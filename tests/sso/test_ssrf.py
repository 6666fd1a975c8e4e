"""An owner types the issuer, and Maestro's server fetches from it (discovery, signing keys, the token exchange), so
the issuer is held to the webhooks' SSRF rules: no loopback, private, link-local or other non-public address (a
name resolving to one included) unless an operator lists its network in ``SSO_ALLOWED_NETWORKS``. Checked when the
settings are saved and again before every fetch of a sign-in; a refused address is never connected to."""

from __future__ import annotations

import socket
import threading

import pytest
from django.test import override_settings

from apps.accounts.services import user_create
from apps.sso.models import SsoConfig
from tests.sso.conftest import configure, events

pytestmark = pytest.mark.django_db


class Listener:
    """A TCP port on a loopback address that counts the connections made to it (an internal service)."""

    def __init__(self, address: str = "127.0.0.5"):
        self.sock = socket.create_server((address, 0))
        self.sock.settimeout(0.2)
        self.url = f"http://{address}:{self.sock.getsockname()[1]}/o"
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def listener():
    running = Listener()
    yield running
    running.close()


def _owner(ctx):
    client = ctx.client()
    with ctx.context():
        client.force_login(user_create(username="sso-ssrf-owner", role="owner"))
    return client


def _form(issuer: str) -> dict:
    return {"enabled": "on", "display_name": "Internal IdP", "issuer": issuer, "client_id": "alpha-client",
            "client_secret": "alpha-client-secret-1", "scopes": "openid email", "allowed_domains": "alpha.test",
            "role_claim": "groups", "role_mapping": "", "default_role": "member"}  # fmt: skip


@override_settings(SSO_ALLOWED_NETWORKS=[])
@pytest.mark.parametrize(
    ("issuer", "says"),
    [
        (None, "is loopback"),  # the listener: an internal service on a loopback address
        ("http://169.254.169.254/latest/meta-data", "is link-local"),  # a cloud metadata service
        ("http://10.0.0.7/realms/x", "is private"),
        ("http://[::ffff:127.0.0.1]/o", "is loopback"),
        ("http://localhost:9/o", "resolves to"),  # a name resolving to loopback
    ],
)
def test_an_issuer_at_a_non_public_address_is_refused_on_the_issuer_field(tenant_a, listener, issuer, says):
    response = _owner(tenant_a).post("/manage/sso", _form(issuer or listener.url))
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors["issuer"])
    assert says in errors and "does not call" in errors, errors
    with tenant_a.context():
        assert not SsoConfig.objects.exists()
    assert listener.connections == 0


def test_an_operator_allowed_network_may_hold_the_provider(tenant_a, listener):
    with override_settings(SSO_ALLOWED_NETWORKS=["127.0.0.5/32"]):
        response = _owner(tenant_a).post("/manage/sso", _form(listener.url))
    # allowed: Maestro fetches the discovery document there (the listener closes the connection: not readable)
    assert "could not be read" in " ".join(response.context["form"].errors["issuer"])
    assert listener.connections >= 1


def test_a_sign_in_with_a_provider_at_a_refused_address_never_calls_it(tenant_a, provider, listener):
    configure(tenant_a, provider)  # saved while the provider's network was allowed, then moved to an internal address
    with tenant_a.context():
        SsoConfig.objects.update(issuer=listener.url.removesuffix("/o") + "/o")
    with override_settings(SSO_ALLOWED_NETWORKS=[]):
        response = tenant_a.client().get("/accounts/sso/login/")
    assert response.status_code == 503
    assert "does not call" in response.content.decode() and "is loopback" in response.content.decode()
    assert events(tenant_a, "sso.login_failed")[-1].extra["reason"] == "provider_refused"
    assert listener.connections == 0
    with override_settings(SSO_ALLOWED_NETWORKS=["127.0.0.5/32"]):  # allowed: called, and not a provider
        assert tenant_a.client().get("/accounts/sso/login/").status_code == 502
    assert listener.connections >= 1
