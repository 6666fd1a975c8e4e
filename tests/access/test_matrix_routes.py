"""Every API route × every principal × every method against the permission matrix (enumerated from the resolver,
so routes added later are covered without touching this file — and fail here until they declare a policy)."""

from __future__ import annotations

import uuid

import pytest
from django.test import override_settings
from django.urls import NoReverseMatch, reverse

from apps.access import policy
from apps.access.declarations import HTTP_METHODS, UNROUTED, api_routes, route_problems
from apps.audit.models import AuditEvent
from tests.support.access import make_principal

pytestmark = pytest.mark.django_db

ROUTES = [r for r in api_routes() if r.view_path not in policy.PUBLIC_VIEWS]
ROUTE_IDS = [r.name or r.pattern for r in ROUTES]
MISSING_VALUES = ("999999999", uuid.UUID(int=999999999).hex, "no-such-object-999")


def url_for(route, urlconf: str = "maestro.urls") -> str:
    """A concrete URL of ``route`` whose path parameters name objects that do not exist."""
    assert route.name, f"{route.pattern}: API routes must be named so tests can enumerate them"
    for value in MISSING_VALUES:
        try:
            return reverse(route.name, kwargs={k: value for k in route.kwargs}, urlconf=urlconf)
        except NoReverseMatch:
            continue
    raise AssertionError(f"{route.pattern}: no placeholder value fits its path parameters")


def call(api, method: str, url: str):
    return getattr(api, method.lower())(url, {} if method in ("POST", "PUT", "PATCH") else None, format="json")


# The MLflow-compatible API (apps.mlflow_api) answers errors in MLflow's shape, which MLflow clients parse.
MLFLOW_ERROR_CODES = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}


def error_body_says(body: dict, status: int) -> bool:
    """Whether an error body states ``status`` with a message, in Maestro's shape or in MLflow's."""
    if "error_code" in body:
        return body["error_code"] == MLFLOW_ERROR_CODES[status] and bool(body["message"])
    return body["status"] == status and bool(body["detail"])


def expected_denied(route, method: str, principal: str, scope: str) -> bool | None:
    """True: 403 expected; False: allowed past the gate; None: the route does not serve the method (405)."""
    declared = route.declaration(method)
    if declared is UNROUTED:
        return None
    rule = policy.rule_for(*declared)
    return rule.cell(principal) is None or not policy.scope_allows(scope, rule.scope)


def test_the_api_has_routes_and_each_declares_a_policy():
    assert len(ROUTES) >= 10
    assert route_problems() == []


def test_the_matrix_is_complete_and_consistent():
    assert policy.validate() == []
    assert {r.resource for r in policy.RULES} == set(policy.RESOURCES)


def _assert_gate(tenant, route, method, who, response, denied, events_before):
    label = f"{method} {route.pattern} as {who.principal}/{who.scope}"
    assert response.status_code < 500, f"{label}: {response.status_code}"
    if denied is None:
        assert response.status_code == 405, f"{label}: expected 405, got {response.status_code}"
        return
    with tenant.context():
        new_denials = AuditEvent.objects.filter(action="access.denied").count() - events_before
    if denied:
        assert response.status_code == 403, f"{label}: expected 403, got {response.status_code}"
        assert error_body_says(response.json(), 403), label
        assert new_denials == 1, f"{label}: {new_denials} access.denied events"
    else:
        assert response.status_code not in (401, 403), f"{label}: refused ({response.status_code}) but allowed"
        assert new_denials == 0, f"{label}: recorded a denial for an allowed request"


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_every_principal_and_method_gets_what_the_matrix_says(tenant_a, route):
    url = url_for(route)
    for principal in policy.PRINCIPALS:
        who = make_principal(tenant_a, principal, scope="admin")
        api = tenant_a.api(who.token)
        for method in HTTP_METHODS:
            before = _denials(tenant_a)
            response = call(api, method, url)
            _assert_gate(tenant_a, route, method, who, response, expected_denied(route, method, principal, "admin"),
                         before)  # fmt: skip


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_token_scopes_limit_every_route(tenant_a, route):
    """Owners may do everything the matrix allows anyone; their read and write tokens are cut down by scope."""
    url = url_for(route)
    for scope in ("read", "write"):
        who = make_principal(tenant_a, "owner", scope=scope)
        api = tenant_a.api(who.token)
        for method in HTTP_METHODS:
            before = _denials(tenant_a)
            response = call(api, method, url)
            _assert_gate(tenant_a, route, method, who, response, expected_denied(route, method, "owner", scope), before)


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_anonymous_and_invalid_credentials_get_401_everywhere(tenant_a, route):
    url = url_for(route)
    forged = f"mae_{tenant_a.schema}_0123abcd_{'0' * 40}"
    for api in (tenant_a.api(), tenant_a.api(forged)):
        for method in HTTP_METHODS:
            response = call(api, method, url)
            assert response.status_code == 401, f"{method} {route.pattern}: {response.status_code}"
            assert error_body_says(response.json(), 401), f"{method} {route.pattern}: {response.content[:200]}"


def test_read_token_cannot_write_anything(tenant_a):
    """Stated on its own: no route accepts a non-read method from a read token past the gate."""
    who = make_principal(tenant_a, "owner", scope="read")
    api = tenant_a.api(who.token)
    for route in ROUTES:
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            declared = route.declaration(method)
            if declared not in (None, UNROUTED) and declared[1] == "read":
                continue  # a read served through POST (e.g. runs/search): allowed for read tokens by design
            response = call(api, method, url_for(route))
            assert response.status_code in (403, 405), f"{method} {route.pattern}: {response.status_code}"


def _denials(tenant) -> int:
    with tenant.context():
        return AuditEvent.objects.filter(action="access.denied").count()


@override_settings(ROOT_URLCONF="tests.access.urls_extra")
def test_a_route_without_declaration_is_refused_and_reported(tenant_a):
    routes = api_routes("tests.access.urls_extra")
    problems = route_problems(routes)
    assert any("api/v1/test/undeclared" in p and "no access policy declared" in p for p in problems)
    assert any("api/v1/test/bypass" in p and "drop AccessPolicy" in p for p in problems)
    who = make_principal(tenant_a, "owner")
    before = _denials(tenant_a)
    response = tenant_a.api(who.token).get("/api/v1/test/undeclared")
    assert response.status_code == 403
    assert response.json()["detail"] == "This endpoint declares no access policy."
    assert "should never be served" not in response.content.decode()
    assert _denials(tenant_a) == before + 1


def test_system_check_reports_undeclared_routes():
    from django.core.checks import run_checks

    with override_settings(ROOT_URLCONF="tests.access.urls_extra"):
        ids = [m.id for m in run_checks() if m.id.startswith("access.")]
    assert ids.count("access.W001") >= 2
    assert [m.id for m in run_checks() if m.id.startswith("access.")] == []
