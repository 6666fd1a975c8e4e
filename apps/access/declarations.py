"""What each route declares about access, and the enumeration of every route of both URL confs.

Every URL pattern of the tenant URL conf (``maestro.urls``) and the platform one (``maestro.urls_public``) is either
governed by the permission matrix or listed, with its reason, in ``policy.PUBLIC_ROUTES``. ``route_access`` decides
which, from the route's view alone; the system check, the tests (which walk every pattern) and the runtime gate
(``apps.access.middleware.RouteGateMiddleware``, which refuses an undeclared route with 403) all call it, so a route
the tests would flag is also refused when served.

An API view (DRF) declares:

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

A dashboard (plain Django) view declares with ``@access("projects", get=READ, post=CREATE)``: its resource and the
action of each HTTP method it answers (HEAD follows GET); the gate answers 405 for other methods, sends anonymous
users to the login page and refuses roles whose matrix cell is empty, before the view runs (which then checks
objects). The Django admin of a tenant is governed through its models: each ModelAdmin route serves the resource that
``policy.resource_of_model`` finds for its model, and ``apps.access.admin_site`` caps the ModelAdmin's permissions by
the matrix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.contrib.admin import AdminSite, ModelAdmin
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


def _walk(
    patterns, prefix: str, regex_kwargs: tuple[str, ...], namespace: str = ""
) -> Iterator[tuple[str, URLPattern, tuple, str]]:
    """(full pattern, URLPattern, path parameters, namespace) of every pattern under ``patterns``."""
    for entry in patterns:
        piece = str(entry.pattern)
        groups = tuple(getattr(entry.pattern, "regex", None).groupindex) if hasattr(entry.pattern, "regex") else ()
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + piece, regex_kwargs + groups, inner)
        else:
            yield prefix + piece, entry, regex_kwargs + groups, namespace


def _clean(pattern: str) -> str:
    return pattern.replace("^", "").replace("$", "").replace("\\Z", "")


def _drf_view_class(callback) -> type | None:
    from rest_framework.views import APIView

    view_cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    return view_cls if isinstance(view_cls, type) and issubclass(view_cls, APIView) else None


def api_routes(urlconf: str | None = None) -> list[ApiRoute]:
    """Every DRF route of ``urlconf`` (default: the tenant URL conf), wherever it is mounted (``/api/``,
    ``/ajax-api/``, …): the routes whose methods the API permission class decides."""
    routes = []
    for pattern, entry, kwargs, _namespace in _walk(get_resolver(urlconf).url_patterns, "", ()):
        view_cls = _drf_view_class(entry.callback)
        if view_cls is None:
            continue
        actions = dict(getattr(entry.callback, "actions", {}) or {}) or None
        routes.append(ApiRoute(_clean(pattern), entry.name, view_cls, actions, kwargs))
    return routes


def uses_access_policy(view_cls) -> bool:
    # Imported here: apps.access.permissions imports this module (cycle).
    from apps.access.permissions import AccessPolicy

    return any(isinstance(p, type) and issubclass(p, AccessPolicy) for p in view_cls.permission_classes)


# ---------------------------------------------------------------------------------------------- every route
def access(resource: str, **methods: str):
    """Declare a dashboard view's matrix resource and the action of each HTTP method it answers (lower-case keyword
    per method; none given: GET only, read). Unknown resources or actions fail at import, not at request time."""
    declared = {method.upper(): action for method, action in (methods or {"get": policy.READ}).items()}
    for method, action in declared.items():
        if method not in HTTP_METHODS:
            raise policy.PolicyError(f"@access: '{method}' is not an HTTP method the gate knows ({HTTP_METHODS}).")
        policy.rule_for(resource, action)
    if "GET" in declared:
        declared["HEAD"] = declared["GET"]

    def decorate(view):
        view.access_resource = resource
        view.access_methods = declared
        return view

    return decorate


@dataclass(frozen=True)
class ViewAccess:
    """A dashboard view's declaration: the resource and the action per HTTP method."""

    resource: str
    methods: dict[str, str]

    def action_for(self, method: str) -> str | None:
        return self.methods.get(method.upper())


@dataclass(frozen=True)
class ApiAccess:
    """A DRF view governed by ``AccessPolicy`` (its declarations are checked per method by ``route_problems``)."""

    view_cls: type


@dataclass(frozen=True)
class AdminAccess:
    """A ModelAdmin route of the tenant admin: the resource of its model, enforced by the capped ModelAdmin."""

    resource: str


@dataclass(frozen=True)
class PublicAccess:
    """A route outside the matrix, with the reviewed reason from ``policy.PUBLIC_ROUTES``."""

    reason: str


Access = ViewAccess | ApiAccess | AdminAccess | PublicAccess


def _admin_owner(callback) -> tuple[object | None, object | None]:
    """(admin site, ModelAdmin) whose view ``callback`` is; (None, None) for views of no admin site. Django marks
    most admin views (``model_admin`` / ``admin_site``); the rest are bound methods, possibly wrapped."""
    model_admin, site = getattr(callback, "model_admin", None), getattr(callback, "admin_site", None)
    target = callback
    while model_admin is None and site is None and target is not None:
        owner = getattr(target, "__self__", None)
        if isinstance(owner, ModelAdmin):
            model_admin = owner
        elif isinstance(owner, AdminSite):
            site = owner
        target = getattr(target, "__wrapped__", None)
    return (model_admin.admin_site if model_admin is not None else site), model_admin


def view_id(callback) -> str:
    """How ``policy.PUBLIC_ROUTES`` names a route's view: ``module.Class`` for class-based views, ``module.function``
    for functions, ``<admin site name>:<view>`` for an admin site's own pages."""
    site, model_admin = _admin_owner(callback)
    if site is not None and model_admin is None:
        return f"{site.name}:{callback.__name__}"
    view_cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    target = view_cls or callback
    return f"{target.__module__}.{target.__qualname__}"


def route_access(callback) -> Access | None:
    """The access declaration of the view a route calls; None when it has none (the route is refused)."""
    public = policy.PUBLIC_ROUTES.get(view_id(callback))
    if public is not None:
        return PublicAccess(public)
    site, model_admin = _admin_owner(callback)
    if site is not None:
        if site.name in policy.OPERATOR_ADMIN_SITES:
            return PublicAccess(policy.OPERATOR_ADMIN_SITES[site.name])
        if model_admin is None or not getattr(model_admin, "matrix_capped", False):
            return None
        resource = policy.resource_of_model(model_admin.model._meta.label)
        return AdminAccess(resource) if resource is not None else None
    view_cls = _drf_view_class(callback)
    if view_cls is not None:
        return ApiAccess(view_cls) if uses_access_policy(view_cls) else None
    target = getattr(callback, "view_class", None) or callback
    resource, methods = getattr(target, "access_resource", None), getattr(target, "access_methods", None)
    if resource is None or not methods:
        return None
    return ViewAccess(resource, dict(methods))


@dataclass(frozen=True)
class Route:
    """One URL pattern of a URL conf with the view it calls."""

    urlconf: str
    pattern: str
    name: str | None  # with its namespaces ("projects:detail"), as reverse() takes it
    callback: object
    kwargs: tuple[str, ...]  # path parameters of regular-expression patterns (path() converters stay in pattern)

    @property
    def label(self) -> str:
        return f"{self.urlconf}: /{self.pattern} ({view_id(self.callback)})"


def project_urlconfs() -> tuple[str, ...]:
    """The tenant's URL conf and the platform host's."""
    return (settings.ROOT_URLCONF, settings.PUBLIC_SCHEMA_URLCONF)


def all_routes(urlconfs: tuple[str, ...] | None = None) -> list[Route]:
    """Every URL pattern of the given URL confs (default: both of the project's), nested includes walked."""
    routes = []
    for urlconf in urlconfs or project_urlconfs():
        for pattern, entry, kwargs, namespace in _walk(get_resolver(urlconf).url_patterns, "", ()):
            name = f"{namespace}{entry.name}" if entry.name else None
            routes.append(Route(urlconf, _clean(pattern), name, entry.callback, kwargs))
    return routes


def route_problems(routes: list[ApiRoute] | None = None, urlconfs: tuple[str, ...] | None = None) -> list[str]:
    """Routes that would be refused or would bypass the matrix: what the system check and the tests report.

    With ``routes`` (API routes), only those are checked, method by method. Without, every pattern of ``urlconfs``
    (default: both URL confs) must be declared, and every API route must declare each method it serves.
    """
    problems = []
    if routes is None:
        for route in all_routes(urlconfs):
            if route_access(route.callback) is None:
                problems.append(
                    f"{route.label}: no access declaration (declare it in the permission matrix, or list it with a "
                    "reason in policy.PUBLIC_ROUTES)"
                )
        routes = [r for urlconf in urlconfs or project_urlconfs() for r in api_routes(urlconf)]
    for route in routes:
        if route.view_path in policy.PUBLIC_ROUTES:
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
    return sorted(set(problems), key=problems.index)
