"""Every path under MLflow's prefixes answers MLflow-shaped JSON, for every method, with or without credentials:
paths Maestro does not serve (404 ENDPOINT_NOT_FOUND — never Django's HTML CSRF page), served endpoints asked with
another method (405), and errors raised before any view (tenant routing, request text checks)."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory
from django.urls import resolve
from rest_framework.test import APIClient

from apps.mlflow_api.api import urls as mlflow_urls
from apps.mlflow_api.api import views
from apps.mlflow_api.protocol import PREFIXES
from maestro.api import errors
from tests.dashboard.helpers import signed_in
from tests.mlflow_api.conftest import admin_token, error_of
from tests.support.mlflow_routes import concrete

pytestmark = pytest.mark.django_db

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
NOT_SERVED = ("gateway-proxy", "scorers/list", "prompts/search", "traces/tr-1/info", "")


def send(client, method: str, path: str):
    body = {"run_id": "0" * 32, "name": "x"} if method in ("POST", "PUT", "PATCH") else None
    return getattr(client, method.lower())(path, body, format="json")


def assert_mlflow_json(response, status: int, code: str) -> str:
    assert response["Content-Type"] == "application/json", response.content[:300]
    return error_of(response, status, code)


def clients(ctx):
    """(label, client) for the credentials an MLflow path may see: a token, none, a browser session — every one
    enforcing CSRF as a real server does (Django's test client skips the check unless told otherwise)."""
    token = APIClient(enforce_csrf_checks=True, HTTP_HOST=ctx.host)
    token.credentials(HTTP_AUTHORIZATION=f"Bearer {admin_token(ctx)}")
    session = signed_in(ctx).client
    session.handler.enforce_csrf_checks = True
    return [("token", token), ("anonymous", APIClient(enforce_csrf_checks=True, HTTP_HOST=ctx.host)),
            ("session", session)]  # fmt: skip


def test_paths_not_served_answer_endpoint_not_found_for_every_method_and_credential(tenant_a):
    for label, client in clients(tenant_a):
        for prefix in PREFIXES:
            for rest in NOT_SERVED:
                for method in METHODS:
                    path = prefix + rest
                    response = send(client, method, path)
                    where = f"{method} {path} ({label})"
                    assert response.status_code == 404, f"{where}: {response.status_code} {response.content[:200]}"
                    message = assert_mlflow_json(response, 404, "ENDPOINT_NOT_FOUND")
                    assert f"'{method} {path}'" in message, where


def test_a_bad_token_on_a_path_not_served_is_unauthenticated_as_on_every_mlflow_path(tenant_a):
    forged = APIClient(HTTP_HOST=tenant_a.host, HTTP_AUTHORIZATION=f"Bearer mae_{tenant_a.schema}_0123abcd_{'0' * 40}")
    for method in METHODS:
        response = send(forged, method, "/api/2.0/mlflow/traces/tr-1/info")
        assert_mlflow_json(response, 401, "UNAUTHENTICATED")
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_on_the_platform_host_the_token_routes_every_mlflow_prefix(tenant_a):
    token = admin_token(tenant_a)
    routed = APIClient(enforce_csrf_checks=True, HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {token}")
    anonymous = APIClient(enforce_csrf_checks=True, HTTP_HOST="localhost")
    for prefix in PREFIXES:
        for method in METHODS:
            assert_mlflow_json(send(routed, method, prefix + "traces/tr-1/info"), 404, "ENDPOINT_NOT_FOUND")
            assert_mlflow_json(send(anonymous, method, prefix + "traces/tr-1/info"), 401, "UNAUTHENTICATED")
    served = routed.get("/api/2.0/mlflow/experiments/search", {"max_results": 1})
    assert served.status_code == 200 and "experiments" in served.json()


def test_served_endpoints_answer_another_method_in_mlflow_json(tenant_a):
    token = APIClient(enforce_csrf_checks=True, HTTP_HOST=tenant_a.host)
    token.credentials(HTTP_AUTHORIZATION=f"Bearer {admin_token(tenant_a)}")
    anonymous = APIClient(enforce_csrf_checks=True, HTTP_HOST=tenant_a.host)
    for path, view, _name in mlflow_urls.ENDPOINTS:
        for method in METHODS:
            if hasattr(view, method.lower()):
                continue
            for prefix in ("/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"):
                response = send(token, method, prefix + concrete(path))
                assert_mlflow_json(response, 405, "BAD_REQUEST")
                assert method not in response["Allow"], f"{method} {path}: Allow {response['Allow']}"
                assert_mlflow_json(send(anonymous, method, prefix + concrete(path)), 401, "UNAUTHENTICATED")


def test_the_not_served_view_is_mounted_last_and_never_shadows_a_served_route():
    for prefix, mounted in (("/api/2.0/mlflow/", "mlflow-"), ("/ajax-api/2.0/mlflow/", "mlflow-ajax-")):
        for path, view, name in mlflow_urls.ENDPOINTS:
            for suffix in ("", "/"):
                match = resolve(prefix + concrete(path) + suffix)
                assert match.func.view_class is view and match.url_name == f"{mounted}{name}", prefix + path
    for prefix in PREFIXES:
        assert resolve(prefix + "anything/else").func.view_class is views.EndpointNotFoundView
    # A route added to a mount's endpoint list (as the artifact service's will be) is served before the catch-all.
    added = mlflow_urls.patterns("probe-", [("artifacts", views.RunGetView, "artifacts")])
    assert added[0].resolve("artifacts").func.view_class is views.RunGetView
    assert added[-1].resolve("artifacts/x").func.view_class is views.EndpointNotFoundView


def test_request_text_refused_before_any_view_is_answered_in_mlflow_shape(tenant_a):
    client = APIClient(HTTP_HOST=tenant_a.host, HTTP_AUTHORIZATION=f"Bearer {admin_token(tenant_a)}")
    message = assert_mlflow_json(client.get("/api/2.0/mlflow/runs/get?run_id=a%00b"), 400, "INVALID_PARAMETER_VALUE")
    assert message == "run_id: Null characters are not allowed."
    native = client.get("/api/v1/runs?name=a%00b").json()  # the native API keeps its own shape
    assert native["errors"] == [{"field": "name", "code": "invalid", "message": "Null characters are not allowed."}]


@pytest.mark.parametrize(
    ("path", "shape"),
    [("/api/2.0/mlflow/runs/create", "mlflow"), ("/api/3.0/mlflow/traces", "mlflow"), ("/api/v1/runs", "shared"),
     ("/runs/", "page")],
)  # fmt: skip
def test_django_error_views_answer_each_path_in_its_shape(path, shape):
    """Errors Django answers itself (no route, a CSRF failure of a plain view, a server error) on MLflow's paths take
    MLflow's shape, other API paths the shared one, pages stay HTML."""
    request = RequestFactory().post(path)
    for view, status in ((errors.page_not_found, 404), (errors.csrf_failure, 403), (errors.bad_request, 400)):
        response = view(request, *(("CSRF cookie not set.",) if view is errors.csrf_failure else ()))
        assert response.status_code == status
        if shape == "page":
            assert response["Content-Type"].startswith("text/html")
            continue
        body = json.loads(response.content)
        if shape == "mlflow":
            assert body["error_code"] == {404: "ENDPOINT_NOT_FOUND", 403: "PERMISSION_DENIED",
                                          400: "INVALID_PARAMETER_VALUE"}[status] and body["message"]  # fmt: skip
        else:
            assert body["status"] == status and body["detail"] and body["errors"] == []
