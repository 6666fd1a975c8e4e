"""One error shape for every API error.

    {"status": 400, "code": "invalid", "detail": "<first problem, readable>",
     "errors": [{"field": "metrics[3].value", "code": "invalid", "message": "A valid number is required."}]}

``field`` is a path into the request body (list items by index), or null for errors about the whole request.
Django ``ValidationError`` raised by services is reported exactly like a serializer error, so services can validate
cross-object rules without knowing about HTTP.
"""

from __future__ import annotations

import errno
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from maestro.storage import StorageUnavailable

logger = logging.getLogger("maestro.api")


def _join(prefix: str | None, key: Any) -> str:
    if isinstance(key, int):
        return f"{prefix or ''}[{key}]"
    if key in ("non_field_errors", "__all__"):
        return prefix
    return f"{prefix}.{key}" if prefix else str(key)


def flatten_errors(detail: Any, prefix: str | None = None) -> list[dict[str, Any]]:
    """Turn DRF's nested error structure into a flat list of {field, code, message}."""
    out: list[dict[str, Any]] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            out.extend(flatten_errors(value, _join(prefix, key)))
    elif isinstance(detail, list):
        if all(isinstance(item, (str, exceptions.ErrorDetail)) for item in detail):
            for item in detail:
                out.append({"field": prefix, "code": getattr(item, "code", "invalid"), "message": str(item)})
        else:
            for index, item in enumerate(detail):
                if item in ({}, [], None):
                    continue
                out.extend(flatten_errors(item, _join(prefix, index)))
    else:
        out.append({"field": prefix, "code": getattr(detail, "code", "invalid"), "message": str(detail)})
    return out


def django_validation_to_drf(exc: DjangoValidationError) -> exceptions.ValidationError:
    if hasattr(exc, "error_dict"):
        return exceptions.ValidationError(
            {
                field: [message for error in errors for message in error.messages]
                for field, errors in exc.error_dict.items()
            }
        )
    return exceptions.ValidationError({"non_field_errors": exc.messages})


class PayloadTooLarge(exceptions.APIException):
    """A request body over its limit (``maestro.api.limits``): 413 ``too_large`` naming the limit. The one class for
    every surface; the MLflow surface answers it in MLflow's shape. ``size`` is the body's size when known
    (``at_least``: only that much was read)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"

    def __init__(self, detail=None, code=None, *, limit: int | None = None, size: int | None = None, at_least=False):
        self.limit, self.size, self.at_least = limit, size, at_least
        if detail is None and limit is not None:
            detail = f"The request body exceeds the server's limit of {limit} bytes."
        super().__init__(detail, code)


class ServiceUnavailable(exceptions.APIException):
    """A dependency (database, file storage, broker) failed; nothing was written. Answered with Retry-After."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service this request needs is unavailable; nothing was changed. Try again shortly."
    default_code = "unavailable"
    retry_after = 5


class StorageFull(exceptions.APIException):
    """The file storage has no room for this upload. 413 — the server is not *able* to take content this large now
    (RFC 9110 §15.5.14) — not a 5xx: the service works, and a smaller file may still fit."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = (
        "The artifact storage has no room for this file; nothing was stored. A smaller file may fit; otherwise ask "
        "an operator to free space."
    )
    default_code = "storage_full"


class StorageFailed(exceptions.APIException):
    """The file storage refused the write (I/O error, broken mount, permissions). 424 Failed Dependency: the request
    was valid but depended on a storage write that failed; nothing was stored and the same request may be retried."""

    status_code = status.HTTP_424_FAILED_DEPENDENCY
    default_detail = "The artifact storage failed to store this file; nothing was stored. Try again shortly."
    default_code = "storage_failed"


class StorageUnreachable(exceptions.APIException):
    """The file storage (an S3-compatible store) cannot be reached or refused the request. 424 like a failed write,
    not a 5xx: the service works and nothing was read, stored or changed; retry after ``Retry-After``."""

    status_code = status.HTTP_424_FAILED_DEPENDENCY
    default_detail = "The file storage is unreachable; nothing was read, stored or changed. Try again shortly."
    default_code = "storage_unavailable"
    retry_after = 5


# errno values meaning "the storage has no room" (disk full, quota); any other OSError of a storage is a failure.
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def storage_error(exc: OSError) -> exceptions.APIException:
    """The API error for a failed write to file storage, never a 5xx (issue 9): 413 ``storage_full`` when it is
    full, 424 ``storage_unavailable`` when an object store is unreachable, 424 ``storage_failed`` otherwise. Either
    way nothing was stored (see ``artifacts.services``)."""
    if isinstance(exc, StorageUnavailable):
        return StorageUnreachable()
    if exc.errno in _NO_SPACE:
        return StorageFull()
    return StorageFailed()


def is_database_unavailable(exc: BaseException) -> bool:
    """True for a lost or refused database connection (server restarting, network) and for the other transient
    failures PostgreSQL reports as operational (deadlock, statement timeout): the request may simply be retried."""
    return isinstance(exc, (OperationalError, InterfaceError))


def exception_handler(exc, context):
    # Django's own body limits (DATA_UPLOAD_MAX_MEMORY_SIZE, …) surface while DRF parses request.data.
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    elif isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        exc = exceptions.ParseError(str(exc))
    if is_database_unavailable(exc):
        logger.warning("database unavailable: %s", exc.__class__.__name__)
        exc = ServiceUnavailable()
    elif isinstance(exc, StorageUnavailable):
        exc = StorageUnreachable()
    if isinstance(exc, DjangoValidationError):
        exc = django_validation_to_drf(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(detail)
        first = errors[0] if errors else {"field": None, "message": "Invalid input."}
        summary = f"{first['field']}: {first['message']}" if first.get("field") else first["message"]
        code = "invalid"
    else:
        message = detail.get("detail", detail) if isinstance(detail, dict) else detail
        summary = str(message)
        code = getattr(message, "code", None) or getattr(exc, "default_code", "error")
        errors = []
    response.data = {"status": response.status_code, "code": code, "detail": summary, "errors": errors}
    if isinstance(exc, (ServiceUnavailable, StorageUnreachable)):
        response["Retry-After"] = str(exc.retry_after)
    return response


def error_response(status_code: int, detail: str, *, code: str = "error", errors=None) -> Response:
    """Build an error response in the shared shape outside the exception path (e.g. hot-path views)."""
    return Response({"status": status_code, "code": code, "detail": detail, "errors": errors or []}, status=status_code)


__all__ = [
    "PayloadTooLarge",
    "ServiceUnavailable",
    "StorageFailed",
    "StorageFull",
    "StorageUnreachable",
    "error_response",
    "exception_handler",
    "flatten_errors",
    "is_database_unavailable",
    "status",
    "storage_error",
]
