"""Read-only admin views of the MLflow state of projects, logged models, datasets and the model registry (changes go
through the MLflow API, which checks permissions and audits them)."""

from django.contrib import admin

from apps.mlflow_api.models import (
    Dataset,
    Experiment,
    ExperimentTag,
    LoggedModel,
    LoggedModelParam,
    LoggedModelTag,
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelAlias,
    RegisteredModelTag,
)
from maestro.admin import ReadOnlyAdmin


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


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class LoggedModelTagInline(_ReadOnlyInline):
    model = LoggedModelTag
    fields = readonly_fields = ["key", "value"]


class LoggedModelParamInline(_ReadOnlyInline):
    model = LoggedModelParam
    fields = readonly_fields = ["key", "value"]


@admin.register(LoggedModel)
class LoggedModelAdmin(ReadOnlyAdmin):
    list_display = ["model_id", "name", "project", "status", "lifecycle_stage", "source_run", "created_at"]
    list_filter = ["status", "lifecycle_stage"]
    search_fields = ["model_id", "name", "project__name"]
    list_select_related = ["project", "source_run"]
    inlines = [LoggedModelTagInline, LoggedModelParamInline]


@admin.register(Dataset)
class DatasetAdmin(ReadOnlyAdmin):
    list_display = ["name", "digest", "project", "source_type", "created_at"]
    search_fields = ["name", "digest", "project__name"]
    list_select_related = ["project"]


class RegisteredModelTagInline(_ReadOnlyInline):
    model = RegisteredModelTag
    fields = readonly_fields = ["key", "value"]


class RegisteredModelAliasInline(_ReadOnlyInline):
    model = RegisteredModelAlias
    fields = readonly_fields = ["alias", "version"]


@admin.register(RegisteredModel)
class RegisteredModelAdmin(ReadOnlyAdmin):
    """A registered model is an artifact of the library: its name, description and owner are the artifact's."""

    list_display = ["name", "owner", "last_version", "updated_at"]
    search_fields = ["artifact__name", "artifact__description"]
    list_select_related = ["artifact", "artifact__owner"]
    inlines = [RegisteredModelTagInline, RegisteredModelAliasInline]

    @admin.display(ordering="artifact__name")
    def name(self, obj):
        return obj.artifact.name

    @admin.display(ordering="artifact__owner")
    def owner(self, obj):
        return obj.artifact.owner


class ModelVersionTagInline(_ReadOnlyInline):
    model = ModelVersionTag
    fields = readonly_fields = ["key", "value"]


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ["registered_model_name", "version", "stage", "source", "run", "logged_model", "created_at"]
    list_filter = ["stage"]
    search_fields = ["registered_model__artifact__name", "source", "logged_model__model_id"]
    list_select_related = ["registered_model__artifact", "run", "logged_model"]
    inlines = [ModelVersionTagInline]

    @admin.display(ordering="registered_model__artifact__name", description="registered model")
    def registered_model_name(self, obj):
        return obj.registered_model.artifact.name
