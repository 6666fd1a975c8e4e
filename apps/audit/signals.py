"""Signal receivers that record audit events: model changes of registered models, and authentication events.

Receivers are connected per registered model (``sender=``), never globally: a model with delete receivers loses
Django's fast cascade delete, which must not happen to high-volume tables such as metric points.
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models import Model, signals

from apps.audit.context import is_suppressed
from apps.audit.registry import AuditSpec
from apps.audit.services import MASK, audit_security_event, jsonable, record

logger = logging.getLogger("maestro.audit")

_BEFORE_ATTR = "_audit_before"


def _fields(spec: AuditSpec):
    return [f for f in spec.model._meta.concrete_fields if f.name not in spec.ignore_fields and not f.primary_key]


def _is_expression(value) -> bool:
    return hasattr(value, "resolve_expression")


def _normalise(field, value):
    if value is not None and not _is_expression(value):
        try:
            value = field.to_python(value)
        except Exception:
            logger.debug("audit: could not normalise %s", field.name)
    return jsonable(value)


def _snapshot(spec: AuditSpec, instance: Model) -> dict:
    return {f.name: _normalise(f, getattr(instance, f.attname)) for f in _fields(spec)}


def _db_snapshot(spec: AuditSpec, pk) -> dict | None:
    fields = _fields(spec)
    row = spec.model._base_manager.filter(pk=pk).values(*[f.attname for f in fields]).first()
    if row is None:
        return None
    return {f.name: _normalise(f, row[f.attname]) for f in fields}


def _masked(spec: AuditSpec, name: str, before, after) -> dict:
    if spec.is_secret(name):
        before = MASK if before not in (None, "") else before
        after = MASK if after not in (None, "") else after
    return {"before": before, "after": after}


def _record(spec: AuditSpec, verb: str, instance: Model, changes: dict) -> None:
    classified = spec.action(verb, changes)
    record(classified.action, category=classified.category, obj=instance, changes=changes)


def connect_model(spec: AuditSpec) -> None:
    uid = f"audit:{spec.model._meta.label}"

    def pre_save(sender, instance, raw=False, update_fields=None, **kwargs):
        if raw or is_suppressed():
            return
        before = None
        if instance.pk is not None and not instance._state.adding:
            before = _db_snapshot(spec, instance.pk)
        setattr(instance, _BEFORE_ATTR, before)

    def post_save(sender, instance, created, raw=False, update_fields=None, **kwargs):
        if raw or is_suppressed():
            return
        before = instance.__dict__.pop(_BEFORE_ATTR, None)
        after = _snapshot(spec, instance)
        if any(_is_expression(getattr(instance, f.attname)) for f in _fields(spec)):
            after = _db_snapshot(spec, instance.pk) or after
        if created or before is None:
            changes = {
                name: _masked(spec, name, None, value) for name, value in after.items() if value not in (None, "")
            }
            _record(spec, "created", instance, changes)
            return
        names = [n for n in after if update_fields is None or n in {_field_name(spec, u) for u in update_fields}]
        changes = {n: _masked(spec, n, before.get(n), after[n]) for n in names if before.get(n) != after[n]}
        if changes:
            _record(spec, "updated", instance, changes)

    def post_delete(sender, instance, **kwargs):
        if is_suppressed():
            return
        before = _snapshot(spec, instance)
        changes = {name: _masked(spec, name, value, None) for name, value in before.items() if value not in (None, "")}
        _record(spec, "deleted", instance, changes)

    signals.pre_save.connect(pre_save, sender=spec.model, weak=False, dispatch_uid=f"{uid}:pre_save")
    signals.post_save.connect(post_save, sender=spec.model, weak=False, dispatch_uid=f"{uid}:post_save")
    signals.post_delete.connect(post_delete, sender=spec.model, weak=False, dispatch_uid=f"{uid}:post_delete")
    for name in spec.m2m_fields:
        _connect_m2m(spec, name)


def _field_name(spec: AuditSpec, name: str) -> str:
    """update_fields may use attnames (``owner_id``); map them to field names."""
    try:
        return spec.model._meta.get_field(name).name
    except Exception:
        for f in spec.model._meta.concrete_fields:
            if f.attname == name:
                return f.name
        return name


def _connect_m2m(spec: AuditSpec, name: str) -> None:
    field = spec.model._meta.get_field(name)
    through = field.remote_field.through
    related = field.remote_field.model
    uid = f"audit:{spec.model._meta.label}:{name}"

    def changed(sender, instance, action, reverse, model, pk_set, **kwargs):
        if is_suppressed():
            return
        stash = f"_audit_clear_{name}"
        if action == "pre_clear":
            accessor = field.remote_field.get_accessor_name() if reverse else name
            instance.__dict__[stash] = sorted(getattr(instance, accessor).values_list("pk", flat=True))
            return
        if action not in ("post_add", "post_remove", "post_clear"):
            return
        ids = instance.__dict__.pop(stash, []) if action == "post_clear" else sorted(pk_set or [])
        if not ids:
            return
        key = "added" if action == "post_add" else "removed"
        classified = spec.action(f"{name}_changed", {})
        if not reverse:
            labels = [str(o) for o in related._base_manager.filter(pk__in=ids)]
            pairs = [(instance, labels, ids)]
        else:
            # e.g. group.user_set.add(user): recorded on the model that declares the field, once per affected row.
            pairs = [(obj, [str(instance)], [instance.pk]) for obj in spec.model._base_manager.filter(pk__in=ids)]
        for obj, labels, changed_ids in pairs:
            record(
                classified.action,
                category=classified.category,
                obj=obj,
                changes={name: {key: labels}},
                extra={f"{key}_ids": changed_ids},
            )

    signals.m2m_changed.connect(changed, sender=through, weak=False, dispatch_uid=uid)


# ---------------------------------------------------------------------------------------------- authentication
def _on_login(sender, request, user, **kwargs):
    audit_security_event("auth.login", obj=user, user=user)


def _on_logout(sender, request, user, **kwargs):
    if user is not None:
        audit_security_event(
            "auth.logout", obj=user, user=user, extra={"reason": getattr(request, "_logout_reason", "")}
        )


def _user_id_named(username) -> int | None:
    """The id of the tenant's user with this username, if any: the person a failed login or lockout is about (so
    that erasing them clears the username typed in)."""
    if not username:
        return None
    user_model = get_user_model()
    return (
        user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).values_list("pk", flat=True).first()
    )


def _on_login_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username", ""))[:150]
    audit_security_event(
        "auth.login_failed",
        object_type="accounts.user",
        object_repr=username,
        extra={"locked_out": bool(getattr(request, "axes_locked_out", False))},
        subject_id=_user_id_named(username),
        personal_extra={"username": username},
    )


def _on_locked_out(sender, request, username, ip_address, **kwargs):
    """django-axes signals on every refused attempt past the limit; record the lockout once, when it starts."""
    from axes.helpers import get_failure_limit

    failures = getattr(request, "axes_failures_since_start", None)
    limit = get_failure_limit(request, getattr(request, "axes_credentials", None))
    if failures is not None and failures != limit:
        return
    logger.warning("login lockout", extra={"username": username, "ip": ip_address, "failures": failures})
    audit_security_event(
        "auth.lockout",
        object_type="accounts.user",
        object_repr=str(username or "")[:150],
        extra={"failures": failures},
        subject_id=_user_id_named(username),
        personal_extra={"username": username},
    )


def connect_auth() -> None:
    from axes.signals import user_locked_out

    user_logged_in.connect(_on_login, dispatch_uid="audit:login")
    user_logged_out.connect(_on_logout, dispatch_uid="audit:logout")
    user_login_failed.connect(_on_login_failed, dispatch_uid="audit:login_failed")
    user_locked_out.connect(_on_locked_out, dispatch_uid="audit:locked_out")
