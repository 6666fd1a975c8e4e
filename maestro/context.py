"""Per-request (or per-task) context that logs and background tasks carry: request id, tenant, actor."""

from __future__ import annotations

import contextvars
import re
import uuid

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
tenant_var: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="-")
actor_var: contextvars.ContextVar[str] = contextvars.ContextVar("actor", default="-")

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._\-]{8,64}$")


def clean_request_id(value: str | None) -> str:
    """Accept a caller's request id only when it is short and harmless; otherwise make a new one."""
    if value and _REQUEST_ID_RE.match(value):
        return value
    return uuid.uuid4().hex
