"""The in-process cache of token lookups (apps/accounts/token_cache.py) must never answer for a token that has been
revoked, expired, deactivated or changed — in this process or another — nor across tenants."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import ApiToken
from apps.accounts.services import token_create, token_revoke
from apps.accounts.token_cache import tokens
from maestro.tokens import parse_token


def _token(ctx, **kwargs):
    with ctx.context():
        user = get_user_model().objects.get(username=ctx.admin_username)
        return token_create(user=user, name="cache", **kwargs)


def _me(ctx, plaintext: str) -> int:
    return ctx.api(plaintext).get("/api/v1/me").status_code


@pytest.mark.django_db
def test_a_repeated_request_reads_the_token_from_the_cache_not_the_token_table(tenant_a):
    created = _token(tenant_a)
    assert _me(tenant_a, created.plaintext) == 200
    with CaptureQueriesContext(connection) as queries:
        assert _me(tenant_a, created.plaintext) == 200
    assert not [q["sql"] for q in queries if "accounts_apitoken" in q["sql"] and q["sql"].startswith("SELECT")]


@pytest.mark.django_db
def test_a_cached_token_revoked_by_the_service_is_refused_on_the_next_request(tenant_a):
    created = _token(tenant_a)
    assert _me(tenant_a, created.plaintext) == 200
    with tenant_a.context():
        token_revoke(token=created.token)
    assert _me(tenant_a, created.plaintext) == 401


@pytest.mark.django_db
def test_changes_that_bypass_services_reach_a_cached_token_on_the_next_request(tenant_a):
    created = _token(tenant_a)
    assert tenant_a.api(created.plaintext).get("/api/v1/me").json()["role"] == "owner"
    with tenant_a.context():
        ApiToken.objects.filter(pk=created.token.pk).update(scope="read")
    refused = tenant_a.api(created.plaintext).post("/api/v1/tokens", {"name": "x"})
    assert refused.status_code == 403
    assert "scope 'read'" in refused.content.decode()
    with tenant_a.context():
        get_user_model().objects.filter(pk=created.token.user_id).update(role="viewer")
    assert tenant_a.api(created.plaintext).get("/api/v1/me").json()["role"] == "viewer"
    with tenant_a.context():
        get_user_model().objects.filter(pk=created.token.user_id).update(is_active=False)
    assert _me(tenant_a, created.plaintext) == 401


@pytest.mark.django_db
def test_a_cached_token_answers_for_its_own_tenant_only(tenant_a, tenant_b):
    created = _token(tenant_a)
    assert _me(tenant_a, created.plaintext) == 200
    parsed = parse_token(created.plaintext)
    forged = f"mae_{tenant_b.schema}_{parsed.prefix}_{parsed.secret}"
    assert tenant_b.api(forged).get("/api/v1/me").status_code == 401
    assert tenant_a.api(forged, host="localhost").get("/api/v1/me").status_code == 401
    wrong_secret = f"mae_{tenant_a.schema}_{parsed.prefix}_{'0' * len(parsed.secret)}"
    assert _me(tenant_a, wrong_secret) == 401


def test_a_token_revoked_by_another_process_is_refused_on_the_next_request(committed):
    """This process caches the token; a separate process revokes it with its own database session (as another
    gunicorn worker or host would) and commits; this process refuses the very next request."""
    alpha = committed[0]
    tokens.clear()
    created = _token(alpha)
    try:
        assert _me(alpha, created.plaintext) == 200
        assert _me(alpha, created.plaintext) == 200  # served from the cache
        db = connection.settings_dict
        script = (
            "import sys, psycopg\n"
            "with psycopg.connect(dbname=sys.argv[1], user=sys.argv[2], password=sys.argv[3], host=sys.argv[4],"
            " port=sys.argv[5]) as conn:\n"
            "    conn.execute(f'UPDATE \"{sys.argv[6]}\".accounts_apitoken SET revoked_at = now() WHERE prefix = %s',"
            " [sys.argv[7]])\n"
        )
        args = [db["NAME"], db["USER"], db["PASSWORD"], db["HOST"] or "127.0.0.1", str(db["PORT"] or 5432)]
        subprocess.run([sys.executable, "-c", script, *args, alpha.schema, created.token.prefix], check=True)
        assert _me(alpha, created.plaintext) == 401
    finally:
        with alpha.context():
            ApiToken.objects.filter(pk=created.token.pk).delete()
        connection.set_schema_to_public()
