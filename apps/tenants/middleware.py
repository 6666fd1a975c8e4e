"""Route each request to its tenant's schema: by host, or — on the platform host — by the tenant an API token names."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import connection
from django.shortcuts import render
from django_tenants.middleware.main import TenantMainMiddleware
from django_tenants.utils import get_public_schema_name

from apps.tenants.models import Domain, Tenant
from maestro.api.errors import api_error
from maestro.context import tenant_var
from maestro.db import server_binding
from maestro.tokens import schema_from_authorization

API_PREFIXES = ("/api/", "/ajax-api/")
# On the platform host these paths are served only for a tenant, chosen by the Bearer token.
TOKEN_ROUTED_PREFIXES = ("/api/v1/", "/api/2.0/", "/api/3.0/", "/ajax-api/")


class _TenantLookup:
    """Every request's first query: the tenant by schema name or by domain, as one fixed statement.

    Why not the ORM: building ``Tenant.objects.filter(...).first()`` took 0.4 ms of Python per request, two thirds of
    the lookup (bench/request_budget.py, "tenant routing", issue 24); the statement never changes, so it is built
    once. The row becomes a ``Tenant`` the way the ORM makes one: ``Model.from_db`` after each column's database
    converters (those of ``rate_limits``, a JSON field, parse its text).
    """

    def __init__(self):
        self._prepared: tuple[dict[str, str], list[str], list[tuple[int, list, object]]] | None = None

    def _prepare(self):
        quote = connection.ops.quote_name
        fields = Tenant._meta.concrete_fields
        table, domains = quote(Tenant._meta.db_table), quote(Domain._meta.db_table)
        columns = ", ".join(f"t.{quote(f.column)}" for f in fields)
        statements = {
            "schema": f"SELECT {columns} FROM {table} t WHERE t.schema_name = %s",  # noqa: S608 (names, not input)
            "domain": f"SELECT {columns} FROM {table} t JOIN {domains} d ON d.tenant_id = t.id WHERE d.domain = %s",  # noqa: S608
        }
        converters = []
        for index, field in enumerate(fields):
            column = field.get_col(Tenant._meta.db_table)
            found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if found:
                converters.append((index, found, column))
        self._prepared = statements, [f.attname for f in fields], converters
        return self._prepared

    def __call__(self, by: str, value: str) -> Tenant | None:
        """The tenant whose domain or schema name is ``value`` (both unique, so at most one)."""
        statements, attnames, converters = self._prepared or self._prepare()
        with server_binding(), connection.cursor() as cursor:  # kept prepared: the statement never changes
            cursor.execute(statements[by], [value])
            row = cursor.fetchone()
        if row is None:
            return None
        values = list(row)
        for index, found, column in converters:
            for convert in found:
                values[index] = convert(values[index], column, connection)
        return Tenant.from_db(connection.alias, attnames, values)


_tenant_by = _TenantLookup()


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
