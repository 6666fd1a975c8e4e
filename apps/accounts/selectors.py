"""Reads on identity."""

from django.db.models import QuerySet

from apps.access.selectors import scope
from apps.accounts.models import ApiToken, User


def token_list(*, user: User) -> QuerySet[ApiToken]:
    """The tokens ``user`` may see: their own (owners and admins: all of the tenant's)."""
    return scope(ApiToken.objects.select_related("user"), user=user, resource="tokens").order_by("-created_at", "-id")
