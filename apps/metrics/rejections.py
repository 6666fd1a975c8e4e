"""Why a metric batch was refused, as the bounded ``reason`` label of the rejected-batch counter
(``maestro.observability.metrics.BATCH_REJECT_REASONS``).

Both ingest surfaces, the native ``log-batch`` endpoint and MLflow's ``runs/log-batch``, count refusals under the same
labels, so the mapping from exception to label lives here, in the metrics app's public modules, and not in either
app's API views.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions as drf

from apps.tenants.quotas import QuotaExceeded
from maestro.api.exceptions import PayloadTooLarge


def batch_rejection_reason(exc: Exception) -> str:
    """The bounded ``reason`` label of a refused batch (see maestro.observability.metrics.BATCH_REJECT_REASONS)."""
    if isinstance(exc, (PayloadTooLarge, RequestDataTooBig)):
        return "too_large"
    if isinstance(exc, (Http404, drf.NotFound)):
        return "unknown_run"
    if isinstance(exc, QuotaExceeded):
        return "quota"
    if isinstance(exc, (DjangoPermissionDenied, drf.PermissionDenied)):
        return "permission"
    if isinstance(exc, (DjangoValidationError, drf.ValidationError, drf.ParseError)):
        return "validation"
    return "other"
