from django.urls import reverse
from rest_framework import serializers

from apps.accounts.models import User
from apps.artifacts.models import Artifact, ArtifactVersion


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


class ArtifactUsageUpdateSerializer(serializers.Serializer):
    context = serializers.CharField(allow_blank=True)
