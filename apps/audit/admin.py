"""The audit trail in the tenant admin: read-only. No add, change or delete, and no bulk actions.

Actor names, client addresses and personal text are shown through the erasable identity and detail tables (see
``apps.audit.models``), so an erased user reads ``erased user #<id>`` here as everywhere else.
"""

from django.contrib import admin

from apps.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = [
        "occurred_at",
        "action",
        "category",
        "object_type",
        "object_id",
        "actor_name",
        "actor_token",
        "source",
        "ip",
    ]
    list_filter = ["category", "source", "actor_type", "action"]
    search_fields = [
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "detail__object_repr",
        "actor__username",
        "actor_token",
        "request_id",
    ]
    date_hierarchy = "occurred_at"
    fields = [
        "occurred_at",
        "category",
        "action",
        "object_type",
        "object_id",
        "object_label",
        "actor_type",
        "actor_name",
        "actor_id",
        "actor_token",
        "source",
        "changes_shown",
        "extra_shown",
        "ip",
        "user_agent",
        "request_id",
    ]
    readonly_fields = fields
    actions = None

    @admin.display(description="actor")
    def actor_name(self, obj):
        return obj.actor_username

    @admin.display(description="object")
    def object_label(self, obj):
        return obj.display_repr

    @admin.display(description="changes")
    def changes_shown(self, obj):
        return obj.display_changes

    @admin.display(description="extra")
    def extra_shown(self, obj):
        return obj.display_extra

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
