"""Reads on the audit trail."""

from django.db.models import QuerySet

from apps.access.selectors import scope
from apps.audit.models import AuditEvent


def audit_event_list(*, user) -> QuerySet[AuditEvent]:
    """The events ``user`` may read (owners and admins: all of the tenant's), newest first."""
    return scope(AuditEvent.objects.all(), user=user, resource="audit_log").order_by("-occurred_at", "-id")
