"""Outbound events of a tenant, the webhook subscriptions that receive them, each delivery, and each user's place in
the notification bell. Tenant schema: nothing here is shared between tenants."""

from uuid import uuid4

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.webhooks.choices import OPEN_STATUSES, DeliveryStatus, PayloadFormat

EXCERPT_CHARS = 1024


class Event(models.Model):
    """One thing that happened (``maestro.events.emit``), recorded in the transaction of the change that caused it.

    ``project_id`` is a plain column, not a foreign key: an event outlives its project (its deliveries still go
    out), and a deleted project's id then matches no visible project, so the bell shows it to nobody.
    ``project_scoped`` says the event concerns a project at all (tenant-wide events such as model promotions are
    shown to everyone). Type ``ping`` marks test deliveries of one subscription (never shown in the bell)."""

    uuid = models.UUIDField(default=uuid4, unique=True, editable=False)
    type = models.CharField(max_length=64)
    payload = models.JSONField(encoder=DjangoJSONEncoder, default=dict)
    project_id = models.BigIntegerField(null=True, blank=True)
    project_scoped = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["project_id", "id"], name="webhook_event_project_idx"),
            models.Index(fields=["created_at"], name="webhook_event_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk}"


class Subscription(models.Model):
    """A URL that receives the tenant's events of the listed types.

    The signing secret is never stored: it is derived from a key in the environment (``WEBHOOKS_SECRET_KEYS``) and
    the random ``secret_salt`` (``apps.webhooks.secrets``); ``secret_key_id`` names the key that derived it. During
    a rotation's overlap the previous salt stays until ``previous_secret_expires_at`` and deliveries carry both
    signatures."""

    uuid = models.UUIDField(default=uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    url = models.CharField(max_length=2000)
    event_types = ArrayField(models.CharField(max_length=64))
    payload_format = models.CharField(max_length=10, choices=PayloadFormat.choices, default=PayloadFormat.MAESTRO)
    is_active = models.BooleanField(default=True)
    secret_salt = models.CharField(max_length=64, editable=False)
    secret_key_id = models.CharField(max_length=16, editable=False)
    previous_secret_salt = models.CharField(max_length=64, blank=True, editable=False)
    previous_secret_key_id = models.CharField(max_length=16, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Delivery(models.Model):
    """One event sent (or to be sent) to one subscription, with its attempts' outcome.

    ``idempotency_key`` is the same on every attempt and on every resend of the event to the subscription (receivers
    deduplicate by it); ``uuid`` identifies this delivery record (``Maestro-Delivery``). One original delivery per
    (subscription, event): a resend is a new row pointing at the one it repeats. ``claimed_until`` is the lease of
    the worker sending it: an attempt whose worker died is taken up again after it. Only ``EXCERPT_CHARS`` of the
    receiver's answer are kept."""

    uuid = models.UUIDField(default=uuid4, unique=True, editable=False)
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    idempotency_key = models.UUIDField(default=uuid4)
    resend_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="resends")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=EXCERPT_CHARS, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["subscription", "created_at", "id"], name="webhook_delivery_sub_idx"),
            models.Index(
                fields=["next_attempt_at"], condition=Q(status__in=OPEN_STATUSES), name="webhook_delivery_open_idx"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event"],
                condition=Q(resend_of__isnull=True),
                name="webhook_delivery_once_per_event",
            ),
        ]

    def __str__(self) -> str:
        return f"delivery {self.uuid} ({self.status})"


class NotificationCursor(models.Model):
    """How far a user has read their notification bell: events up to ``last_read_event_id`` are read."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    last_read_event_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"notifications of user #{self.user_id} read up to #{self.last_read_event_id}"
