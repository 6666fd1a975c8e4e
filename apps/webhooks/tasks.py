"""Thin Celery entry points for outbound webhooks: one delivery attempt, and the reconciliation that resends due
deliveries whose task never ran (broker down when they were recorded, countdown task lost, worker died)."""

from celery import shared_task
from django.conf import settings

from apps.tenants.selectors import tenant_schemas_active
from maestro.celery import TenantTask
from maestro.enqueue import send_or_defer

# A slow receiver is cut off by WEBHOOKS_TOTAL_TIMEOUT_SECONDS inside the attempt; this is the backstop.
HARD_LIMIT_SECONDS = 300


@shared_task(base=TenantTask, name="webhooks.deliver", time_limit=HARD_LIMIT_SECONDS)
def deliver(*, schema_name: str, delivery_id: int) -> str | None:
    """Attempt delivery ``delivery_id`` of tenant ``schema_name``; its new status, or None when nothing was due."""
    from apps.webhooks.services import delivery_attempt  # services send this task: imported here (cycle)

    delivery = delivery_attempt(delivery_id=delivery_id)
    return None if delivery is None else delivery.status


@shared_task(name="webhooks.reconcile")
def reconcile_deliveries() -> int:
    """Send the delivery task again for every open delivery overdue by ``WEBHOOKS_RECONCILE_SECONDS`` in every
    active tenant. Returns how many were sent."""
    from django_tenants.utils import schema_context

    # Imported here: the webhooks services queue these tasks (cycle).
    from apps.webhooks.services import deliveries_due

    sent = 0
    for schema in tenant_schemas_active():
        with schema_context(schema):
            due = deliveries_due(older_than_seconds=settings.WEBHOOKS_RECONCILE_SECONDS)
        for delivery_id in due:
            sent += send_or_defer(deliver, schema_name=schema, delivery_id=delivery_id)
    return sent
