from rest_framework.permissions import SAFE_METHODS, BasePermission

from apps.accounts.choices import Role


def is_tenant_admin(user) -> bool:
    """Owners and admins of the tenant (and superusers) administer its settings."""
    return bool(user and user.is_authenticated and (user.is_superuser or user.role in (Role.OWNER, Role.ADMIN)))


class IsTenantAdminOrReadOnly(BasePermission):
    message = "Only the organisation's owners and admins may change this."

    def has_permission(self, request, view):
        return request.method in SAFE_METHODS or is_tenant_admin(request.user)
