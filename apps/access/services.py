"""Writes on object permissions: grants of view / change / manage on projects and artifacts.

A grant of a level is stored as guardian permissions for that level and every weaker one (a *change* grant is the
rows ``view_project`` + ``change_project``), so guardian's own ``user.has_perm("projects.view_project", project)``
agrees with the gate in ``selectors``. Content types and permissions are looked up by natural key in the current
schema on every write, so no process-wide cache can map one tenant's ids onto another's.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model
from guardian.models import GroupObjectPermission, UserObjectPermission

from apps.access import policy
from apps.access.selectors import anchor_kind_of, require
from apps.audit.services import audit_security_event


@dataclass(frozen=True)
class Grant:
    """One principal's grant on one object."""

    principal_type: str  # "user" | "group"
    principal_id: int
    principal: str
    level: str


def _content_type(obj: Model) -> ContentType:
    opts = obj._meta
    ct, _ = ContentType.objects.get_or_create(app_label=opts.app_label, model=opts.model_name)
    return ct


def _permissions(obj: Model, ct: ContentType) -> dict[str, Permission]:
    model_name = obj._meta.model_name
    found = {}
    for level in policy.LEVELS:
        found[level], _ = Permission.objects.get_or_create(
            content_type=ct,
            codename=f"{level}_{model_name}",
            defaults={"name": f"Can {level} {obj._meta.verbose_name}"[:255]},
        )
    return found


def _check_target(obj: Model) -> str:
    kind = anchor_kind_of(obj)
    if kind is None:
        raise ValidationError({"object_type": f"{obj._meta.verbose_name} objects carry no grants."})
    return kind


def _rows(obj: Model, *, user=None, group=None):
    ct = _content_type(obj)
    if user is not None:
        return UserObjectPermission.objects.filter(content_type=ct, object_pk=str(obj.pk), user=user)
    return GroupObjectPermission.objects.filter(content_type=ct, object_pk=str(obj.pk), group=group)


def _level_of(rows) -> str | None:
    codenames = {codename.split("_", 1)[0] for codename in rows.values_list("permission__codename", flat=True)}
    for level in reversed(policy.LEVELS):
        if level in codenames:
            return level
    return None


def _principal(user, group) -> tuple[str, int, str]:
    if (user is None) == (group is None):
        raise ValidationError({"user": "Name exactly one of user or group."})
    if user is not None:
        return "user", user.pk, user.get_username()
    return "group", group.pk, group.name


def _write(obj: Model, level: str | None, *, user=None, group=None) -> str | None:
    """Make the stored rows express exactly ``level`` (None: no grant); return the previous level."""
    rows = _rows(obj, user=user, group=group)
    before = _level_of(rows)
    if before == level:
        return before
    ct = _content_type(obj)
    perms = _permissions(obj, ct)
    wanted = set() if level is None else set(policy.LEVELS[: policy.LEVELS.index(level) + 1])
    rows.exclude(permission__in=[perms[lv] for lv in wanted]).delete()
    have = {codename.split("_", 1)[0] for codename in rows.values_list("permission__codename", flat=True)}
    for lv in wanted - have:
        if user is not None:
            UserObjectPermission.objects.create(content_type=ct, object_pk=str(obj.pk), user=user, permission=perms[lv])
        else:
            GroupObjectPermission.objects.create(
                content_type=ct, object_pk=str(obj.pk), group=group, permission=perms[lv]
            )
    return before


def _audit(obj: Model, before: str | None, after: str | None, principal: tuple[str, int, str], **extra) -> None:
    kind, pk, name = principal
    # A user's name is personal data: it goes to the erasable part of the event (the group's name does not).
    person = kind == "user"
    audit_security_event(
        "grant.changed",
        obj=obj,
        changes={"level": {"before": before, "after": after}},
        extra={"principal_type": kind, "principal_id": pk, **({} if person else {"principal": name}), **extra},
        subject_id=pk if person else None,
        personal_extra={"principal": name} if person else None,
    )


def grant_set(*, actor, obj: Model, level: str, user=None, group: Group | None = None) -> Grant:
    """Give ``user`` or ``group`` exactly ``level`` (view, change or manage) on a project or artifact.

    The actor must be allowed to manage grants on the object (owners and admins anywhere; leads where they hold
    manage): otherwise Http404 when they cannot see it, PermissionDenied when they can. One ``grant.changed`` event
    is recorded when the level actually changes.
    """
    _check_target(obj)
    if level not in policy.LEVELS:
        raise ValidationError({"level": f"Unknown level '{level}'; use one of {', '.join(policy.LEVELS)}."})
    principal = _principal(user, group)
    if user is not None and not user.is_active:
        raise ValidationError({"user": f"User '{user.get_username()}' is deactivated."})
    require(actor, "grants", policy.CREATE, obj)
    with transaction.atomic():
        before = _write(obj, level, user=user, group=group)
        if before != level:
            _audit(obj, before, level, principal)
    return Grant(*principal, level=level)


def grant_remove(*, actor, obj: Model, user=None, group: Group | None = None) -> str | None:
    """Remove ``user``'s or ``group``'s grant on the object; returns the level it had (None: there was none)."""
    _check_target(obj)
    principal = _principal(user, group)
    require(actor, "grants", policy.DELETE, obj)
    with transaction.atomic():
        before = _write(obj, None, user=user, group=group)
        if before is not None:
            _audit(obj, before, None, principal)
    return before


def grant_creator(*, user, obj: Model) -> None:
    """Give the creator of a project or artifact *manage* on it. Create services call this right after creating
    the object (inside their transaction); it records one ``grant.changed`` event (reason: creator)."""
    _check_target(obj)
    if user is None or not getattr(user, "is_authenticated", False):
        return
    principal = _principal(user, None)
    before = _write(obj, policy.MANAGE, user=user)
    if before != policy.MANAGE:
        _audit(obj, before, policy.MANAGE, principal, reason="creator")


def grant_creator_bulk(*, user, objs: list[Model]) -> int:
    """``grant_creator`` for many new objects of one model at once (bulk import): *manage* for ``user`` on each, in
    one insert, and one ``grant.changed`` event listing them. The objects must be new (no grants yet)."""
    if not objs or user is None or not getattr(user, "is_authenticated", False):
        return 0
    _check_target(objs[0])
    ct = _content_type(objs[0])
    perms = _permissions(objs[0], ct)
    UserObjectPermission.objects.bulk_create(
        [
            UserObjectPermission(content_type=ct, object_pk=str(obj.pk), user=user, permission=perms[level])
            for obj in objs
            for level in policy.LEVELS
        ],
        batch_size=2000,
    )
    kind, pk, _name = _principal(user, None)
    audit_security_event(
        "grant.changed",
        object_type=objs[0]._meta.label_lower,
        changes={"level": {"before": None, "after": policy.MANAGE}},
        extra={
            "principal_type": kind,
            "principal_id": pk,
            "reason": "creator (bulk import)",
            "count": len(objs),
            "ids": [obj.pk for obj in objs[:1000]],
        },
        subject_id=pk,
    )
    return len(objs)


def grants_remove_all(obj: Model) -> int:
    """Delete every grant on ``obj`` (called when the object is deleted, so no id reuse can inherit them)."""
    ct = ContentType.objects.filter(app_label=obj._meta.app_label, model=obj._meta.model_name).first()
    if ct is None:
        return 0
    users, _ = UserObjectPermission.objects.filter(content_type=ct, object_pk=str(obj.pk)).delete()
    groups, _ = GroupObjectPermission.objects.filter(content_type=ct, object_pk=str(obj.pk)).delete()
    return users + groups
