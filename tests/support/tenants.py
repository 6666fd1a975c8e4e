"""Test tenants: created once per session (committed), each with an admin whose password the fixture knows."""

from __future__ import annotations

from dataclasses import dataclass

from django.test import Client
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from apps.ops.services import tenant_provision
from apps.tenants.models import Tenant


@dataclass
class TenantCtx:
    tenant: Tenant
    host: str
    admin_username: str
    admin_password: str

    @property
    def schema(self) -> str:
        return self.tenant.schema_name

    def client(self) -> Client:
        """A browser-like client bound to this tenant's host."""
        return Client(HTTP_HOST=self.host)

    def api(self, token: str | None = None, host: str | None = None) -> APIClient:
        """An API client on this tenant's host (or ``host``), optionally with a Bearer token."""
        client = APIClient(HTTP_HOST=host or self.host)
        if token:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    def context(self):
        return schema_context(self.schema)


def make_tenant(slug: str, name: str) -> TenantCtx:
    result = tenant_provision(slug=slug, name=name, admin_email=f"admin@{slug}.test", domain=f"{slug}.localhost")
    return TenantCtx(
        tenant=result.tenant, host=result.domain.domain, admin_username="admin", admin_password=result.password
    )
