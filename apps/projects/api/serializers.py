from rest_framework import serializers

from apps.accounts.models import User
from apps.artifacts.api.serializers import ArtifactUsageSerializer
from apps.projects.models import Project, ScoringSettings, TeamMember


class TeamMemberSerializer(serializers.ModelSerializer):
    display_name = serializers.CharField(
        max_length=150, required=False, allow_blank=True, help_text="Defaults to the linked user's name."
    )
    user = serializers.PrimaryKeyRelatedField(queryset=User.objects.all(), required=False, allow_null=True)
    username = serializers.CharField(source="user.username", read_only=True, default=None)

    class Meta:
        model = TeamMember
        fields = [
            "id", "project", "user", "username", "display_name", "role", "experience_level", "years_experience",
            "contribution_hours", "performance_score",
        ]  # fmt: skip
        read_only_fields = ["id", "project"]


class ProjectSerializer(serializers.ModelSerializer):
    slug = serializers.SlugField(
        max_length=220, required=False, allow_blank=True, help_text="Generated from the name when not given."
    )
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(), required=False, allow_null=True, help_text="Defaults to the creating user."
    )
    owner_username = serializers.CharField(source="owner.username", read_only=True, default=None)
    compute_cost = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True, coerce_to_string=False
    )
    team_members = TeamMemberSerializer(many=True, read_only=True)
    artifact_usages = ArtifactUsageSerializer(many=True, read_only=True)

    class Meta:
        model = Project
        fields = [
            "id", "name", "slug", "spec", "problem_class", "complexity_score", "status", "start_date",
            "target_end_date", "completion_date", "tags", "owner", "owner_username", "visibility",
            "model_performance", "business_impact", "compute_cost", "success_score", "success_score_source",
            "team_members", "artifact_usages", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["id", "success_score_source", "created_at", "updated_at"]


class ProjectCompleteSerializer(serializers.Serializer):
    """Outcome of a project being completed. Fields given here override the stored ones."""

    model_performance = serializers.FloatField(min_value=0, max_value=1, required=False, allow_null=True)
    business_impact = serializers.FloatField(min_value=0, max_value=100, required=False, allow_null=True)
    compute_cost = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    success_score = serializers.FloatField(
        min_value=0, max_value=100, required=False, allow_null=True,
        help_text="Set explicitly; otherwise computed from the outcome fields with the tenant's weights.",
    )  # fmt: skip
    completion_date = serializers.DateField(required=False, allow_null=True, help_text="Defaults to today.")


class ScoringSettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScoringSettings
        fields = [
            "w_model_performance", "w_business_impact", "w_cost_efficiency", "cost_reference", "min_components",
            "updated_at",
        ]  # fmt: skip
        read_only_fields = ["updated_at"]
