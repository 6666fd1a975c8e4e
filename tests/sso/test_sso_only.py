""" "SSO only": passwords stop working for everyone but owners — at the login form, the admin login and the password
change pages — and only in the tenant that turned it on."""

from __future__ import annotations

import pytest

from apps.accounts.services import user_create
from tests.sso.conftest import configure, events, sign_in, signed_in_username

pytestmark = pytest.mark.django_db

PASSWORD = "carols-own-password-9"


def _person(ctx, username: str, role: str, *, staff: bool = False):
    with ctx.context():
        return user_create(
            username=username, email=f"{username}@{ctx.schema}.test", password=PASSWORD, role=role, is_staff=staff
        )


def _password_login(ctx, username: str, password: str = PASSWORD, path: str = "/accounts/login/"):
    client = ctx.client()
    response = client.post(path, {"username": username, "password": password})
    return client, response


def test_sso_only_refuses_the_right_password_of_a_non_owner_at_the_login_form(tenant_a, provider):
    _person(tenant_a, "carol", "admin")
    configure(tenant_a, provider, sso_only=True)
    client, response = _password_login(tenant_a, "carol")
    assert response.status_code == 200
    page = response.content.decode()
    assert "passwords work only for owners" in page and "Sign in with Test IdP" in page
    assert signed_in_username(tenant_a, client) is None
    assert events(tenant_a, "auth.login_failed")[-1].detail.extra == {"username": "carol"}  # counted as a failure


def test_owners_keep_their_password_in_sso_only_mode(tenant_a, provider):
    configure(tenant_a, provider, sso_only=True)
    client, response = _password_login(tenant_a, tenant_a.admin_username, tenant_a.admin_password)
    assert response.status_code == 302
    assert signed_in_username(tenant_a, client) == tenant_a.admin_username


def test_without_sso_only_passwords_work_as_before(tenant_a, provider):
    _person(tenant_a, "carol", "admin")
    configure(tenant_a, provider, sso_only=False)
    client, response = _password_login(tenant_a, "carol")
    assert response.status_code == 302 and signed_in_username(tenant_a, client) == "carol"


def test_sso_only_in_one_tenant_leaves_the_other_alone(tenant_a, tenant_b, provider):
    _person(tenant_b, "carol", "member")
    configure(tenant_a, provider, sso_only=True)
    client, response = _password_login(tenant_b, "carol")
    assert response.status_code == 302 and signed_in_username(tenant_b, client) == "carol"


def test_sso_only_refuses_non_owners_at_the_admin_login(tenant_a, provider):
    _person(tenant_a, "dora", "admin", staff=True)
    with tenant_a.context():
        owner = user_create(username="olga", email="olga@alpha.test", password=PASSWORD, role="owner", is_staff=True)
    configure(tenant_a, provider, sso_only=True)
    client, response = _password_login(tenant_a, "dora", path="/admin/login/?next=/admin/")
    assert response.status_code == 200 and signed_in_username(tenant_a, client) is None
    client, response = _password_login(tenant_a, owner.username, path="/admin/login/?next=/admin/")
    assert response.status_code == 302 and signed_in_username(tenant_a, client) == "olga"


def test_sso_only_closes_the_password_change_pages_to_non_owners(tenant_a, provider):
    configure(tenant_a, provider, sso_only=True)
    attempt = sign_in(tenant_a, provider, "alice")  # a lead, signed in through the provider
    staff = _person(tenant_a, "dora", "admin", staff=True)
    staff_client = tenant_a.client()
    staff_client.force_login(staff)
    for client, path in ((attempt.client, "/accounts/password/"), (staff_client, "/admin/password_change/")):
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            assert response.status_code == 403, (path, method)
            assert "passwords are turned off except for owners" in response.content.decode()
    owner = tenant_a.client()
    owner.post("/accounts/login/", {"username": tenant_a.admin_username, "password": tenant_a.admin_password})
    assert owner.get("/accounts/password/").status_code == 200
