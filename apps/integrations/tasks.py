"""Thin Celery entry points for integrations."""

from celery import shared_task
from django.conf import settings

from apps.tenants.selectors import tenant_schemas_active
from maestro.celery import TenantTask
from maestro.enqueue import send_or_defer


@shared_task(base=TenantTask, name="integrations.reprocess")
def reprocess_integration(*, schema_name: str, integration_id: int) -> dict | None:
    """Run the reprocess requested for one integration (``services.integration_reprocess_pending``): rebuild its
    normalised rows from the stored deliveries; None when there is no request left (already done)."""
    # Imported here: the integrations services queue these tasks (cycle).
    from apps.integrations.services import integration_reprocess_pending

    result = integration_reprocess_pending(integration_id=integration_id)
    return None if result is None else result.as_dict()


@shared_task(name="integrations.reconcile_reprocess")
def reconcile_reprocess() -> int:
    """Send the reprocess task again for every request older than ``INTEGRATIONS_RECONCILE_SECONDS`` in every active
    tenant: requests made while the broker was down, or whose task was lost with a worker. Returns how many."""
    from django_tenants.utils import schema_context

    # Imported here: the integrations services queue these tasks (cycle).
    from apps.integrations.services import integration_reprocess_overdue

    sent = 0
    for schema in tenant_schemas_active():
        with schema_context(schema):
            overdue = integration_reprocess_overdue(older_than_seconds=settings.INTEGRATIONS_RECONCILE_SECONDS)
        for integration_id in overdue:
            sent += send_or_defer(reprocess_integration, schema_name=schema, integration_id=integration_id)
    return sent
