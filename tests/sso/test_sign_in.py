"""Signing in through the tenant's OpenID provider, against a real provider (django-oauth-toolkit in its own process):
the authorization code flow with PKCE, state and nonce; who a verified token signs in as; and every refusal."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

from apps.accounts.models import User
from apps.accounts.services import user_create
from apps.sso.models import SsoIdentity
from apps.sso.oidc import FLOWS
from tests.sso.conftest import configure, deliver, events, sign_in, signed_in_username
from tests.support.oidc import ProviderUser

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def _users(ctx, **filters) -> list[User]:
    with ctx.context():
        return list(User.objects.filter(**filters))


def _assert_refused(ctx, attempt, *, status: int, says: str, reason: str, email: str) -> None:
    """Refused with ``status`` and a page that ``says`` why; nobody signed in or created; the reason audited."""
    assert attempt.response.status_code == status
    assert says in attempt.response.content.decode()
    assert signed_in_username(ctx, attempt.client) is None
    assert _users(ctx, email=email) == []
    assert events(ctx, "sso.login_failed")[-1].extra["reason"] == reason


def test_the_authorization_request_carries_pkce_s256_state_and_nonce(tenant_a, provider):
    configure(tenant_a, provider)
    client = tenant_a.client()
    start = client.get("/accounts/sso/login/")
    assert start.status_code == 302
    url = urlsplit(start["Location"])
    query = {key: values[0] for key, values in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == provider.discovery()["authorization_endpoint"]
    assert query["client_id"] == "alpha-client"
    assert query["redirect_uri"] == "http://alpha.localhost/accounts/sso/callback/"
    assert query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 20 and len(query["nonce"]) >= 20
    assert set(query["scope"].split()) == {"openid", "email", "profile", "groups"}
    # the verifier and nonce stay in this session (server side), bound to this tenant; the challenge is S256 of it
    session = client.session
    assert session[FLOWS][query["state"]]["tenant"] == tenant_a.schema
    kept = session[f"_state_maestro-sso_{query['state']}"]["data"]
    digest = base64.urlsafe_b64encode(hashlib.sha256(kept["code_verifier"].encode()).digest()).rstrip(b"=").decode()
    assert digest == query["code_challenge"] and kept["nonce"] == query["nonce"]
    assert kept["code_verifier"] not in start["Location"]


def test_first_sign_in_creates_the_user_in_the_tenant_with_the_mapped_role(tenant_a, tenant_b, provider):
    configure(tenant_a, provider)
    attempt = sign_in(tenant_a, provider, "alice", next_url="/projects/")
    assert attempt.response.status_code == 302
    assert attempt.response["Location"] == "/projects/"
    assert signed_in_username(tenant_a, attempt.client) == "alice@alpha.test"
    assert "Change password" not in attempt.client.get("/").content.decode()  # she has no password here
    [user] = _users(tenant_a, email="alice@alpha.test")
    assert (user.username, user.role, user.first_name, user.has_usable_password()) == (
        "alice@alpha.test", "lead", "Test", False,
    )  # fmt: skip
    with tenant_a.context():
        link = SsoIdentity.objects.get(user=user)
    assert link.issuer == provider.issuer and link.subject  # the provider's sub for alice
    [created] = events(tenant_a, "sso.user_created")
    assert created.actor_id == user.pk and created.extra == {"role": "lead", "issuer": provider.issuer}
    [login] = events(tenant_a, "sso.login")
    assert login.extra == {"issuer": provider.issuer, "role": "lead", "created": True, "linked": True}
    assert login.detail.extra == {"subject": link.subject, "email": "alice@alpha.test"}  # erasable, not in the row
    assert "alice" not in str(login.extra)
    assert len(events(tenant_a, "auth.login")) == 1
    # nothing of it in the other tenant
    assert _users(tenant_b, email="alice@alpha.test") == []
    assert events(tenant_b, "sso.login") == []


def test_the_second_sign_in_uses_the_subject_link_and_follows_the_providers_role(tenant_a, provider):
    config = configure(tenant_a, provider)
    sign_in(tenant_a, provider, "alice")
    with tenant_a.context():
        user = User.objects.get(email="alice@alpha.test")
        user.email = "renamed@alpha.test"  # the link, not the address, finds her now
        user.role = "admin"  # promoted by hand here; the provider says lead
        user.save()
    attempt = sign_in(tenant_a, provider, "alice")
    assert attempt.response.status_code == 302
    assert _users(tenant_a, email="alice@alpha.test") == []
    [again] = _users(tenant_a, pk=user.pk)
    assert again.role == "lead"
    assert events(tenant_a, "sso.login")[-1].extra["created"] is False
    assert events(tenant_a, "user.role_changed")[-1].object_id == str(user.pk)
    assert config.role_mapping  # (the mapping decided)


def test_no_matching_group_gives_the_default_role_or_refuses(tenant_a, provider):
    configure(tenant_a, provider, default_role="viewer")
    assert sign_in(tenant_a, provider, "nadia").response.status_code == 302
    assert _users(tenant_a, email="nadia@alpha.test")[0].role == "viewer"

    with tenant_a.context():
        User.objects.filter(email="nadia@alpha.test").delete()
    configure(tenant_a, provider, default_role="")
    refused = sign_in(tenant_a, provider, "nadia")
    _assert_refused(
        tenant_a, refused, status=403, says="give you no role", reason="no_role", email="nadia@alpha.test"
    )  # fmt: skip


def test_a_person_outside_the_allowed_domains_is_refused(tenant_a, provider):
    configure(tenant_a, provider)
    attempt = sign_in(tenant_a, provider, "mallory")
    _assert_refused(
        tenant_a, attempt, status=403, says="domain may not sign in", reason="domain_not_allowed",
        email="mallory@elsewhere.org",
    )  # fmt: skip
    [failed] = events(tenant_a, "sso.login_failed")
    assert failed.extra == {"reason": "domain_not_allowed", "issuer": provider.issuer}
    assert failed.detail.extra == {"email": "mallory@elsewhere.org"}
    assert "mallory" not in failed.object_repr  # the claimed address is personal: only in the erasable detail


def test_an_unverified_address_never_takes_over_the_owner_account(tenant_a, provider):
    configure(tenant_a, provider)
    attempt = sign_in(tenant_a, provider, "impostor")  # claims admin@alpha.test, email_verified false, ml-admins
    assert attempt.response.status_code == 403
    assert "not verified your e-mail" in attempt.response.content.decode()
    assert signed_in_username(tenant_a, attempt.client) is None
    with tenant_a.context():
        owner = User.objects.get(username=tenant_a.admin_username)
        assert not SsoIdentity.objects.filter(user=owner).exists()
    assert owner.role == "owner"
    failed = events(tenant_a, "sso.login_failed")[-1]
    assert failed.extra["reason"] == "email_unverified"


def test_a_verified_address_links_the_existing_person_and_never_changes_an_owner(tenant_a, provider):
    configure(tenant_a, provider, default_role="")  # no role from the provider for this person
    attempt = sign_in(tenant_a, provider, "owner-at-idp")
    assert attempt.response.status_code == 302
    assert signed_in_username(tenant_a, attempt.client) == tenant_a.admin_username
    with tenant_a.context():
        owner = User.objects.get(username=tenant_a.admin_username)
        assert SsoIdentity.objects.filter(user=owner, issuer=provider.issuer).count() == 1
    assert owner.role == "owner"
    assert events(tenant_a, "sso.login")[-1].extra == {
        "issuer": provider.issuer, "role": "owner", "created": False, "linked": True,
    }  # fmt: skip


def test_a_deactivated_person_is_refused(tenant_a, provider):
    configure(tenant_a, provider)
    with tenant_a.context():
        bob = user_create(username="bob", email="bob@alpha.test", role="member")
        bob.is_active = False
        bob.save()
    response = sign_in(tenant_a, provider, "bob").response
    assert response.status_code == 403
    assert events(tenant_a, "sso.login_failed")[-1].extra["reason"] == "inactive_user"


def test_an_id_token_issued_to_another_client_is_refused(tenant_b, provider):
    """The provider answers beta's token request with an ID token whose aud is alpha's client: refused on beta."""
    configure(tenant_b, provider, client_id="beta-confused")
    attempt = sign_in(tenant_b, provider, "beatrice")
    _assert_refused(
        tenant_b, attempt, status=400, says="not valid for this organisation (aud)", reason="wrong_audience",
        email="beatrice@beta.test",
    )  # fmt: skip


def test_an_expired_id_token_is_refused(tenant_a, provider):
    configure(tenant_a, provider, client_id="alpha-expired")
    attempt = sign_in(tenant_a, provider, "alice")
    _assert_refused(
        tenant_a, attempt, status=400, says="has expired", reason="token_expired", email="alice@alpha.test"
    )  # fmt: skip


def test_a_replayed_callback_is_refused(tenant_a, provider):
    configure(tenant_a, provider)
    attempt = sign_in(tenant_a, provider, "alice")
    assert attempt.response.status_code == 302
    # the same code and state again, in the same browser and in a fresh one
    for client in (attempt.client, tenant_a.client()):
        replay = deliver(client, attempt.callback_url)
        assert replay.status_code == 400
        assert "not valid here" in replay.content.decode()
    assert [e.extra["reason"] for e in events(tenant_a, "sso.login_failed")] == ["state_mismatch"] * 2
    assert len(events(tenant_a, "sso.login")) == 1


def test_a_callback_without_state_or_after_cancelling_is_refused(tenant_a, provider):
    configure(tenant_a, provider)
    client = tenant_a.client()
    assert client.get("/accounts/sso/callback/?code=abc").status_code == 400
    start = client.get("/accounts/sso/login/")
    cancelled = ProviderUser(provider, provider.people["alice"]).authorize(start["Location"], consent=False)
    assert "error=access_denied" in cancelled
    response = deliver(client, cancelled)
    assert response.status_code == 400
    reasons = [e.extra["reason"] for e in events(tenant_a, "sso.login_failed")]
    assert reasons == ["state_mismatch", "provider_denied"]


def test_tenant_as_callback_delivered_to_tenant_b_signs_in_nobody(tenant_a, tenant_b, provider):
    """Both tenants use the same provider; a code and state from a flow on A's host, delivered on B's host (in the
    same browser, cookies and all), finds no flow in B's session and is refused before any token request."""
    configure(tenant_a, provider)
    configure(tenant_b, provider)
    browser = tenant_a.client()
    attempt = sign_in(tenant_a, provider, "alice", client=browser, deliver_to=tenant_b.client())
    assert attempt.response.status_code == 400
    stolen = deliver(tenant_b.client(), attempt.callback_url)  # and again, in yet another session
    assert stolen.status_code == 400
    assert _users(tenant_b, email="alice@alpha.test") == []
    assert {e.extra["reason"] for e in events(tenant_b, "sso.login_failed")} == {"state_mismatch"}
    # the flow is still A's to finish, on A's host; B never knows the person
    assert deliver(browser, attempt.callback_url).status_code == 302
    assert signed_in_username(tenant_a, browser) == "alice@alpha.test"
    assert signed_in_username(tenant_b, browser) is None


def test_a_session_from_tenant_as_provider_is_nothing_on_tenant_b(tenant_a, tenant_b, provider):
    configure(tenant_a, provider)
    configure(tenant_b, provider)
    attempt = sign_in(tenant_a, provider, "alice")
    assert signed_in_username(tenant_a, attempt.client) == "alice@alpha.test"
    # the Django test client sends every cookie to every host: B's schema has no such session
    assert signed_in_username(tenant_b, attempt.client) is None
    home = attempt.client.get("/", HTTP_HOST=tenant_b.host)
    assert home.status_code == 302 and home["Location"].startswith("/accounts/login/")


def test_sign_in_routes_answer_404_where_single_sign_on_is_off(tenant_a, tenant_b, provider):
    configure(tenant_a, provider, enabled=False)
    for ctx in (tenant_a, tenant_b):
        client = ctx.client()
        assert client.get("/accounts/sso/login/").status_code == 404
        assert client.get("/accounts/sso/callback/?code=x&state=y").status_code == 404
        assert "Sign in with" not in client.get("/accounts/login/").content.decode()


def test_the_login_page_offers_the_provider_only_on_its_tenant(tenant_a, tenant_b, provider):
    configure(tenant_a, provider)
    page = tenant_a.client().get("/accounts/login/?next=/projects/").content.decode()
    assert "Sign in with Test IdP" in page
    assert 'href="/accounts/sso/login/?next=/projects/"' in page
    assert "Sign in with" not in tenant_b.client().get("/accounts/login/").content.decode()


def test_an_open_redirect_is_not_followed(tenant_a, provider):
    configure(tenant_a, provider)
    attempt = sign_in(tenant_a, provider, "alice", next_url="https://evil.example/")
    assert attempt.response.status_code == 302
    assert attempt.response["Location"] == "/"


def test_logging_out_of_an_sso_session_offers_the_providers_end_session(tenant_a, provider):
    configure(tenant_a, provider)
    attempt = sign_in(tenant_a, provider, "alice")
    out = attempt.client.post("/accounts/logout/")
    assert out.status_code == 302 and out["Location"] == "/accounts/sso/signed-out/"
    assert signed_in_username(tenant_a, attempt.client) is None
    page = attempt.client.get("/accounts/sso/signed-out/").content.decode()
    end_session = provider.discovery()["end_session_endpoint"]
    assert f'href="{end_session}?id_token_hint=' in page
    assert "post_logout_redirect_uri=http%3A%2F%2Falpha.localhost%2Faccounts%2Flogin%2F" in page
    # shown once
    assert attempt.client.get("/accounts/sso/signed-out/")["Location"] == "/accounts/login/"
    # a password session logs out as before
    client = tenant_a.client()
    client.post("/accounts/login/", {"username": tenant_a.admin_username, "password": tenant_a.admin_password})
    assert signed_in_username(tenant_a, client) == tenant_a.admin_username
    assert client.post("/accounts/logout/")["Location"] == "/accounts/login/"
