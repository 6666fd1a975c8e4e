"""Writes of outbound webhooks and notifications: record events, manage subscriptions, send deliveries.

Delivery pipeline (at least once, deduplicated by the receiver's idempotency key; exactly once while no worker
dies mid-send):

1. ``event_record`` (a ``maestro.events`` handler) runs inside the transaction of the change: it stores the event
   and one pending ``Delivery`` per active subscription to its type, and asks for the delivery tasks to be sent
   once that transaction commits (``maestro.enqueue.send_or_defer``: a broker outage is only logged).
2. ``delivery_attempt`` (the Celery task's body) claims a due delivery with a lease (one atomic UPDATE, so a task
   sent twice sends once), posts it (``maestro.outbound``: SSRF rules, timeouts) and records the outcome. A failure
   schedules the next attempt with exponential backoff and jitter, or dead-letters the delivery after
   ``WEBHOOKS_MAX_ATTEMPTS``.
3. ``deliveries_due`` feeds the periodic reconciliation, which sends the task again for every open delivery whose
   time has come and gone: deliveries recorded while the broker was down, retries whose countdown task was lost,
   attempts whose worker died (lease expired).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.audit.models import Category
from apps.audit.registry import Classified
from apps.audit.services import audit_security_event
from apps.webhooks import payloads, secrets
from apps.webhooks.choices import OPEN_STATUSES, DeliveryStatus, PayloadFormat
from apps.webhooks.models import EXCERPT_CHARS, Delivery, Event, NotificationCursor, Subscription
from apps.webhooks.tasks import deliver
from maestro import outbound
from maestro.enqueue import send_or_defer
from maestro.events import EVENT_TYPES
from maestro.events import Event as EmittedEvent

logger = logging.getLogger("maestro.webhooks")

SUBSCRIPTION_FIELDS = frozenset({"name", "url", "event_types", "payload_format", "is_active"})
MAX_OVERLAP_SECONDS = 7 * 24 * 3600
USER_AGENT = "Maestro-Webhooks/1"


# ---------------------------------------------------------------------------------------------- events
def event_record(event: EmittedEvent) -> Event:
    """Store ``event`` with a pending delivery for each active subscription to its type (in the caller's
    transaction), and send their tasks after it commits."""
    row = Event.objects.create(
        type=event.type,
        payload=event.payload,
        project_id=event.project_id,
        project_scoped=event.project_id is not None,
        created_at=event.occurred_at,
    )
    subscriptions = Subscription.objects.filter(is_active=True, event_types__contains=[event.type]).order_by("id")
    _deliveries_create(row, list(subscriptions.values_list("pk", flat=True)))
    return row


def _deliveries_create(event: Event, subscription_ids: list[int], **fields) -> list[Delivery]:
    now = timezone.now()
    created = Delivery.objects.bulk_create(
        [Delivery(subscription_id=pk, event=event, next_attempt_at=now, **fields) for pk in subscription_ids]
    )
    _send_after_commit([delivery.pk for delivery in created])
    return created


def _send_after_commit(delivery_ids: list[int], countdown: float | None = None) -> None:
    if delivery_ids:
        transaction.on_commit(partial(_send, connection.schema_name, list(delivery_ids), countdown))


def _send(schema: str, delivery_ids: list[int], countdown: float | None) -> None:
    for delivery_id in delivery_ids:
        send_or_defer(deliver, countdown=countdown, schema_name=schema, delivery_id=delivery_id)


# ---------------------------------------------------------------------------------------------- subscriptions
def _allowed_networks():
    return outbound.parse_networks(settings.WEBHOOKS_ALLOWED_NETWORKS)


def _validate(data: dict) -> dict:
    """Check the writable fields; ValidationError naming each bad one (nothing is written)."""
    unknown = sorted(set(data) - SUBSCRIPTION_FIELDS)
    errors: dict[str, str] = {name: "This field cannot be written." for name in unknown}
    if "name" in data:
        name = data["name"]
        if not isinstance(name, str) or not name.strip():
            errors["name"] = "Enter a name."
        elif len(name.strip()) > 100:
            errors["name"] = "At most 100 characters."
        else:
            data["name"] = name.strip()
    if "url" in data:
        try:
            destination = outbound.parse_destination(data["url"])
            outbound.check_literal(destination.host, _allowed_networks())
        except outbound.DestinationRefused as exc:
            errors["url"] = str(exc)
    if "event_types" in data:
        types = data["event_types"]
        if not isinstance(types, (list, tuple)) or not types:
            errors["event_types"] = "Choose at least one event type."
        else:
            bad = [str(t) for t in types if t not in EVENT_TYPES]
            if bad:
                errors["event_types"] = f"Unknown event type(s): {', '.join(bad[:5])}. Known: {', '.join(EVENT_TYPES)}."
            else:
                data["event_types"] = sorted(set(types), key=list(EVENT_TYPES).index)
    if "payload_format" in data and data["payload_format"] not in PayloadFormat.values:
        errors["payload_format"] = f"Expected one of {', '.join(PayloadFormat.values)}."
    if "is_active" in data and not isinstance(data["is_active"], bool):
        errors["is_active"] = "Must be true or false."
    if errors:
        raise ValidationError(errors)
    return data


@dataclass(frozen=True)
class WithSecret:
    """A subscription and its secret, for the one response that shows it."""

    subscription: Subscription
    secret: str


@transaction.atomic
def subscription_create(*, user, data: dict) -> WithSecret:
    """Subscribe ``data["url"]`` to ``data["event_types"]``; returns the new secret (shown once)."""
    data = _validate({"payload_format": PayloadFormat.MAESTRO, "is_active": True, **data})
    missing = [name for name in ("name", "url", "event_types") if name not in data]
    if missing:
        raise ValidationError({name: "This field is required." for name in missing})
    salt, kid = secrets.new_salt()
    subscription = Subscription.objects.create(
        **data, secret_salt=salt, secret_key_id=kid, created_by=user if getattr(user, "pk", None) else None
    )
    return WithSecret(subscription, secrets.current_secret(subscription))


@transaction.atomic
def subscription_update(*, subscription: Subscription, data: dict) -> Subscription:
    data = _validate(dict(data))
    locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
    for name, value in data.items():
        setattr(locked, name, value)
    locked.save()
    return locked


@transaction.atomic
def subscription_delete(*, subscription: Subscription) -> None:
    """Delete the subscription with its delivery log (open deliveries are never sent)."""
    subscription.delete()


@transaction.atomic
def subscription_rotate_secret(*, subscription: Subscription, overlap_seconds: int | None = None) -> WithSecret:
    """A new secret (shown once). The old one keeps signing deliveries, beside the new one, for ``overlap_seconds``
    (default ``WEBHOOKS_SECRET_OVERLAP_SECONDS``; 0 = retire it now), so receivers can switch without a gap."""
    if overlap_seconds is None:
        overlap_seconds = settings.WEBHOOKS_SECRET_OVERLAP_SECONDS
    if isinstance(overlap_seconds, bool) or not isinstance(overlap_seconds, int):
        raise ValidationError({"overlap_seconds": "Must be a whole number of seconds."})
    if not 0 <= overlap_seconds <= MAX_OVERLAP_SECONDS:
        raise ValidationError({"overlap_seconds": f"Must be between 0 and {MAX_OVERLAP_SECONDS} (7 days)."})
    locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
    now = timezone.now()
    salt, kid = secrets.new_salt()
    if overlap_seconds:
        locked.previous_secret_salt, locked.previous_secret_key_id = locked.secret_salt, locked.secret_key_id
        locked.previous_secret_expires_at = now + timedelta(seconds=overlap_seconds)
    else:
        locked.previous_secret_salt, locked.previous_secret_key_id, locked.previous_secret_expires_at = "", "", None
    locked.secret_salt, locked.secret_key_id, locked.secret_rotated_at = salt, kid, now
    locked.save()
    return WithSecret(locked, secrets.current_secret(locked))


def classify_subscription_change(spec, verb: str, changes: dict) -> Classified:
    """Audit action of a subscription change: ``webhook_subscription.secret_rotated`` for a rotation."""
    if verb == "updated" and "secret_salt" in changes:
        return Classified("webhook_subscription.secret_rotated", Category.SECURITY)
    return Classified(f"webhook_subscription.{verb}", Category.SECURITY)


@transaction.atomic
def subscription_ping(*, subscription: Subscription, user) -> Delivery:
    """Send a test event (type ``ping``) to this subscription only; returns its delivery."""
    event = Event.objects.create(
        type=payloads.PING,
        payload={"subscription": subscription.name, "subscription_id": subscription.pk},
    )
    (delivery,) = _deliveries_create(event, [subscription.pk], requested_by=_user_or_none(user))
    return delivery


def _user_or_none(user):
    return user if getattr(user, "pk", None) else None


# ---------------------------------------------------------------------------------------------- deliveries
@transaction.atomic
def delivery_resend(*, delivery: Delivery, user) -> Delivery:
    """Send ``delivery``'s event to its subscription again, as a new delivery with the same idempotency key (a
    receiver that processed it already may ignore it). Audited as ``webhook_delivery.resent``."""
    subscription = Subscription.objects.select_for_update().get(pk=delivery.subscription_id)
    if not subscription.is_active:
        raise ValidationError({"subscription": "The subscription is inactive; activate it before resending."})
    (resent,) = _deliveries_create(
        delivery.event,
        [subscription.pk],
        idempotency_key=delivery.idempotency_key,
        resend_of=delivery,
        requested_by=_user_or_none(user),
    )
    audit_security_event(
        "webhook_delivery.resent",
        object_type="webhooks.delivery",
        object_id=resent.pk,
        object_repr=f"{delivery.event.type} to {subscription.name}",
        extra={"subscription": subscription.pk, "resend_of": delivery.pk, "event": str(delivery.event.uuid)},
    )
    return resent


def backoff_seconds(attempts: int) -> float:
    """Delay before attempt ``attempts + 1``: ``base × 2^(attempts−1)`` capped at the maximum, times a random
    factor in [0.5, 1) so deliveries failing together do not retry together ("equal jitter")."""
    base = settings.WEBHOOKS_RETRY_BASE_SECONDS
    delay = min(base * 2 ** max(attempts - 1, 0), settings.WEBHOOKS_RETRY_MAX_SECONDS)
    return max(delay * random.uniform(0.5, 1.0), 1.0)  # noqa: S311 (jitter, not a secret)


def _lease() -> timedelta:
    return timedelta(seconds=settings.WEBHOOKS_TOTAL_TIMEOUT_SECONDS + 30)


def _claim(delivery_id: int) -> Delivery | None:
    """Take a due, open, unclaimed delivery for one attempt (atomic: of two workers, one gets it)."""
    now = timezone.now()
    claimed = (
        Delivery.objects.filter(
            pk=delivery_id, status__in=OPEN_STATUSES, next_attempt_at__lte=now + timedelta(seconds=2)
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + _lease(), attempts=F("attempts") + 1, last_attempt_at=now)
    )
    if not claimed:
        return None
    return Delivery.objects.select_related("subscription", "event").get(pk=delivery_id)


def _headers(delivery: Delivery, body: bytes, schema: str) -> dict[str, str]:
    timestamp = int(timezone.now().timestamp())
    signing = secrets.signing_secrets(delivery.subscription, schema=schema)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Maestro-Event": delivery.event.type,
        "Maestro-Event-Id": str(delivery.event.uuid),
        "Maestro-Delivery": str(delivery.uuid),
        "Idempotency-Key": str(delivery.idempotency_key),
        "Maestro-Signature": secrets.signature_header(signing, timestamp, body),
    }


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None = None
    excerpt: str = ""
    error: str = ""
    duration_ms: int | None = None


def _post(delivery: Delivery, schema: str) -> Outcome:
    subscription = delivery.subscription
    if not subscription.is_active:
        return Outcome(False, error="The subscription is inactive.")
    body = payloads.body(delivery.event, payload_format=subscription.payload_format, schema=schema)
    try:
        headers = _headers(delivery, body, schema)
        response = outbound.post(
            subscription.url,
            body,
            headers,
            allowed=_allowed_networks(),
            connect_timeout=settings.WEBHOOKS_CONNECT_TIMEOUT_SECONDS,
            read_timeout=settings.WEBHOOKS_READ_TIMEOUT_SECONDS,
            total_timeout=settings.WEBHOOKS_TOTAL_TIMEOUT_SECONDS,
            excerpt_bytes=EXCERPT_CHARS,
        )
    except secrets.SigningKeyMissing as exc:
        return Outcome(False, error=str(exc))
    except outbound.DestinationRefused as exc:
        return Outcome(False, error=f"Refused: {exc}")
    except outbound.SendFailed as exc:
        return Outcome(False, error=f"{exc.kind}: {exc}")
    excerpt = response.excerpt.decode("utf-8", errors="replace")[:EXCERPT_CHARS]
    ok = 200 <= response.status < 300
    error = (
        ""
        if ok
        else f"The receiver answered HTTP {response.status}"
        + (" (redirects are not followed)." if 300 <= response.status < 400 else ".")
    )
    return Outcome(ok, status=response.status, excerpt=excerpt, error=error, duration_ms=response.duration_ms)


def delivery_attempt(*, delivery_id: int) -> Delivery | None:
    """Attempt one delivery if it is due and nobody else is sending it; returns it with the outcome recorded, or
    None when there was nothing to do (already delivered, dead, not due, or claimed by another worker)."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    schema = connection.schema_name
    outcome = _post(delivery, schema)
    now = timezone.now()
    fields = {
        "claimed_until": None,
        "response_status": outcome.status,
        "response_excerpt": outcome.excerpt,
        "error": outcome.error[:500],
        "duration_ms": outcome.duration_ms,
    }
    retry_in = None
    if outcome.ok:
        fields.update(status=DeliveryStatus.SUCCEEDED, delivered_at=now, next_attempt_at=None)
    elif delivery.attempts >= settings.WEBHOOKS_MAX_ATTEMPTS or not delivery.subscription.is_active:
        fields.update(status=DeliveryStatus.DEAD, next_attempt_at=None)
    else:
        retry_in = backoff_seconds(delivery.attempts)
        fields.update(status=DeliveryStatus.RETRYING, next_attempt_at=now + timedelta(seconds=retry_in))
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(**fields)
        if retry_in is not None:
            _send_after_commit([delivery.pk], countdown=retry_in)
    for name, value in fields.items():
        setattr(delivery, name, value)
    logger.info(
        "webhook_delivery_attempted",
        extra={
            "delivery": str(delivery.uuid),
            "event_type": delivery.event.type,
            "attempt": delivery.attempts,
            "status": delivery.status,
            "http_status": outcome.status,
        },
    )
    return delivery


def deliveries_due(*, older_than_seconds: int, limit: int = 1000) -> list[int]:
    """Open deliveries whose attempt was due more than ``older_than_seconds`` ago and that no live worker holds."""
    now = timezone.now()
    return list(
        Delivery.objects.filter(
            status__in=OPEN_STATUSES, next_attempt_at__lte=now - timedelta(seconds=older_than_seconds)
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)[:limit]
    )


# ---------------------------------------------------------------------------------------------- notifications
@transaction.atomic
def notifications_mark_read(*, user, up_to: int | None = None) -> int:
    """Mark the user's notifications read up to event ``up_to`` (default: the newest event); returns the mark. The
    mark never moves back."""
    latest = Event.objects.order_by("-id").values_list("pk", flat=True).first() or 0
    target = latest if up_to is None else min(max(int(up_to), 0), latest)
    cursor, _created = NotificationCursor.objects.select_for_update().get_or_create(user=user)
    if target > cursor.last_read_event_id:
        cursor.last_read_event_id = target
        cursor.save(update_fields=["last_read_event_id", "updated_at"])
    return cursor.last_read_event_id
