"""Writing audit events. Model changes are recorded by signals (see ``registry``); these functions record what
signals cannot see: security events, batch ingest, and bulk writes that bypass ``save()``/``delete()``.

Each event is split on the way in (see ``apps.audit.models``): the append-only row gets the pseudonymous actor id
and only non-personal text; the actor's name goes to ``AuditIdentity``, the client address, user agent and personal
text to ``AuditEventDetail``. ``audit_person_erase`` is the one place that empties those for a user.
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import math
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import Model, Q, QuerySet
from django.db.models.fields.files import FieldFile
from django.utils import timezone
from django_tenants.utils import get_public_schema_name

from apps.audit.context import Actor, actor_from, current_actor, current_origin, suppressed
from apps.audit.models import PERSONAL, AuditEvent, AuditEventDetail, AuditIdentity, Category, erased_label
from apps.audit.registry import SECRET_NAME_RE, AuditSpec, spec_for, spec_for_label
from apps.audit.writing import event_insert

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


def _personal(value: Any) -> Any:
    return value if value in (None, "", [], {}) else PERSONAL


def _split_changes(spec: AuditSpec | None, changes: dict, *, keep: bool) -> tuple[dict, dict]:
    """(changes for the event, personal changes for the detail): a personal field's values become markers in the
    event; they are kept in the detail only when ``keep`` (one object, so erasure can find them by subject)."""
    if spec is None or not spec.personal_fields:
        return changes, {}
    public, personal = {}, {}
    for name, change in changes.items():
        if name in spec.personal_fields and isinstance(change, dict):
            public[name] = {key: _personal(value) for key, value in change.items()}
            if keep:
                personal[name] = change
        else:
            public[name] = change
    return public, personal


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
    subject_id: int | None = None,
    personal_extra: dict | None = None,
) -> AuditEvent | None:
    """Write one audit event in the current tenant schema (platform-schema activity is not audited: None).

    ``subject_id`` names the user the event is about when ``obj`` does not (it does for models registered with a
    ``subject_field``); ``personal_extra`` is extra data that identifies a person (e.g. a username typed into a
    failed login): kept in the erasable detail, never in the append-only row.
    """
    if not _in_tenant_schema():
        return None
    actor = actor or current_actor()
    origin = current_origin()
    if obj is not None:
        # obj.__class__, not type(obj): request.user is a lazy wrapper whose type is not the model.
        spec = spec_for(obj.__class__) or spec_for(obj._meta.concrete_model)
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
        object_repr = object_repr or str(obj)
        if subject_id is None and spec is not None:
            subject_id = spec.subject_of(obj)
    else:
        spec = spec_for_label(object_type) if object_type else None
    object_id = "" if object_id in (None, "") else str(object_id)
    personal_repr = ""
    if spec is not None and spec.is_personal and object_repr:
        personal_repr, object_repr = object_repr, (f"{spec.name} #{object_id}" if object_id else "")
    public_changes, personal_changes = _split_changes(spec, changes or {}, keep=obj is not None)
    personal = mask_extra(personal_extra)
    has_detail = bool(
        origin.ip or origin.user_agent or personal_repr or personal_changes or personal or subject_id is not None
    )
    return event_insert(
        event={
            "occurred_at": timezone.now(),
            "category": category,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "object_repr": (object_repr or "")[:200],
            "actor_type": actor.type,
            "actor_id": actor.user_id,
            "actor_token": actor.token_prefix,
            "source": origin.source,
            "changes": public_changes,
            "extra": mask_extra(extra),
            "request_id": origin.request_id,
        },
        detail={
            "subject_id": subject_id,
            "ip": origin.ip,
            "user_agent": origin.user_agent,
            "object_repr": personal_repr[:200],
            "changes": personal_changes,
            "extra": personal,
        }
        if has_detail
        else None,
        identity=(actor.user_id, actor.username) if actor.user_id is not None else None,
    )


@transaction.atomic
def audit_person_erase(*, user_id: int) -> int:
    """Make user ``user_id`` unidentifiable in the trail without touching an event: their identity reads
    ``erased user #<id>``; the client address and user agent of their events (and of anonymous events about them,
    e.g. failed logins with their username) and the personal text about them are cleared. Returns the number of
    event details changed. The append-only events and their seals are untouched, so the chain still verifies."""
    AuditIdentity.objects.update_or_create(actor_id=user_id, defaults={"username": "", "erased_at": timezone.now()})
    theirs = AuditEventDetail.objects.filter(
        Q(event__actor_id=user_id) | Q(subject_id=user_id, event__actor_id__isnull=True)
    )
    changed = set(theirs.exclude(ip__isnull=True, user_agent="").values_list("pk", flat=True))
    theirs.update(ip=None, user_agent="")
    about = AuditEventDetail.objects.filter(subject_id=user_id)
    changed |= set(about.values_list("pk", flat=True))
    about.exclude(object_repr="").update(object_repr=erased_label(user_id))
    about.update(changes={}, extra={})
    return len(changed)


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
