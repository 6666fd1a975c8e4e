from django.urls import reverse
from rest_framework import serializers

from apps.accounts.models import User
from apps.artifacts.models import Artifact, ArtifactUsage, ArtifactVersion
from apps.artifacts.selectors import ARTIFACT_USAGE_ROW
from maestro.api.representation import iso_datetime, resolve_row


class ArtifactSerializer(serializers.ModelSerializer):
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(), required=False, allow_null=True, help_text="Defaults to the creating user."
    )
    owner_username = serializers.CharField(source="owner.username", read_only=True, allow_null=True)

    class Meta:
        model = Artifact
        fields = [
            "id",
            "name",
            "type",
            "description",
            "tags",
            "owner",
            "owner_username",
            "is_active",
            "usage_count",
            "impact_score",
            "impact_updated_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "usage_count", "impact_score", "impact_updated_at", "created_at", "updated_at"]
        extra_kwargs = {"name": {"validators": []}}


class ArtifactVersionSerializer(serializers.ModelSerializer):
    sha256 = serializers.CharField(source="blob.sha256", read_only=True, allow_null=True)
    size = serializers.IntegerField(source="blob.size", read_only=True, allow_null=True)
    download_url = serializers.SerializerMethodField()
    is_folder = serializers.SerializerMethodField(
        help_text="The content is a folder of stored files (a registered MLflow model version), downloaded as a zip."
    )

    class Meta:
        model = ArtifactVersion
        fields = [
            "id",
            "artifact",
            "version",
            "major",
            "minor",
            "patch",
            "prerelease",
            "changelog",
            "filename",
            "content_type",
            "sha256",
            "size",
            "is_folder",
            "download_url",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_is_folder(self, obj) -> bool:
        return bool(obj.storage_prefix)

    def get_download_url(self, obj) -> str | None:
        if obj.blob_id is None and not obj.storage_prefix:
            return None
        return reverse("artifact-version-download", kwargs={"artifact_pk": obj.artifact_id, "pk": obj.pk})


class ArtifactVersionCreateSerializer(serializers.Serializer):
    """Multipart form (or JSON without a file)."""

    version = serializers.CharField(max_length=64, help_text="Semantic version: 1.4.0, 2.0.0-rc.1, 1.0.0+build.5")
    changelog = serializers.CharField(required=False, allow_blank=True, default="")
    file = serializers.FileField(required=False, allow_null=True, allow_empty_file=True, use_url=False)


class ArtifactVersionUpdateSerializer(serializers.Serializer):
    """PATCH of a version (validated with ``partial=True``: a field left out keeps its value)."""

    changelog = serializers.CharField(allow_blank=True)

    def validate(self, attrs):
        # Naming a fixed property of a version is refused, not silently ignored: its number and content are what
        # projects depend on.
        given = self.initial_data if isinstance(self.initial_data, dict) else {}
        fixed = [name for name in ArtifactVersionSerializer.Meta.fields if name != "changelog" and name in given]
        if fixed:
            raise serializers.ValidationError({name: "Only the changelog of a version can change." for name in fixed})
        return attrs


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


class ArtifactUsageUpdateSerializer(serializers.Serializer):
    context = serializers.CharField(allow_blank=True)
