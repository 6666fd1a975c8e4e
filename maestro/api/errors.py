"""Django's error views (handler400/403/404/500) answering API paths in the shared error shape.

Errors raised outside DRF's views — a URL no route matches, a ``SuspiciousOperation`` raised while reading a request,
an exception in middleware — reach Django's handlers, which render HTML pages. Clients of ``/api/`` get JSON in the
one error shape instead (the schema documents it), and a lost database connection becomes a 503 with Retry-After
everywhere (it is not a bug in the request or the code; the server answers again once the database is back).
"""

from __future__ import annotations

import sys

from django.http import HttpResponse, JsonResponse
from django.views import defaults

from maestro.api.exceptions import ServiceUnavailable, is_database_unavailable

API_PREFIXES = ("/api/", "/ajax-api/")


def is_api(request) -> bool:
    return request.path.startswith(API_PREFIXES)


def api_error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"status": status, "code": code, "detail": detail, "errors": []}, status=status)


def bad_request(request, exception=None):
    if is_api(request):
        return api_error(400, "bad_request", "The request could not be read.")
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    if is_api(request):
        return api_error(403, "permission_denied", "You do not have permission to perform this action.")
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception=None):
    if is_api(request):
        return api_error(404, "not_found", "Not found.")
    return defaults.page_not_found(request, exception)


def server_error(request):
    # Called while Django handles the exception, so sys.exc_info() is the exception being handled.
    exc = sys.exc_info()[1]
    if exc is not None and is_database_unavailable(exc):
        if is_api(request):
            response = api_error(503, ServiceUnavailable.default_code, str(ServiceUnavailable.default_detail))
        else:
            response = HttpResponse(
                "The service is temporarily unavailable; try again shortly.", status=503, content_type="text/plain"
            )
        response["Retry-After"] = str(ServiceUnavailable.retry_after)
        return response
    if is_api(request):
        return api_error(500, "server_error", "Internal server error; the error was logged.")
    return defaults.server_error(request)
