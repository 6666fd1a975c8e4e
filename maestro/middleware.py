"""Cross-cutting middleware: request ids and the health endpoints (answered before tenant routing)."""

from __future__ import annotations

import logging
import time

from django.http import JsonResponse

from maestro import health
from maestro.context import actor_var, clean_request_id, request_id_var, tenant_var
from maestro.metrics import metrics_view

logger = logging.getLogger("maestro.request")

REQUEST_ID_HEADER = "X-Request-ID"


class RequestIdMiddleware:
    """Give every request an id (the caller's X-Request-ID when well-formed), echo it back, and log one line."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = clean_request_id(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        tokens = (request_id_var.set(request_id), tenant_var.set("-"), actor_var.set("-"))
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            duration_ms = (time.perf_counter() - started) * 1000
            match = getattr(request, "resolver_match", None)
            if actor_var.get() == "-":
                actor_var.set(actor_label(getattr(request, "user", None)) or "-")
            logger.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "route": match.route if match else None,
                    "status": response.status_code,
                    "duration_ms": round(duration_ms, 2),
                },
            )
            return response
        finally:
            request_id_var.reset(tokens[0])
            tenant_var.reset(tokens[1])
            actor_var.reset(tokens[2])


def actor_label(user) -> str | None:
    """How logs name an authenticated user: ``user:<id>`` (never the username or e-mail)."""
    if user is not None and getattr(user, "is_authenticated", False):
        return f"user:{user.pk}"
    return None


class ActorMiddleware:
    """Put the session user into the logging context (token requests are labelled by the token authentication).

    Runs after ``AuthenticationMiddleware``. A user who logs in during this request is picked up when the request
    line is logged (``RequestIdMiddleware``).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        label = actor_label(getattr(request, "user", None))
        if label:
            actor_var.set(label)
        return self.get_response(request)


class HealthCheckMiddleware:
    """Answer /healthz, /readyz and /metrics on any host, without touching tenant routing or sessions."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == "/healthz":
            return JsonResponse({"status": "ok"})
        if request.path == "/readyz":
            names = [name for name in request.GET.get("dependencies", "").split(",") if name]
            unknown = sorted(set(names) - set(health.CHECKS))
            if unknown:
                message = f"Unknown dependency {', '.join(unknown)}; known: {', '.join(health.CHECKS)}."
                error = {"field": "dependencies", "code": "invalid", "message": message}
                body = {"status": 400, "code": "invalid", "detail": f"dependencies: {message}", "errors": [error]}
                return JsonResponse(body, status=400)
            checks = health.readiness(names)
            failed = sorted(name for name, state in checks.items() if state != "ok")
            if failed:
                return JsonResponse({"status": "unavailable", "failed": failed, "checks": checks}, status=503)
            return JsonResponse({"status": "ok", "checks": checks})
        if request.path == "/metrics":
            return metrics_view(request)
        return self.get_response(request)
