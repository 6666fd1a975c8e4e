"""The tenant admin (each tenant's own schema): users and API tokens; and the operators' accounts on the platform
admin (public schema), with Django's own user admin.

The tenant admin site caps every page by the permission matrix (``apps.access.admin_site``); the users' page also
applies the admin area's rules for what amounts to a role (``services.user_privileges_check``), so the Django admin is
no way around ``/manage/``.
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.contrib.auth.forms import UserChangeForm as BaseUserChangeForm
from django.core.exceptions import PermissionDenied, ValidationError

from apps.accounts import services
from apps.accounts.models import ApiToken, User
from apps.tenants.quotas import quota_usage
from maestro.admin import platform_admin_site


class ApiTokenInline(admin.TabularInline):
    model = ApiToken
    extra = 0
    can_delete = False
    fields = ["name", "prefix", "scope", "created_at", "expires_at", "revoked_at", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class UserCreationForm(AdminUserCreationForm):
    """Django's admin creation form for Maestro's user model, refusing a user beyond the plan's limit."""

    class Meta(AdminUserCreationForm.Meta):
        model = User

    def clean(self):
        cleaned = super().clean()
        usage = quota_usage("users")
        if usage is not None and not usage.allows(1):
            self.add_error(
                None,
                ValidationError(f"Plan limit reached: {usage.describe()}. A platform operator can raise max_users."),
            )
        return cleaned


class UserChangeForm(BaseUserChangeForm):
    """Django's user change form, refusing privilege changes the acting user may not make (an error on the form;
    nothing is saved). ``actor`` is set per request by ``UserAdmin.get_form``."""

    actor = None

    class Meta(BaseUserChangeForm.Meta):
        model = User

    def clean(self):
        cleaned = super().clean()
        changes = {name: cleaned.get(name) for name in services.PRIVILEGE_FIELDS if name in self.changed_data}
        try:
            services.user_privileges_check(actor=self.actor, user=self.instance, changes=changes)
        except ValidationError as exc:
            self.add_error(None, exc)
        except PermissionDenied as exc:
            self.add_error(None, str(exc))
        return cleaned


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    list_display = ["username", "email", "role", "is_service_account", "is_active", "is_staff", "last_login"]
    list_filter = ["role", "is_service_account", "is_active", "is_staff"]
    fieldsets = [*BaseUserAdmin.fieldsets, ("Maestro", {"fields": ["role", "is_service_account"]})]
    inlines = [ApiTokenInline]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.actor = request.user  # a class made for this request by modelform_factory
        return form

    def has_change_permission(self, request, obj=None):
        """Owners are changed by owners only — their details, role and password alike."""
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or services.user_changeable_by(request.user, obj))

    def has_delete_permission(self, request, obj=None):
        """Owners are deleted by owners only, and nobody deletes themselves (per object: the bulk action too)."""
        allowed = super().has_delete_permission(request, obj)
        if obj is None:
            return allowed
        return allowed and obj.pk != request.user.pk and services.user_changeable_by(request.user, obj)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created through the API or `create_token` (the plaintext is shown once); here they can be
    inspected and revoked. The stored hash is never displayed."""

    list_display = ["name", "prefix", "user", "scope", "created_at", "expires_at", "revoked_at", "last_used_at"]
    list_filter = ["scope", "revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    fields = ["user", "name", "prefix", "scope", "created_at", "expires_at", "revoked_at", "last_used_at"]
    readonly_fields = ["user", "name", "prefix", "scope", "created_at", "last_used_at"]
    list_select_related = ["user"]

    def has_add_permission(self, request):
        return False


platform_admin_site.register(User, BaseUserAdmin)
