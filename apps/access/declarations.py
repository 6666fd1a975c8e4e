"""What an API view declares about access, and the enumeration of every API route.

A view declares:

* ``access_resource = "projects"`` — the matrix resource it serves (required; a view without it is refused);
* ``access_actions = {"complete": "change"}`` — matrix action of each extra viewset action (``@action``) or, for a
  plain APIView, of an HTTP method whose default mapping is wrong (GET→read, POST→create, PUT/PATCH→change,
  DELETE→delete; list/retrieve→read, create→create, update/partial_update→change, destroy→delete). An extra action
  serving several methods maps each: ``{"params": {"get": "read", "post": "create"}}``;
* optionally ``access_resources = {"members": "team_members"}`` — a different resource for some actions;
* optionally ``access_parent_kwarg = "project_pk"`` — for nested routes: the URL kwarg naming the parent, checked
  before the view runs (404 when hidden, 403 when the level is insufficient). The parent is the resource's anchor
  (project or artifact) looked up by primary key, unless ``access_parent_model = "metrics.Run"`` and
  ``access_parent_field = "uuid"`` say otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

from apps.access import policy

UNROUTED = object()  # the method is not served by this view: DRF answers 405
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _is_viewset(view_or_cls) -> bool:
    from rest_framework.viewsets import ViewSetMixin

    cls = view_or_cls if isinstance(view_or_cls, type) else type(view_or_cls)
    return issubclass(cls, ViewSetMixin)


def resolve(view_cls, method: str, viewset_action: str | None) -> tuple[str, str] | object | None:
    """(resource, action) declared for ``method`` (and viewset action, for viewsets); UNROUTED when the view does
    not serve the method; None when the view leaves it undeclared (refused: fail closed)."""
    method = method.upper()
    explicit = getattr(view_cls, "access_actions", None) or {}
    if _is_viewset(view_cls):
        if viewset_action is None:
            return UNROUTED
        key = viewset_action
        action = explicit.get(key) or policy.VIEWSET_ACTIONS.get(key)
        if isinstance(action, dict):
            action = action.get(method.lower()) or (action.get("get") if method == "HEAD" else None)
    else:
        if method not in ("HEAD", "OPTIONS") and not hasattr(view_cls, method.lower()):
            return UNROUTED
        key = method.lower()
        action = explicit.get(key) or policy.METHOD_ACTIONS.get(method)
    resource = (getattr(view_cls, "access_resources", None) or {}).get(key) or getattr(
        view_cls, "access_resource", None
    )
    if resource is None or action is None or (resource, action) not in policy.MATRIX:
        return None
    return resource, action


def resolve_for(view, request) -> tuple[str, str] | object | None:
    return resolve(type(view), request.method, getattr(view, "action", None) if _is_viewset(view) else None)


@dataclass(frozen=True)
class ApiRoute:
    """One URL pattern of the API, with the view class and the viewset actions per HTTP method."""

    pattern: str
    name: str | None
    view_cls: type
    actions: dict[str, str] | None  # method (lower) → viewset action, for viewsets
    kwargs: tuple[str, ...]

    @property
    def view_path(self) -> str:
        return f"{self.view_cls.__module__}.{self.view_cls.__qualname__}"

    def methods(self) -> dict[str, str | None]:
        """Each HTTP method → the viewset action (None for plain views, and for methods a viewset does not map)."""
        return {m: (self.actions or {}).get(m.lower()) for m in HTTP_METHODS}

    def declaration(self, method: str):
        return resolve(self.view_cls, method, (self.actions or {}).get(method.lower()))

    def serves(self, method: str) -> bool:
        return self.declaration(method) is not UNROUTED


def _walk(patterns, prefix: str, regex_kwargs: tuple[str, ...]) -> Iterator[tuple[str, URLPattern, tuple]]:
    for entry in patterns:
        piece = str(entry.pattern)
        groups = tuple(getattr(entry.pattern, "regex", None).groupindex) if hasattr(entry.pattern, "regex") else ()
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + piece, regex_kwargs + groups)
        else:
            yield prefix + piece, entry, regex_kwargs + groups


def _clean(pattern: str) -> str:
    return pattern.replace("^", "").replace("$", "").replace("\\Z", "")


def api_routes(urlconf: str | None = None) -> list[ApiRoute]:
    """Every DRF route under ``/api/`` of the tenant URLconf (the API the permission matrix governs)."""
    from rest_framework.views import APIView

    routes = []
    for pattern, entry, kwargs in _walk(get_resolver(urlconf).url_patterns, "", ()):
        clean = _clean(pattern)
        if not clean.startswith("api/"):
            continue
        callback = entry.callback
        view_cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        if view_cls is None or not issubclass(view_cls, APIView):
            continue
        actions = dict(getattr(callback, "actions", {}) or {}) or None
        routes.append(ApiRoute(clean, entry.name, view_cls, actions, kwargs))
    return routes


def uses_access_policy(view_cls) -> bool:
    from apps.access.permissions import AccessPolicy

    return any(isinstance(p, type) and issubclass(p, AccessPolicy) for p in view_cls.permission_classes)


def route_problems(routes: list[ApiRoute] | None = None) -> list[str]:
    """Routes that would be refused or bypass the matrix: what the system check and the tests report."""
    problems = []
    for route in routes if routes is not None else api_routes():
        if route.view_path in policy.PUBLIC_VIEWS:
            continue
        if not uses_access_policy(route.view_cls):
            problems.append(f"{route.pattern} ({route.view_path}): permission_classes drop AccessPolicy")
            continue
        for method in HTTP_METHODS:
            declared = route.declaration(method)
            if declared is None:
                problems.append(
                    f"{route.pattern} {method} ({route.view_path}): no access policy declared "
                    "(set access_resource, and access_actions for extra actions)"
                )
    return problems
