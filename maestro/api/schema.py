"""drf-spectacular extensions so /api/schema/ describes Maestro's own pieces truthfully.

Schemathesis holds the schema to what the server answers (``make fuzz``), so every rule here closes a class of
mismatch once for the whole API instead of annotating views one by one:

* ``AutoSchema`` — read-only fields that can be null (``default=None``: the related object may be missing) are
  ``nullable``; read-only fields over a model ``CharField(blank=True)`` may be ``""`` (DRF drops ``allow_blank`` from
  read-only fields, so the schema would otherwise forbid the empty string the API returns).
* ``document_error_responses`` (postprocessing hook) — every operation documents the errors the shared layers can
  answer with, in the one error shape (``Error``): 400 (validation), 401 (credentials), 403 (role, scope, quota), 404
  (unknown or invisible object), 406 (unacceptable ``Accept``), 413 and 415 for operations with a body, 429 (rate
  limits), 503 (database or broker unavailable), and 414/431 that the HTTP server answers itself for oversized
  request lines and headers. An error status a view documents itself (e.g. 409) gets the same error shape.
"""

from __future__ import annotations

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "mae_<tenant>_<prefix>_<secret>",
            "description": "A Maestro API token. It names its tenant, so requests may go to the platform host.",
        }


def _model_field(field: serializers.Field) -> models.Field | None:
    """The model field a ModelSerializer field reads directly (no dotted source), if any."""
    model = getattr(getattr(field.parent, "Meta", None), "model", None)
    source = getattr(field, "source", None)
    if model is None or not source or source == "*" or "." in source:
        return None
    try:
        return model._meta.get_field(source)
    except FieldDoesNotExist:  # a property or method
        return None


class AutoSchema(SpectacularAutoSchema):
    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        if isinstance(field, serializers.Field) and field.read_only:
            if field.default is None:
                field.allow_null = True
            model_field = _model_field(field)
            if (
                hasattr(field, "allow_blank")
                and isinstance(model_field, (models.CharField, models.TextField))
                and model_field.blank
            ):
                field.allow_blank = True
            if model_field is not None and model_field.null:
                field.allow_null = True
        return super()._map_serializer_field(field, direction, bypass_extensions)


ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error has this shape; `errors` names each field (or list item, `metrics[3].value`) "
    "and its problem.",
    "properties": {
        "status": {"type": "integer", "description": "The HTTP status, repeated."},
        "code": {"type": "string", "description": "Machine-readable kind: invalid, not_found, throttled, …"},
        "detail": {"type": "string", "description": "The first problem, readable."},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string", "nullable": True},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "position": {"type": "integer", "description": "Character position (search filter errors)."},
                },
                "required": ["field", "code", "message"],
            },
        },
    },
    "required": ["status", "code", "detail", "errors"],
}
ERROR_RESPONSES = {
    "400": "Invalid input: the errors name each field and problem.",
    "401": "No credentials, or an invalid, expired or revoked token.",
    "403": "The role, the token's scope or the plan's quota does not allow this.",
    "404": "No such object, or one the caller may not see.",
    "406": "The Accept header asks for a format the API does not produce (it answers JSON).",
    "429": "A rate limit was reached; Retry-After says when to try again.",
    "503": "A dependency (database, broker or rate-limit store) is unavailable; retry later.",
}
BODY_ERROR_RESPONSES = {
    "413": "The request body (or an uploaded file) is larger than the limit.",
    "415": "The Content-Type of the body is not one the operation accepts.",
}
# Answered by the HTTP server before the application, as plain text: no body schema.
SERVER_RESPONSES = {
    "414": "The request line (URL with query string) is longer than the HTTP server accepts.",
    "431": "The request headers are larger than the HTTP server accepts.",
}
BODY_METHODS = ("post", "put", "patch")


def _alternative_media_types(responses: dict) -> list[str]:
    """Text formats an operation can be asked for (``?format=csv``): its errors are rendered in them too."""
    found = []
    for code, response in responses.items():
        if str(code).startswith("2"):
            for media_type in response.get("content", {}):
                if media_type.startswith("text/") and media_type not in found:
                    found.append(media_type)
    return found


def document_error_responses(result, generator, request, public):
    """Postprocessing hook: add the shared error responses to every operation (see the module docstring)."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method not in ("get", "put", "post", "patch", "delete", "head", "options", "trace"):
                continue
            responses = operation.setdefault("responses", {})
            content = dict(error_content)
            for media_type in _alternative_media_types(responses):
                content[media_type] = {"schema": {"type": "string"}}
            codes = dict(ERROR_RESPONSES)
            if method in BODY_METHODS:
                codes.update(BODY_ERROR_RESPONSES)
            for code, description in codes.items():
                documented = responses.setdefault(code, {"description": description})
                documented.setdefault("content", content)
            for code, documented in responses.items():
                if str(code)[0] in "45" and str(code) not in SERVER_RESPONSES:
                    documented.setdefault("content", content)
            for code, description in SERVER_RESPONSES.items():
                responses.setdefault(code, {"description": description})
    return result
