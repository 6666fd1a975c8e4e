"""Route each request to its tenant's schema: by host, or — on the platform host — by the tenant an API token names."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import connection
from django.shortcuts import render
from django_tenants.middleware.main import TenantMainMiddleware
from django_tenants.utils import get_public_schema_name

from apps.tenants.models import Tenant
from maestro.api.errors import api_error
from maestro.context import tenant_var
from maestro.tokens import schema_from_authorization

API_PREFIXES = ("/api/", "/ajax-api/")
# On the platform host these paths are served only for a tenant, chosen by the Bearer token.
TOKEN_ROUTED_PREFIXES = ("/api/v1/", "/api/2.0/", "/api/3.0/", "/ajax-api/")


def _tenant_by(by: str, value: str) -> Tenant | None:
    """The tenant whose domain or schema name is ``value`` (both unique, so at most one)."""
    if by == "domain":
        return Tenant.objects.filter(domains__domain=value).first()
    return Tenant.objects.filter(schema_name=value).first()


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIXES)


def _refuse(request, status: int, message: str, template: str):
    connection.set_schema_to_public()  # a refused request touches no tenant schema
    if _is_api(request):
        # In the shared error shape, or the one registered for the path (MLflow's, which its clients parse).
        return api_error(status, "refused", message, request=request)
    return render(request, template, {"message": message}, status=status)


class TenantRoutingMiddleware(TenantMainMiddleware):
    """Select the schema for this request.

    * A tenant's own host (``acme.localhost``) routes to that tenant.
    * A platform host (``MAESTRO_PUBLIC_HOSTS``, e.g. ``localhost``) serves the public schema — the operators' admin —
      except for API paths carrying a Maestro token, which route to the tenant named in the token's prefix. The token
      itself is verified afterwards against the hash stored in that tenant's schema.
    * Unknown hosts get a 404 page, suspended tenants a 403 page; neither touches any tenant schema.
    """

    def process_request(self, request):
        routed = self._route(request)
        if not isinstance(routed, Tenant):
            return routed
        request.tenant = routed
        connection.set_tenant(routed)
        tenant_var.set(routed.schema_name)
        self.setup_url_routing(request)
        return None

    def _route(self, request):
        """The request's tenant, or the response refusing it.

        The lookups run on whatever ``search_path`` the connection has — the previous request's tenant, usually the
        same one — not after a switch to the public schema: every path Maestro sets ends with ``public``, and the
        tenants and domains tables exist only there (``apps.tenants`` is a shared app, never migrated into a tenant
        schema), so they read the same rows either way. Unchanged, the path is not set again
        (``maestro.postgresql``): a worker serving one tenant sends no ``SET search_path`` per request.
        """
        try:
            hostname = self.hostname_from_request(request)
        except DisallowedHost:
            return _refuse(request, 404, "Unknown host.", "errors/unknown_tenant.html")

        if hostname in settings.MAESTRO_PUBLIC_HOSTS:
            if request.path.startswith(TOKEN_ROUTED_PREFIXES):
                # No public-tenant lookup first: these requests never use it (one query less per API call).
                tenant = self._tenant_from_token(request)
                if tenant is None:
                    return self._unauthorized(request)
            else:
                tenant = _tenant_by("schema", get_public_schema_name())
                if tenant is None:
                    return _refuse(
                        request, 503, "Platform not initialised: run migrations.", "errors/unknown_tenant.html"
                    )
        else:
            tenant = _tenant_by("domain", hostname)
            if tenant is None:
                return _refuse(request, 404, f"No organisation is served at {hostname}.", "errors/unknown_tenant.html")

        if not tenant.is_active:
            return _refuse(request, 403, "This organisation is suspended.", "errors/suspended.html")
        tenant.domain_url = hostname
        return tenant

    @staticmethod
    def _tenant_from_token(request) -> Tenant | None:
        schema = schema_from_authorization(request.headers.get("Authorization", ""))
        if schema is None or schema == get_public_schema_name():
            return None
        return _tenant_by("schema", schema)

    @staticmethod
    def _unauthorized(request):
        connection.set_schema_to_public()
        has_header = bool(request.headers.get("Authorization"))
        detail = "Invalid token." if has_header else "Authentication credentials were not provided."
        response = api_error(401, "not_authenticated", detail, request=request)
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
