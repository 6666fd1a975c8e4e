"""Request body limits of the APIs: one reader, one exception, one error code.

Every API surface refuses an oversized body the same way: :func:`read_body` (or Django's own check of
``DATA_UPLOAD_MAX_MEMORY_SIZE`` while a request is parsed) raises :class:`~maestro.api.exceptions.PayloadTooLarge`.
The native API answers it as 413 with the code ``too_large`` in the shared error shape; the MLflow surface answers
the same exception as MLflow's server does (400 ``INVALID_PARAMETER_VALUE``, "Batched logging API requests must be
at most N bytes…"), see ``apps.mlflow_api.api.handling``.

Two sizes:

* :data:`MAX_BATCH_BODY_BYTES` — a metric batch (``POST /api/v1/runs/{id}/log-batch`` and MLflow's
  ``runs/log-batch``): 1,000,000 bytes, MLflow's own ``MAX_BATCH_LOG_REQUEST_SIZE``, so a batch one surface accepts
  the other accepts too;
* every other body — Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (:func:`general_body_limit`), the one setting.

File uploads (artifact versions, the MLflow artifact proxy, integration webhooks) stream to storage and have their
own, much larger, per-feature limits; they are not request bodies held in memory.
"""

from __future__ import annotations

from django.conf import settings

from maestro.api.exceptions import PayloadTooLarge

MAX_BATCH_BODY_BYTES = 1_000_000


def general_body_limit() -> int:
    """The largest body any other endpoint reads into memory (Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``)."""
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def read_body(stream, *, limit: int, request=None) -> bytes:
    """The whole body from ``stream``, or ``PayloadTooLarge`` when it is over ``limit`` bytes: at once when the
    declared Content-Length says so (nothing is read), otherwise after reading one byte more than the limit."""
    declared = request.META.get("CONTENT_LENGTH") if request is not None else None
    if declared and declared.isdecimal() and int(declared) > limit:
        raise PayloadTooLarge(limit=limit, size=int(declared))
    body = stream.read(limit + 1) if stream is not None else b""
    if len(body) > limit:
        raise PayloadTooLarge(limit=limit, size=len(body), at_least=True)
    return body
