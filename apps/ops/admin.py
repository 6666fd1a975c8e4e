"""The platform admin (public schema, served on the platform host): operators create, suspend, export and delete
tenants, and see the history of tenant exports.

The Tenant admin lives here rather than in ``apps/tenants``: adding a tenant provisions it with its first owner (the
accounts app), and its actions export and delete tenants (this app's services and tasks). The tenants app is the base
layer and imports none of them.
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from apps.ops.models import TenantExport
from apps.ops.services import tenant_delete, tenant_provision
from apps.ops.tasks import export_tenant
from apps.tenants.models import Domain, Tenant
from apps.tenants.quotas import quota_usage_all
from apps.tenants.services import tenant_set_active, tenant_validate_domain, tenant_validate_slug
from maestro.admin import platform_admin_site


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


class TenantCreationForm(forms.ModelForm):
    """Adding a tenant provisions it fully: schema, primary domain and a first admin with a generated password."""

    domain = forms.CharField(required=False, help_text="Host name; default <slug>.localhost")
    admin_email = forms.EmailField()

    class Meta:
        model = Tenant
        fields = ["name", "schema_name"]
        labels = {"schema_name": "Slug"}

    def validate_unique(self):
        """Uniqueness is one of the provisioning rules checked in clean()."""

    def clean(self):
        data = super().clean()
        slug = data.get("schema_name") or ""
        domain = data.get("domain") or f"{slug}.{settings.MAESTRO_TENANT_DOMAIN_SUFFIX}"
        for field, check, value in (
            ("schema_name", tenant_validate_slug, slug),
            ("domain", tenant_validate_domain, domain),
        ):
            try:
                check(value)
            except ValidationError as exc:
                for messages_ in exc.message_dict.values():
                    self.add_error(field, messages_)
        return data


@admin.register(Tenant, site=platform_admin_site)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["schema_name", "name", "is_active", "primary_domain", "created_at", "max_users", "max_projects"]
    list_filter = ["is_active"]
    search_fields = ["schema_name", "name", "domains__domain"]
    readonly_fields = ["schema_name", "created_at", "plan_usage"]
    inlines = [DomainInline]
    actions = ["suspend", "reactivate", "export", "delete_after_export"]

    @admin.display(description="Usage of the plan limits")
    def plan_usage(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        return "; ".join(usage.describe() for usage in quota_usage_all(tenant=obj))

    @admin.display(description="Primary domain")
    def primary_domain(self, obj):
        domain = obj.get_primary_domain()
        return domain.domain if domain else "—"

    def get_queryset(self, request):
        return super().get_queryset(request).exclude(schema_name="public").prefetch_related("domains")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = TenantCreationForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def get_inlines(self, request, obj):
        return [] if obj is None else self.inlines

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["name", "schema_name", "domain", "admin_email"]})]
        return super().get_fieldsets(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        data = form.cleaned_data
        result = tenant_provision(
            slug=data["schema_name"],
            name=data["name"],
            domain=data.get("domain") or None,
            admin_email=data["admin_email"],
        )
        form.instance = result.tenant
        obj.pk = result.tenant.pk
        messages.success(
            request,
            f"Tenant ready at {result.url} — admin '{result.admin_username}', password {result.password} (shown once).",
        )

    def delete_model(self, request, obj):
        messages.error(request, "Tenants are deleted with `manage.py drop_tenant` after an export.")

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Suspend selected tenants")
    def suspend(self, request, queryset):
        for tenant in queryset:
            tenant_set_active(tenant=tenant, active=False, reason=f"suspended by {request.user}")
        self.message_user(request, f"Suspended {queryset.count()} tenant(s).")

    @admin.action(description="Reactivate selected tenants")
    def reactivate(self, request, queryset):
        for tenant in queryset:
            tenant_set_active(tenant=tenant, active=True)
        self.message_user(request, f"Reactivated {queryset.count()} tenant(s).")

    @admin.action(description="Export selected tenants (background task; see Tenant exports)")
    def export(self, request, queryset):
        schemas = [tenant.schema_name for tenant in queryset]
        for schema in schemas:
            export_tenant.delay(schema_name=schema, created_by=f"admin:{request.user.pk}")
        self.message_user(request, f"Export queued for {', '.join(schemas)}; archives go to TENANT_EXPORT_DIR.")

    @admin.action(description="Delete selected tenants (requires an export from the last day)")
    def delete_after_export(self, request, queryset):
        for tenant in list(queryset):
            try:
                result = tenant_delete(tenant=tenant, force=False)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), level=messages.ERROR)
            else:
                self.message_user(request, f"Deleted tenant '{result.schema_name}' (export {result.export.path}).")


@admin.register(TenantExport, site=platform_admin_site)
class TenantExportAdmin(admin.ModelAdmin):
    list_display = [
        "schema_name",
        "created_at",
        "path",
        "size",
        "row_count",
        "file_count",
        "with_secrets",
        "created_by",
    ]
    list_filter = ["with_secrets"]
    search_fields = ["schema_name", "path"]
    readonly_fields = [f.name for f in TenantExport._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
