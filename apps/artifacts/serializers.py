"""The representation of an artifact usage, which other apps nest in theirs (a project lists its usages).

A public module of the artifacts app, outside ``api/`` (private to the app), so that the projects API can nest the
same serializer — one OpenAPI component, one output — without importing the artifacts API.
"""

from rest_framework import serializers

from apps.accounts.models import User
from apps.artifacts.models import ArtifactUsage, ArtifactVersion
from apps.artifacts.selectors import ARTIFACT_USAGE_ROW
from maestro.api.representation import iso_datetime, resolve_row


class ArtifactUsageSerializer(serializers.ModelSerializer):
    artifact_version = serializers.PrimaryKeyRelatedField(queryset=ArtifactVersion.objects.all())
    artifact_name = serializers.CharField(source="artifact_version.artifact.name", read_only=True)
    version = serializers.CharField(source="artifact_version.version", read_only=True)
    used_by = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(), required=False, allow_null=True, help_text="Defaults to the acting user."
    )
    used_by_username = serializers.CharField(source="used_by.username", read_only=True, allow_null=True)

    class Meta:
        model = ArtifactUsage
        fields = [
            "id",
            "project",
            "artifact",
            "artifact_name",
            "artifact_version",
            "version",
            "used_at",
            "used_by",
            "used_by_username",
            "context",
        ]
        read_only_fields = ["id", "project", "artifact", "used_at"]

    def to_representation(self, usage: ArtifactUsage) -> dict:
        return self.format_row(resolve_row(usage, ARTIFACT_USAGE_ROW))

    @staticmethod
    def format_row(row: dict) -> dict:
        """An ARTIFACT_USAGE_ROW dict (from an instance or PostgreSQL's JSON) formatted as the declared fields."""
        out = {key: row[key] for key in ARTIFACT_USAGE_ROW}  # jsonb does not keep the key order
        out["used_at"] = iso_datetime(out["used_at"])
        return out
