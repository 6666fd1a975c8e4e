"""The API's one permission class (``DEFAULT_PERMISSION_CLASSES``): the permission matrix, enforced per request.

Order of checks for every request to a view using it:

1. authentication (DRF, before this class): no valid credentials → 401;
2. the rate limit of the request's scope (``throttling.enforce``; anonymous requests per client address) — before
   the decision, so refused requests are counted too;
3. the view's declaration → (resource, action); none → 403 (fail closed: new routes must declare);
4. the role's cell in the matrix → 403 when refused;
5. the API token's scope (read < write < admin) → 403 when too weak;
6. for nested routes, the parent named in the URL (``access_parent_kwarg``) → 404 hidden / 403 forbidden;
7. per object (``get_object``): 404 when the user cannot see it, 403 when visible but not permitted.

Every refusal at 3–7 records one ``access.denied`` security event.
"""

from __future__ import annotations

import logging

from django.apps import apps
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from apps.access import declarations, policy
from apps.access.selectors import Decision, decide, forbidden_message, record_denial
from apps.accounts.models import ApiToken
from maestro.api import throttling

logger = logging.getLogger("maestro.access")


def token_scope(request) -> str | None:
    """The scope of the API token that authenticated the request; None for sessions (not scope-limited)."""
    auth = getattr(request, "auth", None)
    return auth.scope if isinstance(auth, ApiToken) else None


def deny(request, view, message: str, *, resource: str | None, action: str | None, obj=None, reason: str):
    record_denial(request.user, resource, action, obj, reason=reason, scope=token_scope(request))
    raise exceptions.PermissionDenied(message)


class AccessPolicy(BasePermission):
    """Enforces ``apps.access.policy`` on every API view (see module docstring)."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        throttling.enforce(request, view)  # anonymous requests count per client address
        if not user or not user.is_authenticated:
            return False  # DRF answers 401 (credentials missing or invalid)
        declared = declarations.resolve_for(view, request)
        if declared is declarations.UNROUTED:
            return True  # DRF answers 405
        if declared is None:
            logger.error("API view without access declaration", extra={"view": type(view).__name__})
            deny(
                request,
                view,
                "This endpoint declares no access policy.",
                resource=None,
                action=None,
                reason="undeclared",
            )
        resource, action = declared
        rule = policy.rule_for(resource, action)
        principal = policy.principal_of(user)
        if principal is None or rule.cell(principal) is None:
            deny(
                request,
                view,
                forbidden_message(user, resource, action),
                resource=resource,
                action=action,
                reason="role",
            )
        scope = token_scope(request)
        if not policy.scope_allows(scope, rule.scope):
            deny(
                request,
                view,
                f"This token's scope '{scope}' does not allow {action} on {policy.RESOURCES[resource].label.lower()};"
                f" a '{rule.scope}' token is needed.",
                resource=resource,
                action=action,
                reason="token_scope",
            )
        parent_kwarg = getattr(view, "access_parent_kwarg", None)
        if parent_kwarg and parent_kwarg in view.kwargs:
            self._check_parent(request, view, resource, action, view.kwargs[parent_kwarg])
        return True

    def _check_parent(self, request, view, resource: str, action: str, value) -> None:
        """The parent named in the URL: hidden → 404; the action needs the same level on it as on a child."""
        info = policy.RESOURCES[resource]
        label = getattr(view, "access_parent_model", None) or policy.ANCHOR_MODELS[info.anchor]
        field = getattr(view, "access_parent_field", "pk")
        model = apps.get_model(label)
        try:
            parent = model._base_manager.filter(**{field: value}).first()
        except (ValueError, DjangoValidationError):
            parent = None
        decision = Decision.HIDDEN if parent is None else decide(request.user, resource, action, parent)
        if decision is Decision.HIDDEN:
            raise exceptions.NotFound()
        if decision is Decision.FORBIDDEN:
            deny(
                request,
                view,
                forbidden_message(request.user, resource, action, parent),
                resource=resource,
                action=action,
                obj=parent,
                reason="object",
            )

    def has_object_permission(self, request, view, obj) -> bool:
        declared = declarations.resolve_for(view, request)
        if declared is declarations.UNROUTED or declared is None:
            return declared is declarations.UNROUTED
        resource, action = declared
        decision = decide(request.user, resource, action, obj)
        if decision is Decision.HIDDEN:
            raise exceptions.NotFound()
        if decision is Decision.FORBIDDEN:
            deny(
                request,
                view,
                forbidden_message(request.user, resource, action, obj),
                resource=resource,
                action=action,
                obj=obj,
                reason="object",
            )
        return True
