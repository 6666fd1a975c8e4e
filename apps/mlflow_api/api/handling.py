"""The HTTP layer shared by every MLflow endpoint: a JSON parser with MLflow's body rules, the base view (Maestro's
authentication, permission matrix and rate limits, MLflow's error shape), and fast JSON responses."""

from __future__ import annotations

import json
import re

import orjson
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse
from rest_framework import exceptions
from rest_framework.parsers import BaseParser
from rest_framework.views import APIView

from apps.metrics.search.compiler import SearchError
from apps.metrics.validation import parse_json_float
from apps.mlflow_api.protocol import (
    BAD_REQUEST,
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    REQUEST_LIMIT_EXCEEDED,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
    UNAUTHENTICATED,
    MlflowError,
    error_body,
)
from maestro.api.exceptions import PayloadTooLarge, StorageUnreachable, flatten_errors
from maestro.api.limits import MAX_BATCH_BODY_BYTES, general_body_limit, read_body  # noqa: F401 (LogBatchView's)
from maestro.api.parsers import check_json
from maestro.api.throttling import RateLimitUnavailable
from maestro.storage import InvalidKey, StorageUnavailable

# In valid JSON, a NUL or a lone surrogate can only arrive as a \u escape (raw, they are not valid JSON or UTF-8).
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


class MlflowJSONParser(BaseParser):
    r"""Request bodies as MLflow's server reads them: JSON whatever the declared content type (an empty body is
    ``{}``; a JSON-encoded string holding JSON, as old clients send, is decoded twice). NaN/Infinity literals are
    accepted; numbers beyond float64 are kept as markers so validation can name them. Bodies over the view's
    ``max_body_bytes`` (log-batch: ``MAX_BATCH_BODY_BYTES``; others: the API's general limit) raise the API's one
    ``PayloadTooLarge`` (``maestro.api.limits``), answered with MLflow's message.

    Strings PostgreSQL cannot store (NUL, lone surrogates — which could not even be rendered back in an error
    message) are refused naming their place, as Maestro's own parser does (``maestro.api.parsers.check_json``). That
    walk costs ~6 ms on a 1000-metric batch, so it runs only when the raw body holds an escape that could decode to
    one (``\u0000``, ``\ud800``–``\udfff``): a regular search over the bytes, ~0.1 ms."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        context = parser_context or {}
        limit = getattr(context.get("view"), "max_body_bytes", None) or general_body_limit()
        body = read_body(stream, limit=limit, request=context.get("request"))
        if not body.strip():
            return {}
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            try:
                data = json.loads(body, parse_float=parse_json_float)
            except (ValueError, RecursionError) as exc:
                raise MlflowError(f"Malformed JSON request body: {exc}") from None
        if isinstance(data, str):
            try:
                data = json.loads(data, parse_float=parse_json_float)
            except ValueError:
                raise MlflowError("Malformed JSON request body: a string that is not JSON.") from None
        if not isinstance(data, dict):
            raise MlflowError("The request body must be a JSON object.")
        if _SUSPECT_ESCAPE.search(body):
            check_json(data)
        return data


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


def refuse_unstorable_text(data, path: str = "") -> None:
    """INVALID_PARAMETER_VALUE naming the first string (value or key) of ``data`` holding a NUL character or an
    unpaired surrogate — text no database column can store — instead of a database error (a 500)."""
    if isinstance(data, str):
        if "\x00" in data or not _encodable(data):
            raise MlflowError(
                f"Invalid value for parameter '{path or 'body'}' supplied: text may not contain NUL characters or "
                "unpaired surrogates."
            )
    elif isinstance(data, dict):
        for key, value in data.items():
            refuse_unstorable_text(key, path or "body")
            refuse_unstorable_text(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            refuse_unstorable_text(item, f"{path}[{index}]")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _first_validation_message(detail) -> str:
    errors = flatten_errors(detail)
    if not errors:
        return "Invalid request."
    first = errors[0]
    return f"{first['field']}: {first['message']}" if first.get("field") else first["message"]


def _mlflow_error_for(exc) -> tuple[str, str, dict[str, str]] | None:
    """(error code, message, extra headers) for an exception raised while serving an MLflow endpoint."""
    if isinstance(exc, MlflowError):
        return exc.code, exc.message, {}
    if isinstance(exc, RequestDataTooBig):  # Django's own check of the same general limit
        exc = PayloadTooLarge(limit=general_body_limit())
    if isinstance(exc, PayloadTooLarge):  # MLflow's server answers an oversized body 400 with this message
        size = "" if exc.size is None else f", got a request of size {exc.size}{' or more' if exc.at_least else ''}"
        return INVALID_PARAMETER_VALUE, f"Batched logging API requests must be at most {exc.limit} bytes{size}.", {}
    if isinstance(exc, SearchError):
        where = f" (at position {exc.position})" if exc.position is not None else ""
        field = {"filter": "filter", "page_token": "page_token", "max_results": "max_results"}.get(exc.field, exc.field)
        return INVALID_PARAMETER_VALUE, f"Invalid value for parameter '{field}' supplied: {exc.message}{where}", {}
    if isinstance(exc, DjangoValidationError):
        detail = (
            {k: [m for e in v for m in e.messages] for k, v in exc.error_dict.items()}
            if hasattr(exc, "error_dict")
            else exc.messages
        )
        return INVALID_PARAMETER_VALUE, _first_validation_message(detail), {}
    if isinstance(exc, exceptions.ValidationError):
        return INVALID_PARAMETER_VALUE, _first_validation_message(exc.detail), {}
    if isinstance(exc, (Http404, exceptions.NotFound)):
        return RESOURCE_DOES_NOT_EXIST, str(exc) or "Not found.", {}
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        return UNAUTHENTICATED, str(exc.detail), {"WWW-Authenticate": 'Bearer realm="api"'}
    if isinstance(exc, exceptions.Throttled):
        headers = {"Retry-After": str(int(exc.wait))} if exc.wait is not None else {}
        return REQUEST_LIMIT_EXCEEDED, str(exc.detail), headers
    if isinstance(exc, RateLimitUnavailable):
        return TEMPORARILY_UNAVAILABLE, str(exc.detail), {"Retry-After": str(exc.wait)}
    if isinstance(exc, StorageUnavailable):
        return (
            TEMPORARILY_UNAVAILABLE,
            str(StorageUnreachable.default_detail),
            {"Retry-After": str(StorageUnreachable.retry_after)},
        )
    if isinstance(exc, InvalidKey):
        return INVALID_PARAMETER_VALUE, f"Invalid path: {exc}", {}
    if isinstance(exc, (exceptions.PermissionDenied, DjangoPermissionDenied)):
        return PERMISSION_DENIED, str(getattr(exc, "detail", "") or exc) or "Permission denied.", {}
    if isinstance(exc, exceptions.MethodNotAllowed):
        return BAD_REQUEST, str(exc.detail), {}
    if isinstance(exc, (exceptions.ParseError, exceptions.UnsupportedMediaType)):
        return INVALID_PARAMETER_VALUE, str(getattr(exc, "detail", exc)), {}
    return None


def mlflow_exception_handler(exc, context):
    """Every error of an MLflow endpoint as MLflow's server answers it: ``{"error_code", "message", …}``."""
    found = _mlflow_error_for(exc)
    if found is None:
        return None  # a server error: Django's 500 handling and logging
    code, message, headers = found
    status = exc.status if isinstance(exc, MlflowError) else None
    if isinstance(exc, StorageUnavailable):
        status = StorageUnreachable.status_code  # 424 as on the native API: no 5xx (see maestro.api.exceptions)
    if status is None:
        status = 405 if isinstance(exc, exceptions.MethodNotAllowed) else MlflowError(message, code).status
    response = json_response(error_body(code, message), status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def json_response(payload, status: int = 200) -> HttpResponse:
    return HttpResponse(orjson.dumps(payload), content_type="application/json", status=status)


class MlflowView(APIView):
    """Base of the MLflow endpoints: Maestro's Bearer-token/session authentication, the permission matrix
    (``access_resource`` / ``access_actions`` on each endpoint, objects checked in the services) and rate limits;
    MLflow's request parsing and error shape. Not part of the OpenAPI schema (MLflow documents this API)."""

    schema = None
    parser_classes = [MlflowJSONParser]
    max_body_bytes: int | None = None  # the API's general limit (maestro.api.limits)

    def get_exception_handler(self):
        return mlflow_exception_handler

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        for key, values in request.query_params.lists():  # %00 in a query string decodes to a NUL
            refuse_unstorable_text({key: values})
        for name, value in kwargs.items():  # path parameters (a logged model's id, a tag key)
            refuse_unstorable_text(value, name)

    def body(self) -> dict:
        return self.request.data if isinstance(self.request.data, dict) else {}
