"""The audit trail in the tenant admin: read-only. No add, change or delete, and no bulk actions."""

from django.contrib import admin

from apps.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["occurred_at", "action", "category", "object_type", "object_id", "actor_username", "actor_token",
                    "source", "ip"]  # fmt: skip
    list_filter = ["category", "source", "actor_type", "action"]
    search_fields = ["action", "object_type", "object_id", "object_repr", "actor_username", "actor_token", "request_id"]
    date_hierarchy = "occurred_at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]
    actions = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
