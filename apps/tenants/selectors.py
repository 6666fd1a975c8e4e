"""Reads on tenants."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from django.db import connection
from django_tenants.utils import get_public_schema_name

from apps.tenants.models import Tenant


def tenant_schemas_active() -> list[str]:
    """Schema names of every active tenant (the platform schema excluded)."""
    return list(
        Tenant.objects.filter(is_active=True)
        .exclude(schema_name=get_public_schema_name())
        .order_by("schema_name")
        .values_list("schema_name", flat=True)
    )


class TenantIdentity(NamedTuple):
    """Which tenant a schema belongs to *now*: the key for anything a process keeps about a tenant.

    The schema name alone is not enough: a tenant dropped and provisioned again with the same slug (or restored by an
    import over a dropped one) reuses it, and its ids restart from 1. The row's id never repeats (a sequence), and the
    creation time also tells apart a row from a restored copy of the platform database. ``tenant_id`` is None for a
    schema without a tenant row (the platform schema without one)."""

    schema_name: str
    tenant_id: int | None
    created_at: datetime | None


def tenant_identity() -> TenantIdentity:
    """The identity of the connection's current tenant.

    Requests carry the tenant row the routing middleware has just read (no query); under ``schema_context`` (tasks,
    commands) only the schema name is known, and the row is read by it (one indexed lookup)."""
    tenant = connection.tenant
    schema = connection.schema_name
    if isinstance(tenant, Tenant) and tenant.pk is not None and tenant.schema_name == schema:
        return TenantIdentity(schema, tenant.pk, tenant.created_at)
    row = Tenant.objects.filter(schema_name=schema).values_list("pk", "created_at").first()
    return TenantIdentity(schema, *row) if row else TenantIdentity(schema, None, None)
