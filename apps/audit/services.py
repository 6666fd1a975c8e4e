"""Writing audit events. Model changes are recorded by signals (see ``registry``); these functions record what
signals cannot see: security events, batch ingest, and bulk writes that bypass ``save()``/``delete()``."""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import math
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import Model, QuerySet
from django.db.models.fields.files import FieldFile
from django_tenants.utils import get_public_schema_name

from apps.audit.context import Actor, actor_from, current_actor, current_origin, suppressed
from apps.audit.models import AuditEvent, Category
from apps.audit.registry import SECRET_NAME_RE, AuditSpec, spec_for

logger = logging.getLogger("maestro.audit")

MASK = "***"
MAX_TEXT = 2000
MAX_IDS = 1000


def jsonable(value: Any) -> Any:
    """A JSON-safe, comparable form of a field value (dates as ISO text, decimals and UUIDs as text)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value[:MAX_TEXT] + "…" if isinstance(value, str) and len(value) > MAX_TEXT else value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, FieldFile):
        return value.name or None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return str(value)


def mask_extra(extra: dict | None) -> dict:
    """Mask text values whose key looks secret (password, token, secret, …), recursively. Numbers (counts keyed by
    model, e.g. ``accounts.ApiToken: 2``) and token prefixes are not secrets."""
    if not extra:
        return {}
    out = {}
    for key, value in extra.items():
        if SECRET_NAME_RE.search(str(key)) and isinstance(value, str) and value and key != "token_prefix":
            out[key] = MASK
        elif isinstance(value, dict):
            out[key] = mask_extra(value)
        else:
            out[key] = jsonable(value)
    return out


def _in_tenant_schema() -> bool:
    return connection.schema_name != get_public_schema_name()


def record(
    action: str,
    *,
    category: str = Category.DATA,
    obj: Model | None = None,
    object_type: str = "",
    object_id: Any = "",
    object_repr: str = "",
    changes: dict | None = None,
    extra: dict | None = None,
    actor: Actor | None = None,
) -> AuditEvent | None:
    """Write one audit event in the current tenant schema (platform-schema activity is not audited: None)."""
    if not _in_tenant_schema():
        return None
    actor = actor or current_actor()
    origin = current_origin()
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
        object_repr = object_repr or str(obj)
    return AuditEvent.objects.create(
        category=category,
        action=action,
        object_type=object_type,
        object_id="" if object_id in (None, "") else str(object_id),
        object_repr=(object_repr or "")[:200],
        actor_type=actor.type,
        actor_id=actor.user_id,
        actor_username=actor.username,
        actor_token=actor.token_prefix,
        source=origin.source,
        changes=changes or {},
        extra=mask_extra(extra),
        ip=origin.ip,
        user_agent=origin.user_agent,
        request_id=origin.request_id,
    )


def audit_security_event(action: str, *, user=None, token=None, **fields) -> AuditEvent | None:
    """Record a security event (e.g. ``model.promoted``, ``auth.lockout``). ``fields`` are those of ``record``
    (``obj`` or ``object_type``/``object_id``/``object_repr``, ``changes``, ``extra``); ``user``/``token`` name the
    actor when it is not the current request's (e.g. the user who just logged in).

    The event is written in its own savepoint: a failure to audit is logged and never turns a refused login or a
    denied request into a 500.
    """
    actor = actor_from(user, token, current_origin().source) if user is not None else None
    try:
        with transaction.atomic():
            return record(action, category=Category.SECURITY, actor=actor, **fields)
    except DatabaseError:
        logger.exception("audit event could not be written", extra={"audit_action": action})
        return None


def audit_ingest(
    *, run: Model, metrics: int, params: int = 0, tags: int = 0, extra: dict | None = None
) -> AuditEvent | None:
    """One event for one batch of run logging (metrics, params, tags), with counts — never one per point."""
    return record(
        "metrics.ingested",
        obj=run,
        extra={"metrics": metrics, "params": params, "tags": tags, **(extra or {})},
    )


def _spec(model: type[Model]) -> AuditSpec:
    spec = spec_for(model)
    if spec is None:
        raise LookupError(f"{model._meta.label} is not registered for auditing (apps.audit.registry).")
    return spec


def audit_bulk(
    *,
    model: type[Model],
    verb: str,
    ids: Sequence[Any],
    changes: dict | None = None,
    extra: dict | None = None,
) -> AuditEvent | None:
    """One event for one bulk write of ``model`` rows (``verb``: created, updated or deleted)."""
    if verb not in ("created", "updated", "deleted"):
        raise ValueError(f"Unknown bulk verb '{verb}'.")
    spec = _spec(model)
    classified = spec.action(f"bulk_{verb}", changes or {})
    ids = list(ids)
    return record(
        classified.action,
        category=classified.category,
        object_type=spec.object_type,
        changes=changes,
        extra={"count": len(ids), "ids": [jsonable(i) for i in ids[:MAX_IDS]], **(extra or {})},
    )


def audited_bulk_create(model: type[Model], objs: Iterable[Model], **kwargs) -> list[Model]:
    """``bulk_create`` plus one ``<name>.bulk_created`` event listing the new ids."""
    created = model.objects.bulk_create(list(objs), **kwargs)
    audit_bulk(model=model, verb="created", ids=[o.pk for o in created if o.pk is not None])
    return created


def audited_update(queryset: QuerySet, **values) -> int:
    """``queryset.update(**values)`` plus one ``<name>.bulk_updated`` event with the distinct before values."""
    spec = _spec(queryset.model)
    rows = list(queryset.values_list("pk", *values.keys()))
    changed = queryset.update(**values)
    changes = {}
    for index, name in enumerate(values, start=1):
        before = sorted({jsonable(row[index]) for row in rows}, key=str)
        after = jsonable(values[name])
        if spec.is_secret(name):
            before, after = [MASK] if before else [], MASK
        changes[name] = {"before": before[:50], "after": after}
    audit_bulk(model=queryset.model, verb="updated", ids=[row[0] for row in rows], changes=changes)
    return changed


def audited_delete(queryset: QuerySet) -> tuple[int, dict[str, int]]:
    """``queryset.delete()`` recorded as one ``<name>.bulk_deleted`` event (with the cascade's counts per model)
    instead of one event per deleted row."""
    ids = list(queryset.values_list("pk", flat=True))
    with suppressed():
        deleted = queryset.delete()
    audit_bulk(model=queryset.model, verb="deleted", ids=ids, extra={"deleted": deleted[1]})
    return deleted
