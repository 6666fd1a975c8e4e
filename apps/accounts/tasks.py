"""Periodic housekeeping for identity data."""

from celery import shared_task
from django.contrib.sessions.models import Session
from django.utils import timezone

from apps.tenants.selectors import tenant_schemas_active
from maestro.celery import TenantTask


@shared_task(base=TenantTask, name="accounts.clear_expired_sessions")
def clear_expired_sessions(*, schema_name: str) -> int:
    """Delete expired sessions in one tenant's schema; returns how many."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted


@shared_task(name="accounts.clear_expired_sessions_all_tenants")
def clear_expired_sessions_all_tenants() -> int:
    """Fan out one ``clear_expired_sessions`` per active tenant."""
    schemas = tenant_schemas_active()
    for schema in schemas:
        clear_expired_sessions.delay(schema_name=schema)
    return len(schemas)
