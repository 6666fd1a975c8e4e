"""The dashboard's view of the one permission gate (``apps.access.selectors``).

Pages ask :func:`can` before showing an edit control and call :func:`require` before every write, so a user who
cannot see a button also gets a 403 (404 for objects they may not see at all) when posting anyway.
"""

from __future__ import annotations

from apps.access.selectors import Decision, decide, require

__all__ = ["can", "require"]


def can(user, resource: str, action: str, obj=None) -> bool:
    """Whether ``user`` may ``action`` on ``resource`` (on ``obj``, when given), exactly as the API decides."""
    return decide(user, resource, action, obj) is Decision.ALLOWED
