"""/metrics for Prometheus — not public: a metrics token or an allow-listed client address is required."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST

from maestro.observability.exposition import render_metrics
from maestro.tokens import token_from_authorization

REFUSAL = "metrics require a metrics token or an allow-listed address\n"


def _address_allowed(remote_addr: str) -> bool:
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_NETWORKS)


def metrics_allowed(authorization: str, remote_addr: str) -> bool:
    """The rule of every /metrics endpoint (web, and each Celery worker's own server): the metrics token as a Bearer
    ``Authorization``, or a client address inside ``METRICS_ALLOWED_NETWORKS``."""
    token = token_from_authorization(authorization)
    if settings.METRICS_TOKEN and token and hmac.compare_digest(token, settings.METRICS_TOKEN):
        return True
    return _address_allowed(remote_addr)


def metrics_view(request):
    if not metrics_allowed(request.headers.get("Authorization", ""), request.META.get("REMOTE_ADDR", "")):
        response = HttpResponse(REFUSAL, status=403)
        response["Content-Type"] = "text/plain"
        return response
    return HttpResponse(render_metrics(), content_type=CONTENT_TYPE_LATEST)
