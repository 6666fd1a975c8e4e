"""Tenant admin for integrations. Integrations are created through the API (the secret is shown once there); here
they can be inspected, renamed, deactivated and re-processed. Nothing secret is stored, so nothing is displayed."""

from django.contrib import admin, messages

from apps.integrations import services
from apps.integrations.models import CiRun, Commit, Integration, PullRequest, Review, WebhookDelivery


class ReadOnlyAdmin(admin.ModelAdmin):
    """Normalised rows and deliveries are written only by webhooks and re-processing."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = ["name", "provider", "project", "is_active", "webhook_id", "created_at", "last_delivery_at"]
    list_filter = ["provider", "is_active"]
    search_fields = ["name", "webhook_id", "project__name"]
    list_select_related = ["project"]
    fields = [
        "project",
        "provider",
        "name",
        "is_active",
        "webhook_id",
        "created_by",
        "created_at",
        "last_delivery_at",
        "secret_rotated_at",
    ]
    readonly_fields = [
        "project",
        "provider",
        "webhook_id",
        "created_by",
        "created_at",
        "last_delivery_at",
        "secret_rotated_at",
    ]
    actions = ["reprocess"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Re-process stored deliveries (rebuild commits, pull requests, CI runs)")
    def reprocess(self, request, queryset):
        for integration in queryset.order_by("id"):
            result = services.integration_reprocess(integration=integration)
            self.message_user(
                request,
                f"{integration}: {result.processed} processed, {result.ignored} ignored, {result.failed} failed.",
                messages.SUCCESS if not result.failed else messages.WARNING,
            )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["delivery_id", "integration", "event", "action", "status", "body_size", "received_at"]
    list_filter = ["status", "event", "integration__provider"]
    search_fields = ["delivery_id", "event", "integration__name"]
    list_select_related = ["integration"]
    date_hierarchy = "received_at"


@admin.register(Commit)
class CommitAdmin(ReadOnlyAdmin):
    list_display = ["sha", "author_name", "author_key", "authored_at", "is_merge", "is_revert", "is_fixup", "project"]
    list_filter = ["is_merge", "is_revert", "is_fixup", "integration__provider"]
    search_fields = ["sha", "author_key", "author_name", "message"]
    list_select_related = ["project"]


class ReviewInline(admin.TabularInline):
    model = Review
    extra = 0
    can_delete = False
    fields = ["reviewer_login", "reviewer_external_id", "state", "submitted_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PullRequest)
class PullRequestAdmin(ReadOnlyAdmin):
    list_display = ["number", "title", "state", "author_login", "opened_at", "first_review_at", "merged_at", "project"]
    list_filter = ["state", "integration__provider"]
    search_fields = ["title", "author_login", "number"]
    list_select_related = ["project"]
    inlines = [ReviewInline]


@admin.register(CiRun)
class CiRunAdmin(ReadOnlyAdmin):
    list_display = ["run_key", "attempt", "name", "outcome", "branch", "finished_at", "duration_seconds", "project"]
    list_filter = ["outcome", "integration__provider"]
    search_fields = ["run_key", "name", "branch", "commit_sha"]
    list_select_related = ["project"]
