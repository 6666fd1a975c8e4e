"""Read-only admin views of the MLflow state of projects (changes go through the MLflow API, which audits them)."""

from django.contrib import admin

from apps.mlflow_api.models import Experiment, ExperimentTag
from apps.recommendations.admin import ReadOnlyAdmin


@admin.register(Experiment)
class ExperimentAdmin(ReadOnlyAdmin):
    list_display = ["project", "lifecycle_stage", "is_default", "artifact_location", "updated_at"]
    list_filter = ["lifecycle_stage", "is_default"]
    search_fields = ["project__name", "artifact_location"]
    list_select_related = ["project"]


@admin.register(ExperimentTag)
class ExperimentTagAdmin(ReadOnlyAdmin):
    list_display = ["project", "key", "value"]
    search_fields = ["key", "value", "project__name"]
    list_select_related = ["project"]
