"""Reads on identity."""

from django.contrib.auth.models import Group
from django.db.models import Count, QuerySet

from apps.access.selectors import Decision, decide, scope
from apps.accounts.models import ApiToken, User


def token_list(*, user: User) -> QuerySet[ApiToken]:
    """The tokens ``user`` may see: their own (owners and admins: all of the tenant's)."""
    return scope(ApiToken.objects.select_related("user"), user=user, resource="tokens").order_by("-created_at", "-id")


def user_list(*, user: User) -> QuerySet[User]:
    """The tenant's users and service accounts ``user`` may see (everyone but service accounts reads the
    directory), by username."""
    return scope(User.objects.all(), user=user, resource="users").order_by("username", "id")


def group_list(*, user: User) -> QuerySet[Group]:
    """Groups with their member counts, by name (for those who may read the user directory)."""
    if decide(user, "users", "read") is not Decision.ALLOWED:
        return Group.objects.none()
    return Group.objects.annotate(member_count=Count("user")).order_by("name", "id")
