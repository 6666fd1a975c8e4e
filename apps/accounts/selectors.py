"""Reads on identity."""

from django.db.models import QuerySet

from apps.accounts.models import ApiToken, User


def token_list(*, user: User) -> QuerySet[ApiToken]:
    """The tokens ``user`` may see: their own."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-id")
