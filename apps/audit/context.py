"""Who is acting, and from where: read by every audit event without being passed through every call.

Requests set the current request (``AuditContextMiddleware``); the actor is resolved from it when an event is
written, so a token authenticated later by DRF is seen too. Code outside requests (Celery tasks, management
commands) can name its actor with ``audit_actor(user=...)``; otherwise it is recorded as ``system``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from apps.audit.models import ActorType, Source
from maestro.context import request_id_var
from maestro.net import client_ip

_request_var: contextvars.ContextVar = contextvars.ContextVar("audit_request", default=None)
_actor_var: contextvars.ContextVar = contextvars.ContextVar("audit_actor", default=None)
_suppressed_var: contextvars.ContextVar[bool] = contextvars.ContextVar("audit_suppressed", default=False)


@dataclass(frozen=True)
class Actor:
    type: str
    user_id: int | None = None
    username: str = ""
    token_prefix: str = ""
    source: str = Source.SYSTEM


@dataclass(frozen=True)
class Origin:
    ip: str | None
    user_agent: str
    request_id: str
    source: str


SYSTEM = Actor(type=ActorType.SYSTEM)


def _source_of(request) -> str:
    path = getattr(request, "path", "") or ""
    if path.startswith(("/api/", "/ajax-api/")):
        return Source.API
    if path.startswith("/admin/"):
        return Source.ADMIN
    return Source.DASHBOARD


def actor_from(user=None, token=None, source: str = Source.SYSTEM) -> Actor:
    if user is None or not getattr(user, "is_authenticated", False):
        return Actor(type=ActorType.ANONYMOUS if source != Source.SYSTEM else ActorType.SYSTEM, source=source)
    prefix = getattr(token, "prefix", "") or ""
    return Actor(
        type=ActorType.TOKEN if prefix else ActorType.USER,
        user_id=user.pk,
        username=user.get_username(),
        token_prefix=prefix,
        source=source,
    )


def current_actor() -> Actor:
    override = _actor_var.get()
    if override is not None:
        return override
    request = _request_var.get()
    if request is None:
        return SYSTEM
    # DRF copies the authenticated user and token onto the underlying HttpRequest.
    user = getattr(request, "user", None)
    token = getattr(request, "auth", None)
    return actor_from(user, token, _source_of(request))


def current_origin() -> Origin:
    request = _request_var.get()
    request_id = request_id_var.get()
    request_id = "" if request_id == "-" else request_id
    if request is None:
        actor = _actor_var.get()
        return Origin(ip=None, user_agent="", request_id=request_id, source=actor.source if actor else Source.SYSTEM)
    return Origin(
        ip=client_ip(request),
        user_agent=(request.META.get("HTTP_USER_AGENT") or "")[:300],
        request_id=getattr(request, "request_id", "") or request_id,
        source=_source_of(request),
    )


def current_request():
    return _request_var.get()


@contextmanager
def audit_actor(user=None, *, token=None, source: str = Source.SYSTEM) -> Iterator[Actor]:
    """Attribute audit events written inside the block to ``user`` (e.g. in a task acting for a user)."""
    actor = actor_from(user, token, source) if user is not None else Actor(type=ActorType.SYSTEM, source=source)
    reset = _actor_var.set(actor)
    try:
        yield actor
    finally:
        _actor_var.reset(reset)


@contextmanager
def suppressed() -> Iterator[None]:
    """Inside the block, model signals write no per-object events (bulk helpers write one event instead)."""
    reset = _suppressed_var.set(True)
    try:
        yield
    finally:
        _suppressed_var.reset(reset)


def is_suppressed() -> bool:
    return _suppressed_var.get()


class AuditContextMiddleware:
    """Make the current request (and so its user, token, IP, user agent and request id) known to audit events."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        reset = _request_var.set(request)
        try:
            return self.get_response(request)
        finally:
            _request_var.reset(reset)
