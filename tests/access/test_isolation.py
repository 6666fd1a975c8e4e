"""Tenant isolation over every API route (enumerated from the resolver): tenant A's token and session on tenant B's
host, and B's object ids on A's host — no response carries the other tenant's data, and B's rows never change."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.access import policy
from apps.access.declarations import HTTP_METHODS, api_routes
from tests.access.test_matrix_routes import call, url_for
from tests.support.access import make_principal
from tests.support.isolation import seed

pytestmark = pytest.mark.django_db

ROUTES = [r for r in api_routes() if r.view_path not in policy.PUBLIC_VIEWS]
ID_QUERY_PARAMS = ("object_id", "id", "user", "project", "run", "artifact")


def schema_fingerprint(schema: str) -> dict[str, str]:
    """An md5 of every row of every table of ``schema``: equal before and after means nothing was written."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_type = 'BASE TABLE'",
            [schema],
        )
        tables = sorted(row[0] for row in cursor.fetchall())
        out = {}
        for table in tables:
            cursor.execute(
                f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM \"{schema}\".\"{table}\" t"
            )
            out[table] = cursor.fetchone()[0]
    return out


def assert_clean(response, fingerprints: list[str], label: str):
    assert response.status_code < 500, f"{label}: {response.status_code}"
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode(errors="replace")
    leaked = [f for f in fingerprints if f and f in text]
    assert not leaked, f"{label}: response carries the other tenant's {leaked}"


def _b_ids(tenant_b) -> dict[str, list[str]]:
    """Ids of B's objects per route basename, read by B's owner through B's own list routes."""
    owner = make_principal(tenant_b, "owner")
    api = tenant_b.api(owner.token)
    ids: dict[str, list[str]] = {}
    for route in ROUTES:
        if route.kwargs or not (route.name or "").endswith("-list"):
            continue
        response = api.get(url_for(route), {"page_size": 500})
        assert response.status_code == 200, route.pattern
        results = response.json().get("results", [])
        ids[route.name.removesuffix("-list")] = [str(item["id"]) for item in results if "id" in item]
    return ids


def test_tenant_a_credentials_get_nothing_from_tenant_b_on_any_route(tenant_a, tenant_b):
    fingerprints = [*seed(tenant_b, "zzbetaonly"), "@beta.test"]
    a_marks = seed(tenant_a, "zzalphaonly")
    a_token = make_principal(tenant_a, "owner").token
    a_session = tenant_a.client()
    assert (
        a_session.post("/accounts/login/", {"username": "admin", "password": tenant_a.admin_password}).status_code
        == 302
    )
    assert "sessionid" in a_session.cookies and a_session.get("/api/v1/me").status_code == 200
    b_client_with_a_session = tenant_b.client()
    b_client_with_a_session.cookies = a_session.cookies
    before = schema_fingerprint(tenant_b.schema)
    for route in ROUTES:
        url = url_for(route)
        for method in HTTP_METHODS:
            label = f"{method} {route.pattern} on B's host"
            token_response = call(tenant_b.api(a_token), method, url)
            assert token_response.status_code == 401, f"{label} with A's token: {token_response.status_code}"
            assert_clean(token_response, fingerprints + a_marks, f"{label} with A's token")
            session_response = getattr(b_client_with_a_session, method.lower())(url)
            assert session_response.status_code in (401, 403), (
                f"{label} with A's session: {session_response.status_code}"
            )
            assert_clean(session_response, fingerprints + a_marks, f"{label} with A's session")
    assert schema_fingerprint(tenant_b.schema) == before


def test_b_object_ids_on_a_host_reveal_and_change_nothing_of_b(tenant_a, tenant_b):
    fingerprints = [*seed(tenant_b, "zzbetaonly"), "@beta.test"]
    ids = _b_ids(tenant_b)
    assert ids.get("token") and ids.get("user"), "B's seed data must be listed by B itself"
    all_ids = sorted({i for values in ids.values() for i in values}, key=int)
    a_owner = make_principal(tenant_a, "owner")
    api = tenant_a.api(a_owner.token)
    before = schema_fingerprint(tenant_b.schema)
    requests = 0
    for route in ROUTES:
        if route.kwargs:
            basename = (route.name or "").rsplit("-", 1)[0]
            candidates = ids.get(basename) or all_ids
            for object_id in candidates:
                url = url_for(route).replace("999999999", object_id)
                for method in HTTP_METHODS:
                    assert_clean(call(api, method, url), fingerprints, f"{method} {url} on A's host")
                    requests += 1
        else:
            for object_id in all_ids:
                query = "&".join(f"{p}={object_id}" for p in ID_QUERY_PARAMS)
                for object_type in ("project", "artifact"):
                    url = f"{url_for(route)}?object_type={object_type}&{query}"
                    assert_clean(call(api, "GET", url), fingerprints, f"GET {url} on A's host")
                    requests += 1
    assert requests > 50
    assert schema_fingerprint(tenant_b.schema) == before
