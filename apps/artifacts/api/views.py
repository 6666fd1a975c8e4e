from django.http import FileResponse, HttpResponseNotModified, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from apps.artifacts import bundles, selectors, services
from apps.artifacts.api.serializers import (
    ArtifactSerializer,
    ArtifactUsageUpdateSerializer,
    ArtifactVersionCreateSerializer,
    ArtifactVersionSerializer,
    ArtifactVersionUpdateSerializer,
)
from apps.artifacts.filtersets import ArtifactFilterSet, ArtifactUsageFilterSet, ArtifactVersionFilterSet
from apps.artifacts.models import Artifact, ArtifactUsage, ArtifactVersion
from apps.artifacts.serializers import ArtifactUsageSerializer
from apps.artifacts.uploads import HashingUploadHandler, UploadTooLarge, max_upload_bytes
from apps.projects.selectors import project_list
from maestro.api.exceptions import error_response, storage_error
from maestro.api.nesting import ChildResourceMixin
from maestro.api.parsers import JSONParser
from maestro.storage import tenant_storage

ARTIFACT_PK = OpenApiParameter("artifact_pk", OpenApiTypes.INT, OpenApiParameter.PATH, description="Artifact id.")
PROJECT_PK = OpenApiParameter("project_pk", OpenApiTypes.INT, OpenApiParameter.PATH, description="Project id.")
TOO_LARGE = OpenApiResponse(
    description="The file exceeds ARTIFACT_MAX_UPLOAD_BYTES (error shape, field `file`), or the artifact storage has "
    "no room for it (code `storage_full`); nothing was stored."
)
STORAGE_FAILED = OpenApiResponse(
    description="The artifact storage failed to write the file (code `storage_failed`); nothing was stored, retry."
)


def _too_large(limit: int) -> Response:
    message = f"The file is larger than the upload limit of {limit} bytes."
    return error_response(
        status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        f"file: {message}",
        code="too_large",
        errors=[{"field": "file", "code": "too_large", "message": message}],
    )


class ArtifactViewSet(viewsets.ModelViewSet):
    """The reusable artifact library. ``usage_count`` and ``impact_score`` are read-only: values sent for them are
    ignored."""

    access_resource = "artifacts"
    serializer_class = ArtifactSerializer
    queryset = Artifact.objects.none()
    filterset_class = ArtifactFilterSet
    search_fields = ["name", "description"]
    ordering_fields = ["name", "usage_count", "impact_score", "created_at", "updated_at", "type"]

    def get_queryset(self):
        return selectors.artifact_list(user=self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.artifact_create(user=self.request.user, data=dict(serializer.validated_data))

    def perform_update(self, serializer):
        serializer.instance = services.artifact_update(
            artifact=serializer.instance, data=dict(serializer.validated_data)
        )

    def perform_destroy(self, instance):
        services.artifact_delete(artifact=instance)


@extend_schema_view(
    list=extend_schema(parameters=[ARTIFACT_PK]),
    retrieve=extend_schema(parameters=[ARTIFACT_PK]),
    destroy=extend_schema(parameters=[ARTIFACT_PK]),
)
class ArtifactVersionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Versions of one artifact. Create with a multipart form (``version``, ``changelog``, optional ``file``);
    identical files are stored once; download streams the file."""

    access_resource = "artifact_versions"
    access_parent_kwarg = "artifact_pk"
    access_actions = {"download": "read"}
    serializer_class = ArtifactVersionSerializer
    queryset = ArtifactVersion.objects.none()
    filterset_class = ArtifactVersionFilterSet
    search_fields = ["version", "changelog"]
    ordering_fields = ["created_at", "major", "minor", "patch", "version"]
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def initialize_request(self, request, *args, **kwargs):
        # Before anything reads the body (CSRF checks of session auth do), so the file streams through the hasher.
        drf_request = super().initialize_request(request, *args, **kwargs)
        if self.action == "create":
            self.upload_handler = HashingUploadHandler(request, max_bytes=max_upload_bytes())
            request.upload_handlers = [self.upload_handler]
        return drf_request

    def perform_content_negotiation(self, request, force=False):
        return super().perform_content_negotiation(request, force=force or self.action == "download")

    def get_artifact(self) -> Artifact:
        if not hasattr(self, "_artifact"):
            self._artifact = get_object_or_404(
                selectors.artifact_list(user=self.request.user), pk=self.kwargs["artifact_pk"]
            )
        return self._artifact

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ArtifactVersion.objects.none()
        return selectors.artifact_version_list(user=self.request.user, artifact=self.get_artifact())

    @extend_schema(
        parameters=[ARTIFACT_PK],
        request={
            "multipart/form-data": ArtifactVersionCreateSerializer,
            "application/json": ArtifactVersionCreateSerializer,
        },
        responses={201: ArtifactVersionSerializer, 413: TOO_LARGE, 424: STORAGE_FAILED},
    )
    def create(self, request, artifact_pk=None):
        artifact = self.get_artifact()
        try:
            payload = ArtifactVersionCreateSerializer(data=request.data)
        except UploadTooLarge as exc:
            return _too_large(exc.limit)
        except OSError as exc:  # the temporary file of the upload could not be written
            raise storage_error(exc) from exc
        handler = getattr(self, "upload_handler", None)
        if handler is not None and handler.too_large:
            return _too_large(handler.max_bytes)
        if handler is not None and handler.ignored_files:
            raise ValidationError({name: "Send one file, in the form field 'file'." for name in handler.ignored_files})
        payload.is_valid(raise_exception=True)
        upload = payload.validated_data.get("file")
        try:
            version = services.artifact_version_create(
                artifact=artifact,
                version=payload.validated_data["version"],
                changelog=payload.validated_data.get("changelog", ""),
                file=upload,
                filename=getattr(upload, "name", None),
                content_type=getattr(upload, "content_type", None),
                user=request.user,
            )
        except UploadTooLarge as exc:
            return _too_large(exc.limit)
        version = selectors.artifact_version_list(user=request.user).get(pk=version.pk)
        return Response(ArtifactVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[ARTIFACT_PK], request=ArtifactVersionUpdateSerializer, responses=ArtifactVersionSerializer
    )
    def partial_update(self, request, artifact_pk=None, pk=None):
        version = self.get_object()  # 404/403 before the body is judged
        payload = ArtifactVersionUpdateSerializer(data=request.data, partial=True)  # PATCH: every field optional
        payload.is_valid(raise_exception=True)
        version = services.artifact_version_update(version=version, **payload.validated_data)
        return Response(ArtifactVersionSerializer(version).data)

    def perform_destroy(self, instance):
        services.artifact_version_delete(version=instance)

    @extend_schema(
        parameters=[ARTIFACT_PK],
        # The file's own content type (given at upload or guessed from its name).
        responses={(200, "*/*"): OpenApiTypes.BINARY, 304: None, 404: None},
    )
    @action(detail=True, methods=["get"])
    def download(self, request, artifact_pk=None, pk=None):
        """The version's file as an attachment, with its SHA-256 as ETag (``If-None-Match`` answers 304); a version
        whose content is a folder of stored files (a registered MLflow model) as a zip of that folder. Streamed from
        the tenant's storage through Maestro (local disk or S3 alike), one chunk in memory at a time."""
        version = self.get_object()
        if version.storage_prefix:
            files = bundles.folder_files(version.storage_prefix)
            if not files:
                raise NotFound("The stored files of this version are missing.")
            response = StreamingHttpResponse(
                bundles.zip_stream(version.storage_prefix, files), content_type="application/zip"
            )
            response["Content-Disposition"] = f'attachment; filename="{version.filename or "version.zip"}"'
            response["Cache-Control"] = "private, max-age=0, must-revalidate"
            return response
        if version.blob_id is None:
            raise NotFound("This version has no file.")
        etag = f'"{version.blob.sha256}"'
        if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
            response = HttpResponseNotModified()
            response["ETag"] = etag
            return response
        try:
            handle = tenant_storage().open_stream(version.blob.file.name)
        except FileNotFoundError:
            raise NotFound("The stored file of this version is missing.") from None
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=version.filename or f"{version.artifact.name}-{version.version}",
            content_type=version.content_type or "application/octet-stream",
        )
        response["Content-Length"] = str(version.blob.size)
        response["ETag"] = etag
        response["Cache-Control"] = "private, max-age=0, must-revalidate"
        return response


@extend_schema_view(
    list=extend_schema(parameters=[PROJECT_PK]),
    retrieve=extend_schema(parameters=[PROJECT_PK]),
    destroy=extend_schema(parameters=[PROJECT_PK]),
)
class ProjectArtifactUsageViewSet(
    ChildResourceMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """The artifact versions one project uses (once per version). Creating or deleting a usage keeps the
    artifact's usage_count exact."""

    access_resource = "usages"
    access_parent_kwarg = "project_pk"
    serializer_class = ArtifactUsageSerializer
    queryset = ArtifactUsage.objects.none()
    filterset_class = ArtifactUsageFilterSet
    search_fields = ["context", "artifact__name"]
    ordering_fields = ["used_at", "id"]

    def parent_queryset(self):
        return project_list(user=self.request.user)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ArtifactUsage.objects.none()
        return selectors.artifact_usage_list(user=self.request.user).filter(project=self.get_parent())

    @extend_schema(parameters=[PROJECT_PK], request=ArtifactUsageSerializer, responses={201: ArtifactUsageSerializer})
    def create(self, request, project_pk=None):
        project = self.get_parent()
        payload = ArtifactUsageSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        usage = services.artifact_usage_create(
            project=project,
            artifact_version=data["artifact_version"],
            used_by=data.get("used_by", request.user),
            context=data.get("context", ""),
        )
        usage = selectors.artifact_usage_list(user=request.user).get(pk=usage.pk)
        return Response(ArtifactUsageSerializer(usage).data, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[PROJECT_PK], request=ArtifactUsageUpdateSerializer, responses=ArtifactUsageSerializer)
    def partial_update(self, request, project_pk=None, pk=None):
        usage = self.get_object()  # 404/403 before the body is judged
        payload = ArtifactUsageUpdateSerializer(data=request.data, partial=True)  # PATCH: every field optional
        payload.is_valid(raise_exception=True)
        usage = services.artifact_usage_update(usage=usage, **payload.validated_data)
        return Response(ArtifactUsageSerializer(usage).data)

    def perform_destroy(self, instance):
        services.artifact_usage_delete(usage=instance)


class ArtifactUsageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Every usage of the library across projects (read-only; write through a project's artifact-usages)."""

    access_resource = "usages"
    serializer_class = ArtifactUsageSerializer
    queryset = ArtifactUsage.objects.none()
    filterset_class = ArtifactUsageFilterSet
    search_fields = ["context", "artifact__name", "project__name"]
    ordering_fields = ["used_at", "id"]

    def get_queryset(self):
        return selectors.artifact_usage_list(user=self.request.user)
