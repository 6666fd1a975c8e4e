"""Read-only admin views of the engine's state (changes go through the API and services, which audit them)."""

from django.contrib import admin

from apps.recommendations.models import ArtifactImpact, ModelEvent, Prediction, SuccessModel, TrainingRun
from maestro.admin import ReadOnlyAdmin


class ModelEventInline(admin.TabularInline):
    model = ModelEvent
    fk_name = "model"
    fields = ["created_at", "action", "actor", "previous_active", "reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SuccessModel)
class SuccessModelAdmin(ReadOnlyAdmin):
    list_display = ["version", "status", "trained_at", "n_samples", "cv_mae", "training_seconds", "promoted_at"]
    list_filter = ["status"]
    exclude = ["booster"]
    inlines = [ModelEventInline]


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "status", "reason", "created_at", "started_at", "duration_seconds", "model"]
    list_filter = ["kind", "status", "reason"]
    search_fields = ["detail", "error", "dispatch_error"]


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyAdmin):
    list_display = ["id", "status", "project", "model_version", "predicted_success", "actual_success", "created_at"]
    list_filter = ["status", "model_version"]
    raw_id_fields = ["project"]


@admin.register(ArtifactImpact)
class ArtifactImpactAdmin(ReadOnlyAdmin):
    list_display = ["artifact", "status", "impact", "ci_low", "ci_high", "observed_lift", "n_projects", "computed_at"]
    list_filter = ["status"]
    search_fields = ["artifact__name"]
