"""The tenant admin (each tenant's own schema): users and API tokens."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.core.exceptions import ValidationError

from apps.accounts.models import ApiToken, User


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
        from apps.tenants.quotas import quota_usage

        cleaned = super().clean()
        usage = quota_usage("users")
        if usage is not None and not usage.allows(1):
            self.add_error(
                None,
                ValidationError(f"Plan limit reached: {usage.describe()}. A platform operator can raise max_users."),
            )
        return cleaned


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    add_form = UserCreationForm
    list_display = ["username", "email", "role", "is_service_account", "is_active", "is_staff", "last_login"]
    list_filter = ["role", "is_service_account", "is_active", "is_staff"]
    fieldsets = [*BaseUserAdmin.fieldsets, ("Maestro", {"fields": ["role", "is_service_account"]})]
    inlines = [ApiTokenInline]


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
