"""The route gate: a route nobody declared is refused, and dashboard routes are checked against the matrix's role
cells before their view runs.

Runs after URL resolution (``process_view``) on every request of both URL confs and asks ``declarations.
route_access`` — the function the route tests and the system check call for every pattern — what the resolved view
declares:

* nothing → 403 (and one ``access.denied`` event for a signed-in user): a route someone forgot to declare is never
  served, whatever its prefix (``/api/``, ``/ajax-api/``, a dashboard page);
* a dashboard view (``@access``) → 405 for a method it does not declare, the login page for anonymous users, 403 when
  the role's cell for that method's action is empty; the view checks objects itself;
* an API view using ``AccessPolicy``, a capped tenant-admin page, a reviewed public route → passed on (the API
  permission class and the admin decide per method and object).
"""

from __future__ import annotations

import logging

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed

from apps.access import declarations
from apps.access.selectors import record_denial, require

logger = logging.getLogger("maestro.access")

UNDECLARED = "This endpoint declares no access policy."


class RouteGateMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        declared = declarations.route_access(view_func)
        if declared is None:
            logger.error("route without access declaration", extra={"view": declarations.view_id(view_func)})
            if request.user.is_authenticated:
                record_denial(request.user, None, None, None, reason="undeclared")
            raise PermissionDenied(UNDECLARED)
        if isinstance(declared, declarations.ViewAccess):
            action = declared.action_for(request.method)
            if action is None:
                return HttpResponseNotAllowed(sorted(declared.methods))
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            require(request.user, declared.resource, action)
        return None
