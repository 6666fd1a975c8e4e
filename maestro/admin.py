"""Admin pieces shared by apps. ``maestro`` is not an installed app: nothing here registers a model.

``ReadOnlyAdmin`` is for rows that only services write (so that every change is validated and audited): the admin may
look but not add, change or delete. ``platform_admin_site`` is the operators' admin on the platform host (public
schema); the ops and accounts apps register their models on it, ``maestro/urls_public.py`` serves it.
"""

from django.contrib import admin

from maestro.passwords import LockoutAwareAdminSiteMixin


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PlatformAdminSite(LockoutAwareAdminSiteMixin, admin.AdminSite):
    """Operators' old-password guesses on "change password" count towards the login lockout, as at login."""

    site_header = "Maestro platform"
    site_title = "Maestro platform"
    index_title = "Tenants and operators"


platform_admin_site = PlatformAdminSite(name="platform_admin")
