"""Django's error views (handler400/403/404/500, the CSRF failure view) answering API paths in the shared error
shape.

Errors raised outside DRF's views — a URL no route matches, a ``SuspiciousOperation`` raised while reading a request,
a CSRF failure of a plain Django view, an exception in middleware — reach Django's handlers, which render HTML
pages. Clients of ``/api/`` get JSON in the one error shape instead (the schema documents it), and a lost database
connection becomes a 503 with Retry-After everywhere (it is not a bug in the request or the code; the server answers
again once the database is back).

An app serving another protocol's API under its own prefixes (MLflow's tracking API, whose clients parse
``{"error_code", "message"}``) registers that protocol's error body at start-up (``register_error_shape``); every
error answered here or by middleware (``api_error(…, request=…)``) under those prefixes then takes that shape.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from django.http import HttpResponse, JsonResponse
from django.views import csrf, defaults

from maestro.api.exceptions import ServiceUnavailable, is_database_unavailable

API_PREFIXES = ("/api/", "/ajax-api/")

# (path prefixes, body(status, message) → dict) registered by the apps that serve those prefixes.
_ERROR_SHAPES: list[tuple[tuple[str, ...], Callable[[int, str], dict]]] = []


def register_error_shape(prefixes: tuple[str, ...], body: Callable[[int, str], dict]) -> None:
    """Answer errors under ``prefixes`` with ``body(status, message)`` instead of the shared shape."""
    _ERROR_SHAPES.append((tuple(prefixes), body))


def is_api(request) -> bool:
    return request.path.startswith(API_PREFIXES)


def api_error(status: int, code: str, detail: str, *, request=None, errors: list | None = None) -> JsonResponse:
    """An error in the shared shape, or in the shape registered for ``request``'s path."""
    if request is not None:
        for prefixes, body in _ERROR_SHAPES:
            if request.path.startswith(prefixes):
                return JsonResponse(body(status, detail), status=status)
    return JsonResponse({"status": status, "code": code, "detail": detail, "errors": errors or []}, status=status)


def bad_request(request, exception=None):
    if is_api(request):
        return api_error(400, "bad_request", "The request could not be read.", request=request)
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    if is_api(request):
        return api_error(
            403, "permission_denied", "You do not have permission to perform this action.", request=request
        )
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception=None):
    if is_api(request):
        return api_error(404, "not_found", "Not found.", request=request)
    return defaults.page_not_found(request, exception)


def csrf_failure(request, reason: str = ""):
    """``CSRF_FAILURE_VIEW``: API clients get JSON. DRF's views check CSRF themselves (for session authentication
    only), so this answers only a plain Django view under ``/api/`` that a browser-less client POSTs to."""
    if is_api(request):
        return api_error(403, "csrf_failed", f"CSRF verification failed: {reason}", request=request)
    return csrf.csrf_failure(request, reason)


def server_error(request):
    # Called while Django handles the exception, so sys.exc_info() is the exception being handled.
    exc = sys.exc_info()[1]
    if exc is not None and is_database_unavailable(exc):
        if is_api(request):
            response = api_error(
                503, ServiceUnavailable.default_code, str(ServiceUnavailable.default_detail), request=request
            )
        else:
            response = HttpResponse(
                "The service is temporarily unavailable; try again shortly.", status=503, content_type="text/plain"
            )
        response["Retry-After"] = str(ServiceUnavailable.retry_after)
        return response
    if is_api(request):
        return api_error(500, "server_error", "Internal server error; the error was logged.", request=request)
    return defaults.server_error(request)
