"""The one permission gate: what a user may see and do, for the API and the dashboard alike.

* ``scope(queryset, user=...)`` narrows any queryset of a resource's models to what the user may read (or, with
  ``action=``, act on) — one SQL query, however many objects and permission rows exist.
* ``decide(user, resource, action, obj)`` answers ALLOWED, FORBIDDEN (visible, not permitted: 403) or HIDDEN (the
  user may not even know it exists: 404); ``require(...)`` raises the matching exception.
* ``level_for(user, obj)`` is a user's access level (view/change/manage) on a project or artifact.

Object permissions are stored in django-guardian's tables (``UserObjectPermission`` / ``GroupObjectPermission``,
one schema per tenant). Reads do not call ``guardian.shortcuts.get_objects_for_user``: visibility here is an OR of
the project's visibility, its owner, its team and the grants, and guardian's helper can express only the grants
part (and resolves content types and permissions in separate queries first). Instead each rule is a
subquery (``IN``) against guardian's tables joined by natural keys (app label, model, codename), so a list is one
query and no cached ContentType id can point at another tenant's numbering.
"""

from __future__ import annotations

import enum

from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.db.models import BigIntegerField, Case, Model, Q, QuerySet, When
from django.db.models.functions import Cast
from django.http import Http404
from guardian.models import GroupObjectPermission, UserObjectPermission

from apps.access import policy
from apps.access.policy import ALL, CHANGE, MANAGE, OWN, READ, VIEW
from apps.audit.context import current_request
from apps.audit.services import audit_security_event


class Decision(enum.Enum):
    ALLOWED = "allowed"
    FORBIDDEN = "forbidden"
    HIDDEN = "hidden"


def _label(model: type[Model] | Model) -> str:
    return model._meta.label


def anchor_kind_of(model: type[Model] | Model) -> str | None:
    label = _label(model).lower()
    for kind, anchor_label in policy.ANCHOR_MODELS.items():
        if anchor_label.lower() == label:
            return kind
    return None


def _codenames(kind: str, required: str) -> list[str]:
    model_name = policy.ANCHOR_MODELS[kind].split(".")[1].lower()
    return [f"{level}_{model_name}" for level in policy.LEVELS[policy.LEVELS.index(required) :]]


def _granted_ids(model, kind: str, user, required: str):
    """Ids of anchors on which ``user`` holds a ``required``+ grant through ``model`` (user or group grants), as
    integers so the outer query compares them with an index-friendly ``IN`` (a hashed subplan) rather than per row.
    Guardian stores object ids as text; non-numeric values (other models' keys) never match."""
    app_label, model_name = policy.ANCHOR_MODELS[kind].lower().split(".")
    rows = model.objects.filter(
        content_type__app_label=app_label,
        content_type__model=model_name,
        permission__codename__in=_codenames(kind, required),
    )
    rows = rows.filter(user_id=user.pk) if model is UserObjectPermission else rows.filter(group__user=user.pk)
    as_int = Case(When(object_pk__regex=r"^[0-9]{1,18}$", then=Cast("object_pk", BigIntegerField())), default=None)
    return rows.values_list(as_int, flat=True)


def level_q(kind: str, path: str, user, required: str) -> Q:
    """Rows whose anchor (reached by lookup ``path``; "" for the anchor itself) the user holds at ``required``+.

    Projects: *view* — visibility ``tenant``, the owner, a team member or any grant; *change* — the owner, a team
    member, or a change/manage grant; *manage* — the owner or a manage grant.
    Artifacts (an open library): *view* — everyone; *change*/*manage* — the owner or a grant of that level.
    Each rule is a column test or an ``IN (subquery)`` that PostgreSQL evaluates once (hashed), never per row.
    """
    prefix = f"{path}__" if path else ""
    anchor_id = f"{path}_id" if path else "pk"
    owner = Q(**{f"{prefix}owner": user.pk})
    grant = Q(**{f"{anchor_id}__in": _granted_ids(UserObjectPermission, kind, user, required)}) | Q(
        **{f"{anchor_id}__in": _granted_ids(GroupObjectPermission, kind, user, required)}
    )
    if kind == "artifact":
        return Q(pk__isnull=False) if required == VIEW else owner | grant
    team_model = apps.get_model("projects", "TeamMember")
    team = Q(**{f"{anchor_id}__in": team_model.objects.filter(user_id=user.pk).values("project_id")})
    if required == VIEW:
        return Q(**{f"{prefix}visibility": "tenant"}) | owner | team | grant
    if required == CHANGE:
        return owner | team | grant
    return owner | grant


def scope(queryset: QuerySet, *, user, action: str = READ, resource: str | None = None) -> QuerySet:
    """``queryset`` narrowed to the objects ``user`` may ``action`` (default: read), in one query.

    The resource is found from the queryset's model (see ``policy.RESOURCES``) unless given. Unknown models are
    refused (PolicyError): every scoped model must be declared in the matrix.
    """
    model = queryset.model
    if resource is None:
        resource, info, path = policy.resource_for_model(_label(model))
    else:
        info = policy.RESOURCES[resource]
        path = dict((label.lower(), p) for label, p in info.anchor_paths).get(_label(model).lower(), "")
    cell = policy.cell(user, resource, action)
    if cell is None:
        return queryset.none()
    if cell == ALL or policy.is_admin(user):
        return queryset
    if cell == OWN:
        return queryset.filter(**{info.owner_path: user.pk})
    if not info.anchor:
        return queryset.none()
    return queryset.filter(level_q(info.anchor, path, user, VIEW if cell == VIEW else cell))


def _granted_levels(user, anchor: Model) -> set[str]:
    """Levels granted on ``anchor`` to ``user`` directly or through a group (one query)."""
    opts = anchor._meta
    match = {
        "content_type__app_label": opts.app_label,
        "content_type__model": opts.model_name,
        "object_pk": str(anchor.pk),
    }
    direct = UserObjectPermission.objects.filter(user_id=user.pk, **match).values_list("permission__codename")
    via_group = GroupObjectPermission.objects.filter(group__user=user.pk, **match).values_list("permission__codename")
    return {codename.split("_", 1)[0] for (codename,) in direct.union(via_group)}


def level_for(user, anchor: Model) -> str | None:
    """``user``'s access level on a project or artifact: "manage", "change", "view" or None.

    The same rules as ``level_q`` for one loaded object: owner and visibility come from the object itself, grants
    from one query, team membership (projects) from one more only when it could raise the level.
    """
    kind = anchor_kind_of(anchor)
    if kind is None:
        raise policy.PolicyError(f"{_label(anchor)} carries no object permissions.")
    if policy.principal_of(user) is None:
        return None
    if policy.is_admin(user) or (anchor.owner_id is not None and anchor.owner_id == user.pk):
        return MANAGE
    levels = _granted_levels(user, anchor)
    if kind == "artifact":
        levels.add(VIEW)
    elif CHANGE not in levels and MANAGE not in levels:
        team_model = apps.get_model("projects", "TeamMember")
        if team_model.objects.filter(project_id=anchor.pk, user_id=user.pk).exists():
            levels.add(CHANGE)
        elif anchor.visibility == "tenant":
            levels.add(VIEW)
    for level in reversed(policy.LEVELS):
        if level in levels:
            return level
    return None


def anchor_of(obj: Model) -> Model | None:
    """The project or artifact whose permissions govern ``obj`` (``obj`` itself for projects and artifacts)."""
    if anchor_kind_of(obj):
        return obj
    path = policy.resource_for_model(_label(obj))[2]
    target = obj
    for part in path.split("__") if path else []:
        target = getattr(target, part)
    return target


def decide(user, resource: str, action: str, obj: Model | None = None) -> Decision:
    """May ``user`` perform ``action`` on ``resource`` (on ``obj``, when given)?

    Objects the user cannot see are HIDDEN, whatever the action; visible objects the user may not act on are
    FORBIDDEN. Without an object only the role (matrix row) is checked.
    """
    cell = policy.cell(user, resource, action)
    if obj is None:
        return Decision.ALLOWED if cell is not None else Decision.FORBIDDEN
    info = policy.RESOURCES[resource]
    if cell == OWN or (cell is None and info.owner_path):
        if getattr(obj, f"{info.owner_path}_id", None) != user.pk and not policy.is_admin(user):
            return Decision.HIDDEN
        return Decision.ALLOWED if cell is not None else Decision.FORBIDDEN
    if not info.anchor and not anchor_kind_of(obj):
        return Decision.ALLOWED if cell is not None else Decision.FORBIDDEN
    anchor = anchor_of(obj)
    level = level_for(user, anchor)
    if level is None:
        return Decision.HIDDEN
    if cell is None:
        return Decision.FORBIDDEN
    if cell in (ALL, VIEW):
        return Decision.ALLOWED
    return Decision.ALLOWED if policy.level_at_least(level, cell) else Decision.FORBIDDEN


def can(user, resource: str, action: str, obj: Model | None = None) -> bool:
    """Whether ``user`` may ``action`` on ``resource`` (on ``obj``, when given), exactly as the API decides.

    Pages ask it before showing an edit control and call :func:`require` before every write, so a user who cannot
    see a button also gets a 403 (404 for objects they may not see at all) when posting anyway.
    """
    return decide(user, resource, action, obj) is Decision.ALLOWED


class Forbidden(PermissionDenied):
    """403 with a message that names what was refused (the API error shape shows it)."""


def require(user, resource: str, action: str, obj: Model | None = None) -> None:
    """Raise Http404 (hidden) or PermissionDenied (forbidden) unless ``user`` may act; for services and views.

    Services call it for parents named in a request body, e.g. before creating a run in a project:
    ``require(user, "runs", "create", project)``.
    """
    decision = decide(user, resource, action, obj)
    if decision is Decision.HIDDEN:
        raise Http404("Not found.")
    if decision is Decision.FORBIDDEN:
        message = forbidden_message(user, resource, action, obj)
        record_denial(user, resource, action, obj, reason="object" if obj is not None else "role")
        raise Forbidden(message)


def record_denial(user, resource: str | None, action: str | None, obj: Model | None, *, reason: str, **extra) -> None:
    """One ``access.denied`` security event for a refused request or call."""
    request = current_request()
    audit_security_event(
        "access.denied",
        obj=obj,
        extra={
            "resource": resource,
            "action": action,
            "reason": reason,
            "role": policy.principal_of(user),
            "method": getattr(request, "method", None),
            "path": (getattr(request, "path", "") or "")[:300] or None,
            **extra,
        },
    )


def forbidden_message(user, resource: str, action: str, obj: Model | None = None) -> str:
    principal = policy.principal_of(user) or "anonymous"
    cell = policy.cell(user, resource, action) if principal != "anonymous" else None
    label = policy.RESOURCES[resource].label.lower()
    if cell is None:
        return f"The {principal} role may not {action} {label}."
    return f"You need '{cell}' access to this object to {action} {label}."


def visible(user, obj: Model, resource: str | None = None) -> bool:
    """Whether ``user`` may see ``obj`` at all."""
    if resource is None:
        resource = policy.resource_for_model(_label(obj))[0]
    return decide(user, resource, READ, obj) is Decision.ALLOWED


def grant_list(obj: Model) -> list[dict]:
    """The grants on a project or artifact: one entry per user or group, with its strongest level."""
    from django.contrib.contenttypes.models import ContentType

    ct = ContentType.objects.filter(app_label=obj._meta.app_label, model=obj._meta.model_name).first()
    if ct is None:
        return []
    found: dict[tuple[str, int], dict] = {}
    for model, kind, name_field in (
        (UserObjectPermission, "user", "user__username"),
        (GroupObjectPermission, "group", "group__name"),
    ):
        rows = model.objects.filter(content_type=ct, object_pk=str(obj.pk)).values_list(
            f"{kind}_id", name_field, "permission__codename"
        )
        for principal_id, name, codename in rows:
            level = codename.split("_", 1)[0]
            entry = found.setdefault(
                (kind, principal_id),
                {
                    "principal_type": kind,
                    "principal_id": principal_id,
                    "principal": name,
                    "level": None,
                },
            )
            if level in policy.LEVELS and (entry["level"] is None or policy.level_at_least(level, entry["level"])):
                entry["level"] = level
    return sorted(found.values(), key=lambda e: (e["principal_type"], e["principal"]))
