"""The tenant's Django admin (``/admin/`` on a tenant host), governed by the permission matrix.

Django's admin decides by its own model permissions (``is_staff``, ``is_superuser``, ``user_permissions``), which know
nothing of tenant roles: a staff lead with ``change_user`` could make themselves owner there, and a superuser of any
role could browse private projects. Here every ModelAdmin registered on the site — Maestro's, Django's (groups) and
django-axes' — is capped by the matrix: it may view, add, change or delete only what the matrix allows the user's
role on *every* object of its resource (``all`` cells; the admin cannot narrow lists per object), and only for models
``policy.resource_of_model`` assigns a resource (others are refused). Django's own permissions still apply on top, so
they can narrow the admin but never widen it past the role. Inlines are capped the same way.

The users' page adds the rules of the admin area (``/manage/``) for what amounts to a role — see
``apps.accounts.services.user_privileges_check``, which the user form calls.

The cap is applied where ModelAdmins are registered (``register``), so an admin added later is covered without
doing anything; its model needs a resource in the matrix, or the route test fails and the admin refuses it.
"""

from __future__ import annotations

from functools import cache

from django.contrib import admin

from apps.access import policy
from maestro.passwords import LockoutAwareAdminSiteMixin


def admin_allows(user, model, action: str) -> bool:
    """Whether the matrix lets ``user`` ``action`` every object of ``model``'s resource (what an admin page needs)."""
    resource = policy.resource_of_model(model._meta.label)
    return resource is not None and policy.cell(user, resource, action) == policy.ALL


ADMIN_ACTIONS = {"view": policy.READ, "add": policy.CREATE, "change": policy.UPDATE, "delete": policy.DELETE}


class MatrixCappedMixin:
    """ModelAdmin / InlineModelAdmin permissions: Django's, and only as far as the matrix allows.

    A ModelAdmin whose admin action means another matrix action than its name says maps it in ``access_actions``
    (as API views do), e.g. ``{"add": "change"}`` for a settings row whose first save sets the settings.
    """

    matrix_capped = True

    def _matrix_allows(self, request, kind: str) -> bool:
        action = getattr(self, "access_actions", {}).get(kind, ADMIN_ACTIONS[kind])  # the admin class's, if any
        return admin_allows(request.user, self.model, action)

    def has_module_permission(self, request):
        return self._matrix_allows(request, "view") and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return self._matrix_allows(request, "view") and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args, **kwargs):
        return self._matrix_allows(request, "add") and super().has_add_permission(request, *args, **kwargs)

    def has_change_permission(self, request, obj=None):
        return self._matrix_allows(request, "change") and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._matrix_allows(request, "delete") and super().has_delete_permission(request, obj)

    def get_inlines(self, request, obj):
        return [capped(inline) for inline in super().get_inlines(request, obj)]


@cache
def capped(admin_class: type) -> type:
    """``admin_class`` with the matrix cap (same name and module, so the admin looks the same)."""
    if issubclass(admin_class, MatrixCappedMixin):
        return admin_class
    namespace = {"__module__": admin_class.__module__, "__qualname__": admin_class.__qualname__}
    return type(admin_class.__name__, (MatrixCappedMixin, admin_class), namespace)


class TenantAdminSite(LockoutAwareAdminSiteMixin, admin.AdminSite):
    """The default admin site (``admin.site``) of a tenant: every registered ModelAdmin is matrix-capped."""

    def register(self, model_or_iterable, admin_class=None, **options):
        return super().register(model_or_iterable, capped(admin_class or admin.ModelAdmin), **options)
