"""The owner's SSO settings page: what it stores (the client secret encrypted, never shown again), what it refuses
(with the field named and nothing written), who may see and change it, and what the audit trail records."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.test import override_settings

from apps.accounts.services import user_create
from apps.audit.models import AuditEvent
from apps.sso.models import SsoConfig
from maestro.encryption import DecryptionError, decrypt
from tests.sso.conftest import events
from tests.support.access import denied_events

pytestmark = pytest.mark.django_db

SECRET = "alpha-client-secret-1"


def _form(provider, **overrides) -> dict:
    return {
        "enabled": "on",
        "display_name": "Test IdP",
        "issuer": provider.issuer,
        "client_id": "alpha-client",
        "client_secret": SECRET,
        "scopes": "openid email profile groups",
        "allowed_domains": "alpha.test\n@Example.COM\n",
        "role_claim": "groups",
        "role_mapping": "ml-leads = lead\n/org/admins = admin\n",
        "default_role": "member",
        **overrides,
    }


def _client(ctx, role: str):
    client = ctx.client()
    with ctx.context():
        client.force_login(user_create(username=f"sso-{role}", role=role))
    return client


def _config(ctx) -> SsoConfig | None:
    with ctx.context():
        return SsoConfig.objects.first()


def test_the_owner_sets_it_up_and_the_secret_is_stored_encrypted_and_never_shown(tenant_a, provider):
    owner = _client(tenant_a, "owner")
    assert "Single sign-on is not set up" not in owner.get("/manage/sso").content.decode()  # the form, for owners
    response = owner.post("/manage/sso", _form(provider))
    assert response.status_code == 302, response.content.decode()[:3000]
    config = _config(tenant_a)
    assert (config.enabled, config.client_id, config.issuer) == (True, "alpha-client", provider.issuer)
    assert config.allowed_domains == ["alpha.test", "example.com"]
    assert config.role_mapping == [{"value": "ml-leads", "role": "lead"}, {"value": "/org/admins", "role": "admin"}]
    assert SECRET not in config.client_secret_encrypted and decrypt(config.client_secret_encrypted) == SECRET
    page = owner.get("/manage/sso").content.decode()
    assert SECRET not in page and "A client secret is stored" in page
    assert "http://alpha.localhost/accounts/sso/callback/" in page  # the redirect URI to register
    [created] = events(tenant_a, "sso.config_changed")
    assert created.category == "security"
    assert created.changes["client_secret_encrypted"] == {"before": None, "after": "***"}
    assert created.changes["issuer"] == {"before": None, "after": provider.issuer}
    with tenant_a.context():
        trail = json.dumps([event.shown() for event in AuditEvent.objects.all()], default=str)
    assert SECRET not in trail and config.client_secret_encrypted not in trail


def test_saving_without_a_secret_keeps_the_stored_one(tenant_a, provider):
    owner = _client(tenant_a, "owner")
    owner.post("/manage/sso", _form(provider))
    stored = _config(tenant_a).client_secret_encrypted
    response = owner.post("/manage/sso", _form(provider, client_secret="", display_name="Keycloak", sso_only="on"))
    assert response.status_code == 302
    config = _config(tenant_a)
    assert (config.client_secret_encrypted, config.display_name, config.sso_only) == (stored, "Keycloak", True)
    changed = events(tenant_a, "sso.config_changed")[-1]
    assert set(changed.changes) == {"display_name", "sso_only"}


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"client_secret": ""}, "client_secret", "Enter the client secret"),
        ({"issuer": "not a url"}, "issuer", "Enter a valid URL"),
        ({"allowed_domains": ""}, "allowed_domains", "This field is required"),
        ({"allowed_domains": "alpha.test\nnot a domain"}, "allowed_domains", "is not a domain name"),
        ({"role_mapping": "ml-leads => owner"}, "role_mapping", "Line 1"),
        ({"role_mapping": "just text"}, "role_mapping", "claim value = role"),
        ({"scopes": "email profile"}, "scopes", "must include 'openid'"),
        ({"sso_only": "on", "enabled": ""}, "sso_only", "needs single sign-on enabled"),
        ({"default_role": "owner"}, "default_role", "Select a valid choice"),
    ],
)
def test_bad_input_names_the_field_and_saves_nothing(tenant_a, provider, overrides, field, message):
    response = _client(tenant_a, "owner").post("/manage/sso", _form(provider, **overrides))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors and message in " ".join(errors[field]), errors
    assert _config(tenant_a) is None
    assert events(tenant_a, "sso.config_changed") == []


def test_a_provider_whose_discovery_disagrees_is_refused_on_the_issuer_field(tenant_a, provider):
    owner = _client(tenant_a, "owner")
    # the discovery document is served under the issuer with a trailing slash too, but names the issuer without it
    response = owner.post("/manage/sso", _form(provider, issuer=provider.issuer + "/"))
    assert response.status_code == 200
    assert "calls itself" in " ".join(response.context["form"].errors["issuer"])
    unreachable = owner.post("/manage/sso", _form(provider, issuer="http://127.0.0.1:9/o"))
    assert "could not be read" in " ".join(unreachable.context["form"].errors["issuer"])
    assert _config(tenant_a) is None
    # saved while off, nothing is fetched
    assert owner.post("/manage/sso", _form(provider, issuer="http://127.0.0.1:9/o", enabled="")).status_code == 302


@override_settings(SSO_REQUIRE_HTTPS=True)
def test_production_requires_an_https_issuer(tenant_a, provider):
    response = _client(tenant_a, "owner").post("/manage/sso", _form(provider))
    assert "must be an https:// URL" in " ".join(response.context["form"].errors["issuer"])
    assert _config(tenant_a) is None


def test_admins_read_the_settings_but_only_owners_change_or_remove_them(tenant_a, provider):
    _client(tenant_a, "owner").post("/manage/sso", _form(provider))
    admin = _client(tenant_a, "admin")
    page = admin.get("/manage/sso")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Only owners change these settings" in text and "alpha-client" in text and SECRET not in text
    assert 'name="client_secret"' not in text
    before = denied_events(tenant_a)
    assert admin.post("/manage/sso", _form(provider, display_name="Mine")).status_code == 403
    assert admin.post("/manage/sso/delete").status_code == 403
    assert denied_events(tenant_a) == before + 2
    assert _config(tenant_a).display_name == "Test IdP"
    for role in ("lead", "member", "viewer"):
        assert _client(tenant_a, role).get("/manage/sso").status_code == 403
    assert tenant_a.client().get("/manage/sso").status_code == 302  # anonymous: to the login page


def test_the_owner_removes_it_with_its_secret_and_passwords_work_again(tenant_a, provider):
    owner = _client(tenant_a, "owner")
    owner.post("/manage/sso", _form(provider, sso_only="on"))
    assert owner.post("/manage/sso/delete").status_code == 302
    assert _config(tenant_a) is None
    removed = events(tenant_a, "sso.config_changed")[-1]
    assert removed.changes["client_secret_encrypted"] == {"before": "***", "after": None}
    assert "Sign in with" not in tenant_a.client().get("/accounts/login/").content.decode()


def test_another_tenant_sees_nothing_of_the_configuration(tenant_a, tenant_b, provider):
    _client(tenant_a, "owner").post("/manage/sso", _form(provider))
    page = _client(tenant_b, "owner").get("/manage/sso").content.decode()
    assert "alpha-client" not in page and provider.issuer not in page and "No client secret is stored" in page
    assert _config(tenant_b) is None
    assert events(tenant_b, "sso.config_changed") == []


def test_rotating_the_encryption_key_re_encrypts_the_stored_secret(tenant_a, tenant_b, provider, capsys):
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(MAESTRO_ENCRYPTION_KEYS=[old]):
        _client(tenant_a, "owner").post("/manage/sso", _form(provider))
    stored = _config(tenant_a).client_secret_encrypted
    with override_settings(MAESTRO_ENCRYPTION_KEYS=[new]), pytest.raises(DecryptionError):
        decrypt(stored)
    with override_settings(MAESTRO_ENCRYPTION_KEYS=[new, old]):
        call_command("sso_rotate_secrets")
    out = capsys.readouterr().out
    assert "alpha: re-encrypted" in out and "beta: no secret" in out
    rotated = _config(tenant_a).client_secret_encrypted
    assert rotated != stored
    with override_settings(MAESTRO_ENCRYPTION_KEYS=[new]):
        assert decrypt(rotated) == SECRET
    assert events(tenant_a, "sso.config_changed")[-1].changes == {
        "client_secret_encrypted": {"before": "***", "after": "***"}
    }


def test_a_secret_no_configured_key_opens_must_be_entered_again(tenant_a, provider):
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    owner = _client(tenant_a, "owner")
    with override_settings(MAESTRO_ENCRYPTION_KEYS=[old]):
        assert owner.post("/manage/sso", _form(provider)).status_code == 302
    with override_settings(MAESTRO_ENCRYPTION_KEYS=[new]):
        refused = owner.post("/manage/sso", _form(provider, client_secret="", display_name="Renamed"))
        assert "cannot be decrypted" in " ".join(refused.context["form"].errors["client_secret"])
        assert _config(tenant_a).display_name == "Test IdP"
        start = tenant_a.client().get("/accounts/sso/login/")
        assert start.status_code == 503 and "enter the secret again" in start.content.decode()
        assert events(tenant_a, "sso.login_failed")[-1].extra["reason"] == "secret_unreadable"
        assert owner.post("/manage/sso", _form(provider)).status_code == 302  # entered again
        assert tenant_a.client().get("/accounts/sso/login/").status_code == 302
