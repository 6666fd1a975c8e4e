"""Dashboard pages: the tenant's webhook subscriptions with their delivery log (under /manage/, owners and admins),
and each user's notifications (the bell)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from apps.access.declarations import access
from apps.access.policy import CREATE, DELETE, READ, UPDATE
from apps.webhooks import payloads, selectors, services
from apps.webhooks.forms import SubscriptionForm
from apps.webhooks.models import Delivery, Subscription
from maestro.events import EVENT_TYPES
from maestro.ui.forms import call_service
from maestro.ui.listing import page_of


def _subscription(request, pk: int) -> Subscription:
    try:
        return selectors.subscription_get(user=request.user, pk=pk)
    except Subscription.DoesNotExist:
        raise Http404("No such webhook.") from None


def _initial(subscription: Subscription) -> dict:
    return {
        "name": subscription.name,
        "url": subscription.url,
        "event_types": subscription.event_types,
        "payload_format": subscription.payload_format,
        "is_active": subscription.is_active,
    }


@access("webhooks", get=READ, post=CREATE)
@never_cache
@login_required
def manage_webhooks(request):
    """The tenant's subscriptions, and a form for a new one (its secret is shown once, on this response)."""
    form = SubscriptionForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        created = call_service(form, services.subscription_create, user=request.user, data=dict(form.cleaned_data))
        if created is not None:
            form = SubscriptionForm()
    context = {
        "form": form,
        "created": created,
        "subscriptions": selectors.subscription_list(user=request.user),
        "event_types": EVENT_TYPES,
        "section": "webhooks",
    }
    return render(request, "webhooks/manage_list.html", context, status=400 if form.errors else 200)


def _detail(request, subscription: Subscription, *, form=None, secret: str | None = None, status: int = 200):
    deliveries = selectors.delivery_list(user=request.user, subscription=subscription).select_related("requested_by")
    context = {
        "subscription": subscription,
        "form": form or SubscriptionForm(initial=_initial(subscription)),
        "secret": secret,
        "page": page_of(request, deliveries, per_page=25),
        "section": "webhooks",
    }
    return render(request, "webhooks/manage_detail.html", context, status=status)


@access("webhooks", get=READ, post=UPDATE)
@never_cache
@login_required
def manage_webhook(request, pk: int):
    """One subscription: its settings (editable) and its delivery log, newest first, with "resend"."""
    subscription = _subscription(request, pk)
    if request.method != "POST":
        return _detail(request, subscription)
    form = SubscriptionForm(request.POST)
    if form.is_valid():
        updated = call_service(form, services.subscription_update, subscription=subscription, data=form.cleaned_data)
        if updated is not None:
            messages.success(request, f"Webhook “{updated.name}” saved.")
            return redirect("webhooks:manage-detail", pk=updated.pk)
    return _detail(request, subscription, form=form, status=400)


@access("webhooks", post=UPDATE)
@never_cache
@login_required
def manage_webhook_rotate(request, pk: int):
    """A new signing secret (shown once on this response); the old one still signs for the default overlap."""
    rotated = services.subscription_rotate_secret(subscription=_subscription(request, pk))
    return _detail(request, rotated.subscription, secret=rotated.secret)


@access("webhooks", post=UPDATE)
@login_required
def manage_webhook_ping(request, pk: int):
    subscription = _subscription(request, pk)
    services.subscription_ping(subscription=subscription, user=request.user)
    messages.success(request, "Test delivery queued; it appears in the log below.")
    return redirect("webhooks:manage-detail", pk=subscription.pk)


@access("webhooks", post=DELETE)
@login_required
def manage_webhook_delete(request, pk: int):
    subscription = _subscription(request, pk)
    services.subscription_delete(subscription=subscription)
    messages.success(request, f"Webhook “{subscription.name}” deleted with its delivery log.")
    return redirect("webhooks:manage")


@access("webhooks", post=UPDATE)
@login_required
def manage_webhook_resend(request, pk: int, delivery_pk: int):
    subscription = _subscription(request, pk)
    try:
        delivery = selectors.delivery_get(user=request.user, subscription=subscription, pk=delivery_pk)
    except Delivery.DoesNotExist:
        raise Http404("No such delivery.") from None
    try:
        services.delivery_resend(delivery=delivery, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{delivery.event.type} queued again (same idempotency key).")
    return redirect("webhooks:manage-detail", pk=subscription.pk)


@access("notifications", get=READ, post=UPDATE)
@never_cache
@login_required
def notifications(request):
    """The user's notifications, newest first; POST marks them all read."""
    if request.method == "POST":
        services.notifications_mark_read(user=request.user, up_to=_int(request.POST.get("up_to")))
        return redirect("webhooks:notifications")
    mark = selectors.notification_read_mark(user=request.user)
    page = page_of(request, selectors.notification_list(user=request.user), per_page=30)
    items = [
        {"event": event, "summary": payloads.summary(event.type, event.payload), "unread": event.pk > mark}
        for event in page.object_list
    ]
    newest = page.object_list[0].pk if page.number == 1 and page.object_list else None
    return render(request, "webhooks/notifications.html", {"page": page, "items": items, "newest": newest})


def _int(value) -> int | None:
    return int(value) if isinstance(value, str) and value.isdecimal() and len(value) < 19 else None
