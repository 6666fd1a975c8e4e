"""Reads on tenants."""

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
