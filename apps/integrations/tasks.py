"""Thin Celery entry points for integrations."""

from celery import shared_task

from maestro.celery import TenantTask


@shared_task(base=TenantTask, name="integrations.reprocess")
def reprocess_integration(*, schema_name: str, integration_id: int) -> dict | None:
    """Rebuild one integration's normalised rows from its stored deliveries (``services.integration_reprocess``)."""
    from apps.integrations.models import Integration
    from apps.integrations.services import integration_reprocess

    integration = Integration.objects.filter(pk=integration_id).first()
    if integration is None:
        return None
    return integration_reprocess(integration=integration).as_dict()
