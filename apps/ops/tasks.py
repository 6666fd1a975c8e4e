"""Background tenant exports started from the platform admin."""

import logging

from celery import shared_task

from apps.ops.services import tenant_export
from apps.tenants.models import Tenant

logger = logging.getLogger("maestro.ops")


@shared_task(name="ops.export_tenant")
def export_tenant(*, schema_name: str, created_by: str = "") -> int | None:
    """Export one tenant to ``TENANT_EXPORT_DIR``; returns the TenantExport id.

    Not a ``TenantTask``: exporting a suspended tenant (before deleting it) is the point, and the export reads the
    schema through ``schema_context`` itself.
    """
    tenant = Tenant.objects.filter(schema_name=schema_name).first()
    if tenant is None:
        logger.warning("tenant_export_skipped_unknown_tenant", extra={"schema": schema_name})
        return None
    logger.info("tenant_export_started", extra={"schema": schema_name})
    record = tenant_export(tenant=tenant, created_by=created_by)
    logger.info("tenant_export_finished", extra={"schema": schema_name, "export_id": record.pk, "path": record.path})
    return record.pk
