"""Every route of both URL confs is declared — in the permission matrix or, with a reason, in PUBLIC_ROUTES — and an
undeclared route of any kind fails here and is refused when served. Dashboard routes answer each role as the matrix
says, before their view runs.

The enumeration walks every pattern (nested includes, admin sites, the MLflow mounts under /api/ and /ajax-api/);
/healthz, /readyz, /metrics and static files are answered by middleware before any URL conf and are no routes.
"""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.test import override_settings
from django.urls import reverse

from apps.access import policy
from apps.access.declarations import (
    HTTP_METHODS,
    PublicAccess,
    ViewAccess,
    access,
    all_routes,
    route_access,
    route_problems,
    view_id,
)
from apps.accounts.services import user_create
from tests.support.access import denied_events

pytestmark = pytest.mark.django_db

UNDECLARED_CONF = "tests.access.urls_undeclared"
DASHBOARD = [r for r in all_routes(("maestro.urls",)) if isinstance(route_access(r.callback), ViewAccess)]
ROLES = [p for p in policy.PRINCIPALS if p != policy.SERVICE]  # service accounts cannot sign in to the dashboard


def test_every_route_of_both_url_confs_is_declared():
    routes = all_routes()
    patterns = {(r.urlconf, r.pattern) for r in routes}
    # the enumeration sees every kind of route, not only DRF routes under /api/
    assert ("maestro.urls", "projects/<int:pk>/edit") in patterns
    assert ("maestro.urls", "admin/accounts/user/<path:object_id>/change/") in patterns
    assert ("maestro.urls", "ajax-api/2.0/mlflow/runs/search/?") in patterns
    assert ("maestro.urls", "api/2.0/mlflow/.*") in patterns
    assert ("maestro.urls_public", "admin/tenants/tenant/") in patterns
    assert len(routes) > 300
    assert route_problems() == []


def test_every_public_route_is_served_somewhere_and_says_why():
    served = {view_id(r.callback) for r in all_routes()}
    assert set(policy.PUBLIC_ROUTES) <= served, "stale PUBLIC_ROUTES entries: remove them"
    assert all(len(reason) > 20 for reason in policy.PUBLIC_ROUTES.values())


def test_undeclared_routes_of_every_kind_are_reported():
    problems = "\n".join(route_problems(urlconfs=(UNDECLARED_CONF,)))
    for pattern in (
        "/undeclared/page (tests.access.urls_undeclared.dashboard_page)",
        "/undeclared/class (tests.access.urls_undeclared.PlainClassView)",
        "/api/v1/undeclared-function/? (tests.access.urls_undeclared.api_function)",
        "/ajax-api/2.0/mlflow/undeclared/? (tests.access.urls_undeclared.api_function)",
        "/api/v1/undeclared-no-policy/? (tests.access.urls_undeclared.NoPolicyApiView)",
        "/extra-admin/guardian/userobjectpermission/",  # a model the matrix assigns no resource
        "/extra-admin/ (extra_admin:index)",  # a new admin site's own pages are reviewed too
    ):
        assert pattern in problems, f"not reported: {pattern}"
    assert "maestro.urls:" not in problems  # the real routes stay declared


@override_settings(ROOT_URLCONF=UNDECLARED_CONF)
def test_undeclared_routes_are_refused_when_served(tenant_a):
    owner = tenant_a.client()
    with tenant_a.context():
        owner.force_login(user_create(username="route-owner", role="owner", is_staff=True, is_superuser=True))
    for path in (
        "/undeclared/page",
        "/undeclared/class",
        "/api/v1/undeclared-function",
        "/ajax-api/2.0/mlflow/undeclared",
        "/api/v1/undeclared-no-policy",
        "/extra-admin/guardian/userobjectpermission/",
    ):
        before = denied_events(tenant_a)
        response = owner.get(path)
        assert response.status_code == 403, path
        assert "should never be served" not in response.content.decode(), path
        assert denied_events(tenant_a) == before + 1, path
        anonymous = tenant_a.client().get(path)
        assert anonymous.status_code == 403, path
    api = owner.get("/api/v1/undeclared-function")
    assert api.json()["status"] == 403  # API paths keep the shared error shape


def test_a_declaration_names_a_known_resource_action_and_method():
    with pytest.raises(policy.PolicyError):
        access("projects", get="approve")
    with pytest.raises(policy.PolicyError):
        access("no_such_resource")
    with pytest.raises(policy.PolicyError):
        access("projects", fetch=policy.READ)


def test_every_model_of_the_tenant_admin_is_capped_and_has_a_resource():
    for model, model_admin in admin.site._registry.items():
        assert getattr(model_admin, "matrix_capped", False), model
        assert policy.resource_of_model(model._meta.label), f"{model._meta.label}: no resource in the matrix"
        for inline in model_admin.inlines:
            assert policy.resource_of_model(inline.model._meta.label), f"{inline.model._meta.label} (inline)"


# ---------------------------------------------------------------------------------------------- dashboard × roles
def _url(route) -> str:
    """The route's URL with placeholder ids that name no object."""
    assert route.name, f"{route.pattern}: dashboard routes must be named"
    kwargs = {name: 999999 for name in re.findall(r"<(?:\w+:)?(\w+)>", route.pattern)}
    return reverse(route.name, kwargs=kwargs)


@pytest.mark.parametrize("route", DASHBOARD, ids=[r.pattern or "/" for r in DASHBOARD])
def test_dashboard_routes_answer_each_role_as_the_matrix_says(tenant_a, route):
    declared = route_access(route.callback)
    url = _url(route)
    for method in declared.methods:
        if method == "HEAD":
            continue
        anonymous = tenant_a.client().generic(method, url)
        assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/"), (method, url)
    for role in ROLES:
        client = tenant_a.client()
        with tenant_a.context():
            client.force_login(user_create(username=f"dash-{role}", role=role))
        for method, action in declared.methods.items():
            if method == "HEAD":
                continue
            refused = policy.rule_for(declared.resource, action).cell(role) is None
            before = denied_events(tenant_a)
            response = client.generic(method, url)
            label = f"{method} {url} as {role}"
            assert response.status_code < 500, label
            if refused:
                assert response.status_code == 403, label
                assert denied_events(tenant_a) == before + 1, label
            else:
                assert response.status_code != 403, f"{label}: refused, but the matrix allows {action}"
        undeclared = next(m for m in HTTP_METHODS if m not in declared.methods)
        assert client.generic(undeclared, url).status_code == 405, f"{undeclared} {url}"


def test_public_routes_are_public_access():
    login = next(r for r in all_routes(("maestro.urls",)) if r.name == "login")
    assert isinstance(route_access(login.callback), PublicAccess)


def test_no_page_route_can_match_an_api_path():
    """``maestro.urls`` lists the API mounts first (fewer patterns tried per API call); that changes no answer only
    while no other route could match an ``api/`` or ``ajax-api/`` path: none starts with those words or with a path
    converter, and none is empty except the dashboard's root."""
    from django.urls import resolve

    api = ("api/", "ajax-api/")
    others = [r for r in all_routes(("maestro.urls",)) if not r.pattern.startswith(api)]
    assert others, "no page routes found"
    for route in others:
        assert not route.pattern.startswith(("api", "ajax-api", "<")), route.label
        assert route.pattern != "" or resolve("/").func is route.callback, route.label
    for path in ("/api/v1/me", "/api/2.0/mlflow/runs/log-metric", "/ajax-api/2.0/mlflow/runs/get"):
        assert resolve(path).route.startswith(api), path
