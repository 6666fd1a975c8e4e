from rest_framework import serializers

from apps.accounts.models import User
from apps.artifacts.selectors import ARTIFACT_USAGE_ROW
from apps.artifacts.serializers import ArtifactUsageSerializer
from apps.projects.models import Project, ProjectAttribute, ScoringSettings, TeamMember
from apps.projects.selectors import TEAM_MEMBER_ROW
from maestro.api.representation import as_decimal, as_float, iso_date, iso_datetime, resolve_row


class TeamMemberSerializer(serializers.ModelSerializer):
    display_name = serializers.CharField(
        max_length=150, required=False, allow_blank=True, help_text="Defaults to the linked user's name."
    )
    user = serializers.PrimaryKeyRelatedField(queryset=User.objects.all(), required=False, allow_null=True)
    username = serializers.CharField(source="user.username", read_only=True, allow_null=True)

    class Meta:
        model = TeamMember
        fields = [
            "id",
            "project",
            "user",
            "username",
            "display_name",
            "role",
            "experience_level",
            "years_experience",
            "contribution_hours",
            "performance_score",
        ]
        read_only_fields = ["id", "project"]

    def to_representation(self, member: TeamMember) -> dict:
        return self.format_row(resolve_row(member, TEAM_MEMBER_ROW))

    @staticmethod
    def format_row(row: dict) -> dict:
        """A TEAM_MEMBER_ROW dict (from an instance or PostgreSQL's JSON) formatted exactly as the declared fields."""
        out = {key: row[key] for key in TEAM_MEMBER_ROW}  # jsonb does not keep the key order
        for key in ("years_experience", "contribution_hours", "performance_score"):
            out[key] = as_float(out[key])
        return out


class ProjectSerializer(serializers.ModelSerializer):
    slug = serializers.SlugField(
        max_length=220, required=False, allow_blank=True, help_text="Generated from the name when not given."
    )
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(), required=False, allow_null=True, help_text="Defaults to the creating user."
    )
    owner_username = serializers.CharField(source="owner.username", read_only=True, allow_null=True)
    compute_cost = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True, coerce_to_string=False
    )
    team_members = TeamMemberSerializer(source="team", many=True, read_only=True)
    artifact_usages = ArtifactUsageSerializer(source="usages", many=True, read_only=True)
    attributes = serializers.DictField(
        required=False,
        help_text="Values of the organisation's project attributes by key (/api/v1/project-attributes); writing "
        "replaces them all, a null value removes one.",
    )

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "slug",
            "spec",
            "problem_class",
            "complexity_score",
            "status",
            "start_date",
            "target_end_date",
            "completion_date",
            "tags",
            "owner",
            "owner_username",
            "visibility",
            "model_performance",
            "business_impact",
            "compute_cost",
            "success_score",
            "success_score_source",
            "attributes",
            "team_members",
            "artifact_usages",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "success_score_source", "created_at", "updated_at"]

    def to_representation(self, project: Project) -> dict:
        """Hand-written: the project list is a hot path (bench/projects_list.py); same output as the fields.
        Nested rows come from the selector's JSON annotations when present, else from the relations."""
        if hasattr(project, "team_json"):
            team = [TeamMemberSerializer.format_row(row) for row in project.team_json]
            usages = [ArtifactUsageSerializer.format_row(row) for row in project.usages_json]
        else:
            team = [TeamMemberSerializer.format_row(resolve_row(m, TEAM_MEMBER_ROW)) for m in project.team]
            usages = [ArtifactUsageSerializer.format_row(resolve_row(u, ARTIFACT_USAGE_ROW)) for u in project.usages]
        return {
            "id": project.id,
            "name": project.name,
            "slug": project.slug,
            "spec": project.spec,
            "problem_class": project.problem_class,
            "complexity_score": project.complexity_score,
            "status": project.status,
            "start_date": iso_date(project.start_date),
            "target_end_date": iso_date(project.target_end_date),
            "completion_date": iso_date(project.completion_date),
            "tags": list(project.tags),
            "owner": project.owner_id,
            "owner_username": _owner_username(project),
            "visibility": project.visibility,
            "model_performance": as_float(project.model_performance),
            "business_impact": as_float(project.business_impact),
            "compute_cost": as_decimal(project.compute_cost, 2),
            "success_score": as_float(project.success_score),
            "success_score_source": project.success_score_source,
            "attributes": dict(project.attributes or {}),
            "team_members": team,
            "artifact_usages": usages,
            "created_at": iso_datetime(project.created_at),
            "updated_at": iso_datetime(project.updated_at),
        }


def _owner_username(project: Project) -> str | None:
    """The selector's annotation when present (the API's own querysets), else the owner relation."""
    if hasattr(project, "owner_username"):
        return project.owner_username
    return project.owner.username if project.owner_id else None


class ProjectCompleteSerializer(serializers.Serializer):
    """Outcome of a project being completed. Fields given here override the stored ones."""

    model_performance = serializers.FloatField(min_value=0, max_value=1, required=False, allow_null=True)
    business_impact = serializers.FloatField(min_value=0, max_value=100, required=False, allow_null=True)
    compute_cost = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    success_score = serializers.FloatField(
        min_value=0,
        max_value=100,
        required=False,
        allow_null=True,
        help_text="Set explicitly; otherwise computed from the outcome fields with the tenant's weights.",
    )
    completion_date = serializers.DateField(required=False, allow_null=True, help_text="Defaults to today.")


class ScoringSettingsSerializer(serializers.ModelSerializer):
    updated_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Null while the tenant uses the defaults (never changed them)."
    )

    class Meta:
        model = ScoringSettings
        fields = [
            "w_model_performance",
            "w_business_impact",
            "w_cost_efficiency",
            "cost_reference",
            "min_components",
            "cost_unit",
            "updated_at",
        ]
        read_only_fields = ["updated_at"]


class ProjectAttributeSerializer(serializers.ModelSerializer):
    choices = serializers.ListField(
        child=serializers.CharField(max_length=50),
        required=False,
        max_length=20,
        help_text="The categories (category attributes only; at most 20).",
    )

    class Meta:
        model = ProjectAttribute
        fields = ["id", "key", "label", "kind", "choices", "min_value", "max_value", "help_text", "created_at"]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {"key": {"validators": []}}  # uniqueness is the service's (a clear 400 naming the key)
