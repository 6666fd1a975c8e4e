"""Refuse request text that PostgreSQL cannot store before any view sees it.

Query strings and paths reach filters, lookups and hand-parsed parameters all over the API; PostgreSQL rejects text
holding a NUL character (``DataError`` → a 500 wherever the value lands in a query), and a query string that is not
UTF-8 is silently decoded with replacement characters (so a filter would match something other than what the client
sent). This middleware answers both with a 400 in the error shape (MLflow's shape under MLflow's paths, a plain 400
page outside ``/api/``), naming the parameter, once for every endpoint — present and future. Bodies are checked by
the JSON parsers (``maestro.api.parsers``, ``apps.mlflow_api.api.handling``) and by DRF's character fields.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from django.http import HttpResponseBadRequest, JsonResponse

from maestro.api.errors import is_api

# The MLflow-compatible API (apps/mlflow_api) and its artifact proxy answer errors in MLflow's own shape.
MLFLOW_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow", "/api/3.0/mlflow", "/ajax-api/3.0/mlflow")


def _raw_bytes(query_string: str) -> bytes:
    """WSGI passes the query string's bytes decoded as latin-1; test clients may pass decoded text."""
    try:
        return query_string.encode("latin-1")
    except UnicodeEncodeError:
        return query_string.encode("utf-8", "surrogatepass")


def _query_problem(raw: bytes) -> tuple[str | None, str] | None:
    """(parameter, problem) for the first bad parameter of a raw query string."""
    for pair in raw.split(b"&"):
        if not pair:
            continue
        name, _, value = pair.partition(b"=")
        decoded_name = unquote_to_bytes(name.replace(b"+", b" "))
        try:
            label = decoded_name.decode("utf-8")
        except UnicodeDecodeError:
            return None, "A query parameter name is not valid UTF-8."
        if "\x00" in label:
            return None, "A query parameter name contains a null character."
        try:
            text = unquote_to_bytes(value.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            return label, "Not valid UTF-8."
        if "\x00" in text:
            return label, "Null characters are not allowed."
    return None


class RequestTextGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        problem = None
        if "\x00" in request.path:
            problem = (None, "The path contains a null character.")
        else:
            raw = request.META.get("QUERY_STRING", "")
            if raw:
                problem = _query_problem(_raw_bytes(raw))
        if problem is None:
            return self.get_response(request)
        field, message = problem
        if request.path.startswith(MLFLOW_PREFIXES):  # MLflow's clients parse MLflow's error shape
            where = f"Invalid value for parameter '{field}' supplied: " if field else ""
            return JsonResponse({"error_code": "INVALID_PARAMETER_VALUE", "message": f"{where}{message}"}, status=400)
        if not is_api(request):
            return HttpResponseBadRequest(message, content_type="text/plain")
        detail = f"{field}: {message}" if field else message
        return JsonResponse(
            {"status": 400, "code": "invalid", "detail": detail,
             "errors": [{"field": field, "code": "invalid", "message": message}]},
            status=400,
        )  # fmt: skip
