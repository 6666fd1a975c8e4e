"""Reads on the audit trail."""

from django.db.models import QuerySet

from apps.access.selectors import scope
from apps.audit.models import AuditEvent


def audit_event_list(*, user) -> QuerySet[AuditEvent]:
    """The events ``user`` may read (owners and admins: all of the tenant's), newest first, with the erasable
    identity and detail joined (what every surface shows: ``actor_username``, ``ip``, ``display_*``)."""
    return scope(AuditEvent.objects.all(), user=user, resource="audit_log").order_by("-occurred_at", "-id")


def audit_events_of_actor(*, actor_id: int) -> QuerySet[AuditEvent]:
    """Every event user ``actor_id`` performed, oldest first (for their data export; no permission scope: the
    caller is an operator command acting on a privacy request)."""
    return AuditEvent.objects.filter(actor_id=actor_id).order_by("occurred_at", "id")
