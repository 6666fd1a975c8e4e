"""Tenant admin for the artifact library. usage_count and impact_score are shown, never editable; versions are
uploaded through the API (files are hashed while streaming); deletes go through the services (refused while used)."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count

from apps.artifacts import services
from apps.artifacts.models import Artifact, ArtifactBlob, ArtifactUsage, ArtifactVersion


class ArtifactVersionInline(admin.TabularInline):
    model = ArtifactVersion
    extra = 0
    fields = ["version", "filename", "content_type", "blob", "created_by", "created_at"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


class DeleteUnusedThroughServiceMixin:
    """Deletes go through the admin class's ``delete_through_service(obj)`` (each admin using the mixin defines it
    with its service); an object some project uses cannot be deleted (the admin hides the button, and a bulk delete
    reports each refusal)."""

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or not obj.usages.exists())

    def delete_model(self, request, obj):
        self.delete_through_service(obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            try:
                self.delete_through_service(obj)
            except ValidationError as exc:
                messages.error(request, f"{obj}: {' '.join(exc.messages)}")


@admin.register(Artifact)
class ArtifactAdmin(DeleteUnusedThroughServiceMixin, admin.ModelAdmin):
    list_display = ["name", "type", "is_active", "usage_count", "impact_score", "owner", "created_at"]
    list_filter = ["type", "is_active", "created_at"]
    search_fields = ["name", "description"]
    list_select_related = ["owner"]
    autocomplete_fields = ["owner"]
    fields = [
        "name",
        "type",
        "description",
        "tags",
        "owner",
        "is_active",
        "usage_count",
        "impact_score",
        "impact_updated_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = ["usage_count", "impact_score", "impact_updated_at", "created_at", "updated_at"]
    inlines = [ArtifactVersionInline]

    def save_model(self, request, obj, form, change):
        data = {field: form.cleaned_data[field] for field in form.changed_data if field in services.ARTIFACT_FIELDS}
        if change:
            saved = services.artifact_update(artifact=obj, data=data)
        else:
            saved = services.artifact_create(user=request.user, data={"owner": None, **data})
        obj.pk = saved.pk
        obj.refresh_from_db()

    def delete_through_service(self, obj) -> None:
        services.artifact_delete(artifact=obj)


@admin.register(ArtifactVersion)
class ArtifactVersionAdmin(DeleteUnusedThroughServiceMixin, admin.ModelAdmin):
    list_display = ["__str__", "artifact", "version", "filename", "blob", "created_by", "created_at"]
    list_filter = ["artifact__type", "created_at"]
    search_fields = ["artifact__name", "version", "changelog", "blob__sha256"]
    list_select_related = ["artifact", "blob", "created_by"]
    fields = [
        "artifact",
        "version",
        "major",
        "minor",
        "patch",
        "prerelease",
        "changelog",
        "filename",
        "content_type",
        "blob",
        "created_by",
        "created_at",
    ]
    readonly_fields = [field for field in fields if field != "changelog"]

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        services.artifact_version_update(version=obj, changelog=form.cleaned_data["changelog"])

    def delete_through_service(self, obj) -> None:
        services.artifact_version_delete(version=obj)


@admin.register(ArtifactUsage)
class ArtifactUsageAdmin(admin.ModelAdmin):
    list_display = ["project", "artifact", "artifact_version", "used_by", "used_at"]
    list_filter = ["artifact__type", "used_at"]
    search_fields = ["project__name", "artifact__name", "context"]
    list_select_related = ["project", "artifact", "artifact_version", "used_by"]
    fields = ["project", "artifact", "artifact_version", "used_by", "used_at", "context"]
    readonly_fields = ["project", "artifact", "artifact_version", "used_by", "used_at"]
    date_hierarchy = "used_at"

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        services.artifact_usage_update(usage=obj, context=form.cleaned_data["context"])

    def delete_model(self, request, obj):
        services.artifact_usage_delete(usage=obj)

    def delete_queryset(self, request, queryset):
        for usage in queryset:
            services.artifact_usage_delete(usage=usage)


@admin.register(ArtifactBlob)
class ArtifactBlobAdmin(admin.ModelAdmin):
    """Stored contents (read-only): removed automatically when no version references them any more."""

    list_display = ["sha256", "size", "version_count", "created_at"]
    search_fields = ["sha256"]
    fields = ["sha256", "size", "file", "created_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(version_count=Count("versions"))

    @admin.display(ordering="version_count", description="versions")
    def version_count(self, obj):
        return obj.version_count

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
