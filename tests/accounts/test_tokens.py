from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.services import token_create, token_revoke, user_create
from maestro.tokens import parse_token

pytestmark = pytest.mark.django_db


def _admin_token(ctx, **kwargs):
    with ctx.context():
        user = get_user_model().objects.get(username=ctx.admin_username)
        return token_create(user=user, name="test", **kwargs)


def test_token_names_its_tenant_and_stores_only_a_hash(tenant_a):
    created = _admin_token(tenant_a)
    parsed = parse_token(created.plaintext)
    assert parsed.schema == "alpha"
    assert parsed.prefix == created.token.prefix
    with tenant_a.context():
        row = ApiToken.objects.get(pk=created.token.pk)
        assert row.key_hash != parsed.secret and len(row.key_hash) == 64
        # The plaintext secret appears in no row of any table of the tenant or the platform schema.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema IN ('alpha', 'public') AND table_type = 'BASE TABLE'"
            )
            tables = cursor.fetchall()
            assert len(tables) > 10
            for schema, table in tables:
                cursor.execute(
                    f'SELECT count(*) FROM "{schema}"."{table}" t WHERE t::text LIKE %s', [f"%{parsed.secret}%"]
                )
                assert cursor.fetchone()[0] == 0, f"secret found in {schema}.{table}"


def test_token_authenticates_on_own_host_and_records_last_use(tenant_a):
    created = _admin_token(tenant_a)
    response = tenant_a.api(created.plaintext).get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["username"] == "admin"
    assert response.json()["tenant"] == "alpha"
    with tenant_a.context():
        assert ApiToken.objects.get(pk=created.token.pk).last_used_at is not None


def test_token_routes_itself_from_the_platform_host(tenant_a, tenant_b):
    token_a = _admin_token(tenant_a).plaintext
    token_b = _admin_token(tenant_b).plaintext
    me_a = tenant_a.api(token_a, host="localhost").get("/api/v1/me").json()
    me_b = tenant_b.api(token_b, host="localhost").get("/api/v1/me").json()
    assert (me_a["tenant"], me_b["tenant"]) == ("alpha", "beta")


def test_token_of_one_tenant_is_rejected_on_another_tenants_host(tenant_a, tenant_b):
    token_a = _admin_token(tenant_a).plaintext
    response = tenant_b.api(token_a).get("/api/v1/me")
    assert response.status_code == 401
    assert "alpha" not in response.content.decode()
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_forged_token_with_other_tenant_name_is_rejected(tenant_a, tenant_b):
    """A's prefix and secret relabelled as B's: B's schema has no such token."""
    parsed = parse_token(_admin_token(tenant_a).plaintext)
    forged = f"mae_beta_{parsed.prefix}_{parsed.secret}"
    assert tenant_b.api(forged, host="localhost").get("/api/v1/me").status_code == 401
    assert tenant_b.api(forged).get("/api/v1/me").status_code == 401


@pytest.mark.parametrize(
    "token",
    ["garbage", "mae_alpha_zz_yy", "mae_nosuchtenant_0123abcd_" + "a" * 40, "mae_alpha_0123abcd_" + "b" * 40],
)
def test_malformed_or_unknown_tokens_are_401(tenant_a, token):
    assert tenant_a.api(token, host="localhost").get("/api/v1/me").status_code == 401
    assert tenant_a.api(token).get("/api/v1/me").status_code == 401


def test_wrong_secret_is_401(tenant_a):
    parsed = parse_token(_admin_token(tenant_a).plaintext)
    wrong = f"mae_alpha_{parsed.prefix}_{'0' * 40}"
    assert tenant_a.api(wrong).get("/api/v1/me").status_code == 401


def test_revoked_and_expired_tokens_are_401(tenant_a):
    revoked = _admin_token(tenant_a)
    expiring = _admin_token(tenant_a, expires_at=timezone.now() + timedelta(hours=1))
    assert tenant_a.api(expiring.plaintext).get("/api/v1/me").status_code == 200
    with tenant_a.context():
        token_revoke(token=revoked.token)
        ApiToken.objects.filter(pk=expiring.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert tenant_a.api(revoked.plaintext).get("/api/v1/me").status_code == 401
    assert tenant_a.api(expiring.plaintext).get("/api/v1/me").status_code == 401


def test_inactive_user_token_is_401(tenant_a):
    created = _admin_token(tenant_a)
    with tenant_a.context():
        get_user_model().objects.filter(pk=created.token.user_id).update(is_active=False)
    assert tenant_a.api(created.plaintext).get("/api/v1/me").status_code == 401


def test_anonymous_api_request_is_401(tenant_a):
    response = tenant_a.api().get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["status"] == 401


def test_create_list_and_revoke_tokens_through_the_api(tenant_a):
    bootstrap = _admin_token(tenant_a).plaintext
    api = tenant_a.api(bootstrap)
    created = api.post("/api/v1/tokens", {"name": "ci", "scope": "read"}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["token"].startswith("mae_alpha_") and body["scope"] == "read"
    listed = api.get("/api/v1/tokens").json()
    assert {t["name"] for t in listed["results"]} >= {"ci", "test"}
    assert all("token" not in t and "key_hash" not in t for t in listed["results"])
    revoked = api.post(f"/api/v1/tokens/{body['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert tenant_a.api(body["token"]).get("/api/v1/me").status_code == 401


def test_token_creation_errors_name_the_field(tenant_a):
    api = tenant_a.api(_admin_token(tenant_a).plaintext)
    missing = api.post("/api/v1/tokens", {}, format="json")
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["field"] == "name"
    past = api.post("/api/v1/tokens", {"name": "x", "expires_at": "2000-01-01T00:00:00Z"}, format="json")
    assert past.status_code == 400
    assert past.json()["errors"] == [
        {"field": "expires_at", "code": "invalid", "message": "The expiry must be in the future."}
    ]
    bad_scope = api.post("/api/v1/tokens", {"name": "x", "scope": "root"}, format="json")
    assert bad_scope.status_code == 400 and bad_scope.json()["errors"][0]["field"] == "scope"


def test_users_cannot_see_or_revoke_other_users_tokens(tenant_a):
    with tenant_a.context():
        other = user_create(username="other", email="o@alpha.test", password="a-long-password-1")
        other_token = token_create(user=other, name="theirs")
        member = user_create(username="member1", email="m@alpha.test", password="a-long-password-2")
        member_token = token_create(user=member, name="mine")
    api = tenant_a.api(member_token.plaintext)
    assert api.get(f"/api/v1/tokens/{other_token.token.pk}").status_code == 404
    assert api.post(f"/api/v1/tokens/{other_token.token.pk}/revoke").status_code == 404
    assert [t["name"] for t in api.get("/api/v1/tokens").json()["results"]] == ["mine"]
    assert tenant_a.api(other_token.plaintext).get("/api/v1/me").json()["username"] == "other"


def test_admins_see_and_revoke_every_token_of_their_tenant(tenant_a):
    with tenant_a.context():
        other = user_create(username="other", email="o@alpha.test", password="a-long-password-1")
        other_token = token_create(user=other, name="theirs")
    api = tenant_a.api(_admin_token(tenant_a).plaintext)
    listed = api.get(f"/api/v1/tokens/{other_token.token.pk}").json()
    assert (listed["username"], listed["name"]) == ("other", "theirs")
    assert api.post(f"/api/v1/tokens/{other_token.token.pk}/revoke").json()["revoked_at"] is not None
    assert tenant_a.api(other_token.plaintext).get("/api/v1/me").status_code == 401


def test_create_token_command(tenant_a, capsys):
    call_command("create_token", "--tenant", "alpha", "--user", "admin", "--name", "script", "--scope", "read")
    plaintext = capsys.readouterr().out.strip()
    assert plaintext.startswith("mae_alpha_")
    assert tenant_a.api(plaintext, host="localhost").get("/api/v1/me").json()["tenant"] == "alpha"
