"""What the acting user may do, for the dashboard's buttons and form handlers.

Pages ask :func:`can` before showing an edit control and call :func:`require` before every write, so a user who
cannot see a button also gets a 403 when posting anyway.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from apps.accounts.choices import Role

READ, CREATE, CHANGE, DELETE = "read", "create", "change", "delete"
_ADMINS = (Role.OWNER, Role.ADMIN)
_WRITERS = (Role.OWNER, Role.ADMIN, Role.LEAD, Role.MEMBER)
# resource → action → roles allowed
_MATRIX = {
    "team_members": {CREATE: (*_ADMINS, Role.LEAD), CHANGE: (*_ADMINS, Role.LEAD), DELETE: (*_ADMINS, Role.LEAD)},
    "models": {CREATE: (*_ADMINS, Role.LEAD), CHANGE: _ADMINS, DELETE: _ADMINS},
    "users": {READ: _ADMINS, CREATE: _ADMINS, CHANGE: _ADMINS, DELETE: _ADMINS},
    "audit_log": {READ: _ADMINS},
}


def can(user, resource: str, action: str, obj=None) -> bool:
    if not getattr(user, "is_authenticated", False) or getattr(user, "is_service_account", False):
        return False
    allowed = _MATRIX.get(resource, {}).get(action)
    if allowed is None:
        allowed = (*_WRITERS, Role.VIEWER) if action == READ else _WRITERS
    return user.is_superuser or user.role in allowed


def require(user, resource: str, action: str, obj=None) -> None:
    if not can(user, resource, action, obj):
        raise PermissionDenied(f"Your role may not {action} {resource.replace('_', ' ')}.")
