"""Periodic sealing of the audit trail (``apps.audit.chain``): one task per active tenant."""

from celery import shared_task

from apps.audit.chain import audit_seal
from apps.tenants.selectors import tenant_schemas_active
from maestro.celery import TenantTask


@shared_task(base=TenantTask, name="audit.seal")
def seal(*, schema_name: str) -> int:
    """Seal the tenant's new audit events; returns how many."""
    return audit_seal().sealed


@shared_task(name="audit.seal_all_tenants")
def seal_all_tenants() -> int:
    """Fan out one ``seal`` per active tenant."""
    schemas = tenant_schemas_active()
    for schema in schemas:
        seal.delay(schema_name=schema)
    return len(schemas)
