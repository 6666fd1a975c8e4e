"""Reads of webhooks and notifications, already permission-scoped.

Subscriptions and their deliveries are the tenant's (owners and admins, per the matrix). The notification bell shows
a user the events of projects they can see (``apps.projects.selectors.project_list``, the one gate) and the
tenant-wide events (model registry, artifact library: everyone may read those), since they joined.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from apps.access.selectors import scope
from apps.projects.selectors import project_list
from apps.webhooks.models import Delivery, Event, NotificationCursor, Subscription
from maestro.events import EVENT_TYPES

UNREAD_CAP = 99


def subscription_list(*, user) -> QuerySet[Subscription]:
    return scope(Subscription.objects.all(), user=user, resource="webhooks").order_by("name", "id")


def subscription_get(*, user, pk) -> Subscription:
    """Subscription.DoesNotExist when it does not exist or the user may not see it."""
    return subscription_list(user=user).get(pk=pk)


def delivery_list(*, user, subscription: Subscription) -> QuerySet[Delivery]:
    """The subscription's delivery log, newest first."""
    return (
        scope(Delivery.objects.filter(subscription=subscription), user=user, resource="webhooks")
        .select_related("event")
        .order_by("-created_at", "-id")
    )


def delivery_get(*, user, subscription: Subscription, pk) -> Delivery:
    return delivery_list(user=user, subscription=subscription).get(pk=pk)


def notification_list(*, user) -> QuerySet[Event]:
    """Events for ``user``'s bell, newest first: types of ``EVENT_TYPES`` (not test pings), of projects the user
    can see or of no project, recorded since the user joined."""
    if user is None or not user.is_authenticated or getattr(user, "is_service_account", False):
        return Event.objects.none()
    visible_projects = project_list(user=user, owner=False).order_by().values("pk")
    return (
        Event.objects.filter(type__in=list(EVENT_TYPES), created_at__gte=user.date_joined)
        .filter(Q(project_scoped=False) | Q(project_id__in=visible_projects))
        .order_by("-id")
    )


def notification_read_mark(*, user) -> int:
    """The id of the newest event the user has marked read (0: none)."""
    return NotificationCursor.objects.filter(user=user).values_list("last_read_event_id", flat=True).first() or 0


def notification_unread_count(*, user, cap: int = UNREAD_CAP) -> int:
    """Unread notifications, counted up to ``cap + 1`` (the bell shows "99+"; counting further is wasted work).
    One query, the read mark a subquery of it: the bell is on every page."""
    mark = NotificationCursor.objects.filter(user=user.pk).values("last_read_event_id")[:1]
    unread = notification_list(user=user).filter(id__gt=Coalesce(Subquery(mark), Value(0)))
    return unread.order_by()[: cap + 1].count()
