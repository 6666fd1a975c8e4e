"""The notification bell of the top bar: a link to the user's notifications with the unread count."""

from __future__ import annotations

from django import template

from apps.webhooks.selectors import UNREAD_CAP, notification_unread_count

register = template.Library()


@register.inclusion_tag("webhooks/_bell.html", takes_context=True)
def notification_bell(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    unread = notification_unread_count(user=user) if user is not None and user.is_authenticated else 0
    return {"unread": unread, "label": f"{UNREAD_CAP}+" if unread > UNREAD_CAP else str(unread)}
