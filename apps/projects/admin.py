"""Tenant admin for projects, teams and scoring settings. Writes go through the services, so the admin obeys the
same rules as the API (slug generation, completion scoring, usage counts on delete)."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from apps.artifacts.models import ArtifactUsage
from apps.projects import services
from apps.projects.models import Project, ScoringSettings, TeamMember


class TeamMemberInline(admin.TabularInline):
    model = TeamMember
    extra = 0
    fields = [
        "display_name",
        "user",
        "role",
        "experience_level",
        "years_experience",
        "contribution_hours",
        "performance_score",
    ]
    autocomplete_fields = ["user"]


class ArtifactUsageInline(admin.TabularInline):
    """Read-only here: usages are recorded through the API so the artifacts' usage counts stay exact."""

    model = ArtifactUsage
    extra = 0
    fields = ["artifact", "artifact_version", "used_by", "used_at", "context"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class ProjectAdminForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = sorted(services.PROJECT_FIELDS)

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        data = {field: cleaned[field] for field in self.changed_data if field in cleaned}
        try:
            services.project_prepare(
                project=Project.objects.get(pk=self.instance.pk) if self.instance.pk else None, data=data
            )
        except ValidationError as exc:
            raise ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages) from None
        return cleaned


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    form = ProjectAdminForm
    list_display = [
        "name",
        "slug",
        "status",
        "problem_class",
        "owner",
        "complexity_score",
        "success_score",
        "start_date",
        "created_at",
    ]
    list_filter = ["status", "problem_class", "visibility", "success_score_source", "created_at"]
    search_fields = ["name", "slug", "spec"]
    list_select_related = ["owner"]
    autocomplete_fields = ["owner"]
    readonly_fields = ["success_score_source", "created_at", "updated_at"]
    date_hierarchy = "created_at"
    inlines = [TeamMemberInline, ArtifactUsageInline]
    fieldsets = [
        (
            None,
            {"fields": ["name", "slug", "status", "problem_class", "complexity_score", "visibility", "owner", "tags"]},
        ),
        ("Plan", {"fields": ["spec", "start_date", "target_end_date", "completion_date"]}),
        (
            "Outcome",
            {
                "fields": [
                    "model_performance",
                    "business_impact",
                    "compute_cost",
                    "success_score",
                    "success_score_source",
                ]
            },
        ),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.base_fields["slug"].required = False
        form.base_fields["slug"].help_text = "Generated from the name when left empty."
        return form

    def save_model(self, request, obj, form, change):
        data = {field: form.cleaned_data[field] for field in form.changed_data if field in services.PROJECT_FIELDS}
        if change:
            saved = services.project_update(project=obj, user=request.user, data=data)
        else:
            saved = services.project_create(user=request.user, data={"owner": None, **data})
        obj.pk = saved.pk
        obj.refresh_from_db()

    def save_formset(self, request, form, formset, change):
        if formset.model is not TeamMember:
            return super().save_formset(request, form, formset, change)
        members = formset.save(commit=False)
        for member in formset.deleted_objects:
            services.team_member_delete(member=member)
        for member in members:
            data = {field: getattr(member, field) for field in services.TEAM_MEMBER_FIELDS}
            if member.pk:
                services.team_member_update(member=member, data=data)
            else:
                services.team_member_create(project=form.instance, data=data)
        return None

    def delete_model(self, request, obj):
        services.project_delete(project=obj, user=request.user)

    def delete_queryset(self, request, queryset):
        for project in queryset:
            services.project_delete(project=project, user=request.user)


@admin.register(TeamMember)
class TeamMemberAdmin(admin.ModelAdmin):
    list_display = ["display_name", "project", "role", "experience_level", "years_experience", "performance_score"]
    list_filter = ["role", "experience_level"]
    search_fields = ["display_name", "user__username", "project__name"]
    list_select_related = ["project", "user"]
    autocomplete_fields = ["project", "user"]


@admin.register(ScoringSettings)
class ScoringSettingsAdmin(admin.ModelAdmin):
    """The single row of success_score weights (see the model's docstring for the formula)."""

    list_display = [
        "__str__",
        "w_model_performance",
        "w_business_impact",
        "w_cost_efficiency",
        "cost_reference",
        "min_components",
        "updated_at",
    ]
    fields = [
        "w_model_performance",
        "w_business_impact",
        "w_cost_efficiency",
        "cost_reference",
        "min_components",
        "cost_unit",
    ]
    access_actions = {"add": "change"}  # saving the single row the first time sets the tenant's settings

    def has_add_permission(self, request):
        return not ScoringSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        saved = services.scoring_settings_update(
            user=request.user, data={field: form.cleaned_data[field] for field in self.fields}
        )
        obj.pk = saved.pk
        obj.refresh_from_db()
