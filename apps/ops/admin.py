"""Platform admin: the history of tenant exports (read-only)."""

from django.contrib import admin

from apps.ops.models import TenantExport
from maestro.admin import platform_admin_site


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
