"""Recommendations API: similarity, overlap, recommendations, model registry, training runs, artifact impact."""

from __future__ import annotations

from django.db.models import F, Prefetch
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.recommendations import caches, selectors, services
from apps.recommendations.api import serializers as s
from apps.recommendations.choices import PredictionStatus
from apps.recommendations.ml import embeddings as emb
from apps.recommendations.ml.effects import OBSERVATIONAL
from apps.recommendations.models import ArtifactImpact, ModelEvent, Prediction, SuccessModel, TrainingRun
from apps.recommendations.services import importing
from apps.recommendations.services.export import NotStored, training_data_export


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def _validated(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# Access (apps.access.policy): similarity and overlap read projects (results are scoped to what the user may see);
# recommendations, predictions, the registry and training runs are the "models" resource (asking for a prediction
# reads the model; retraining creates a version; promotion and rollback change the registry); impact reads artifacts.


def _similar_response(request, vector, query: dict, project_id: int | None) -> Response:
    results = selectors.similar_projects(
        user=request.user,
        vector=vector,
        k=query["k"],
        min_similarity=query["min_similarity"],
        exclude_ids=[project_id] if project_id else [],
        completed_only=query["completed_only"],
    )
    body = {"query_project_id": project_id, "model_name": emb.MODEL_NAME, "results": results}
    return Response(s.SimilarProjectsResponseSerializer(body).data)


class ProjectSimilarView(APIView):
    """Projects whose specs are most similar to this project's (exact cosine top-k), with their outcomes."""

    access_resource = "projects"

    @extend_schema(
        parameters=[s.SimilarQuerySerializer],
        responses={
            200: s.SimilarProjectsResponseSerializer,
            409: OpenApiResponse(description="The project has an empty spec: there is nothing to compare."),
        },
    )
    def get(self, request, pk: int):
        query = _validated(s.SimilarQuerySerializer, request.query_params)
        project = selectors.project_get_visible(user=request.user, pk=pk)
        vector = selectors.project_vector(project)
        if vector is None:
            raise Conflict(f"Project {project.pk} has an empty spec; there is nothing to compare.")
        return _similar_response(request, vector, query, project.pk)


class SimilarProjectsView(APIView):
    """Projects most similar to a free-text spec."""

    access_resource = "projects"
    access_actions = {"post": "read"}

    @extend_schema(request=s.SimilarTextSerializer, responses=s.SimilarProjectsResponseSerializer)
    def post(self, request):
        data = _validated(s.SimilarTextSerializer, request.data)
        if emb.is_blank(data["text"]):
            raise ValidationError({"text": "The text must not be blank."})
        return _similar_response(request, caches.text_vector(data["text"]), data, None)


class ProjectOverlapView(APIView):
    """Requirement-level overlap of two projects' specs: matched sentence pairs and an overlap score."""

    access_resource = "projects"
    access_actions = {"post": "read"}

    @extend_schema(request=s.OverlapRequestSerializer, responses=s.OverlapResponseSerializer)
    def post(self, request):
        data = _validated(s.OverlapRequestSerializer, request.data)
        a = selectors.project_get_visible(user=request.user, pk=data["project_a"])
        b = selectors.project_get_visible(user=request.user, pk=data["project_b"])
        body = selectors.projects_overlap(a=a, b=b, min_similarity=data["min_similarity"])
        return Response(s.OverlapResponseSerializer(body).data)


RECOMMENDATION_RESPONSE = PolymorphicProxySerializer(
    component_name="RecommendationResponse",
    serializers={
        PredictionStatus.OK.value: s.RecommendationOkSerializer,
        PredictionStatus.INSUFFICIENT_DATA.value: s.RecommendationInsufficientSerializer,
        PredictionStatus.INSUFFICIENT_SKILL.value: s.RecommendationInsufficientSerializer,
        PredictionStatus.NO_MODEL.value: s.RecommendationInsufficientSerializer,
    },
    resource_type_field_name="status",
)


class RecommendationView(APIView):
    """Predict success (with interval and confidence), duration and cost of a proposed project, and suggest
    artifacts and a team. Every call is stored as a Prediction."""

    access_resource = "models"
    access_actions = {"post": "read"}

    @extend_schema(request=s.RecommendationRequestSerializer, responses=RECOMMENDATION_RESPONSE)
    def post(self, request):
        # Hot path: the service returns a JSON-ready body; re-rendering ~100 nested objects through DRF serializers
        # cost ~25 ms per request. Tests check the body against the documented serializers field by field.
        return Response(services.recommendation_for_request(user=request.user, data=request.data))


class PredictionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Stored predictions (every recommendations call) with their actual outcome once known."""

    access_resource = "models"
    queryset = Prediction.objects.none()
    filter_backends = []

    def get_queryset(self):
        return selectors.prediction_list()

    def get_serializer_class(self):
        return s.PredictionDetailSerializer if self.action == "retrieve" else s.PredictionSerializer


class SuccessModelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The model registry: every trained version with its CV metrics and importances; retrain, promote, roll
    back; prediction accuracy over time."""

    serializer_class = s.SuccessModelSerializer
    queryset = SuccessModel.objects.none()
    filter_backends = []
    access_resource = "models"
    access_actions = {"retrain": "create", "promote": "change", "rollback": "change", "accuracy": "read"}

    def get_queryset(self):
        events = ModelEvent.objects.select_related("actor", "previous_active").order_by("-created_at", "-id")
        return selectors.model_list().prefetch_related(Prefetch("events", queryset=events))

    @extend_schema(request=s.RetrainRequestSerializer, responses={202: s.TrainingRunSerializer})
    @action(detail=False, methods=["post"])
    def retrain(self, request):
        data = _validated(s.RetrainRequestSerializer, request.data)
        run = services.training_request(user=request.user, force=data["force"])
        run.refresh_from_db()  # sending may already have happened (or failed) after commit
        return Response(s.TrainingRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=s.ModelActionRequestSerializer, responses=s.SuccessModelSerializer)
    @action(detail=True, methods=["post"])
    def promote(self, request, pk=None):
        data = _validated(s.ModelActionRequestSerializer, request.data)
        model = services.model_promote(model=self.get_object(), user=request.user, reason=data["reason"])
        return Response(s.SuccessModelSerializer(self.get_queryset().get(pk=model.pk)).data)

    @extend_schema(
        request=s.ModelActionRequestSerializer,
        responses=s.SuccessModelSerializer,
        description="Deactivate this (active) version and reactivate the one active before it; returns the model "
        "active afterwards.",
    )
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        data = _validated(s.ModelActionRequestSerializer, request.data)
        model = services.model_rollback(model=self.get_object(), user=request.user, reason=data["reason"])
        return Response(s.SuccessModelSerializer(self.get_queryset().get(pk=model.pk)).data)

    @extend_schema(parameters=[s.AccuracyQuerySerializer], responses=s.AccuracySerializer)
    @action(detail=False, methods=["get"])
    def accuracy(self, request):
        query = _validated(s.AccuracyQuerySerializer, request.query_params)
        return Response(s.AccuracySerializer(selectors.prediction_accuracy(bucket=query["bucket"])).data)


class TrainingRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Background ML work (retrain, impact, embeddings): queued → running → succeeded / skipped / failed."""

    serializer_class = s.TrainingRunSerializer
    queryset = TrainingRun.objects.none()
    filter_backends = []
    access_resource = "models"

    def get_queryset(self):
        return selectors.training_run_list()


def _impact_body(artifact: dict, impact: ArtifactImpact | None) -> dict:
    fields = (
        "n_projects",
        "min_usage",
        "impact",
        "ci_low",
        "ci_high",
        "se",
        "verdict",
        "method",
        "model_contribution",
        "observed_lift",
        "observed_lift_ci_low",
        "observed_lift_ci_high",
        "comparable_n",
        "has_indicator",
        "model_version",
        "computed_at",
    )
    label = {"label": OBSERVATIONAL}
    if impact is None:
        return {"artifact": artifact, "status": "not_computed"} | dict.fromkeys(fields) | label
    return {"artifact": artifact, "status": impact.status} | {f: getattr(impact, f) for f in fields} | label


class ArtifactImpactView(APIView):
    """An artifact's impact on predicted success, or an explicit insufficient_usage."""

    access_resource = "artifacts"

    @extend_schema(responses=s.ArtifactImpactSerializer)
    def get(self, request, pk: int):
        found = selectors.artifact_impact_get(user=request.user, artifact_id=pk)
        return Response(s.ArtifactImpactSerializer(_impact_body(found["artifact"], found["impact"])).data)


IMPACT_ORDERINGS = ("artifact", "impact", "n_projects", "observed_lift")


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter(
                "ordering",
                str,
                enum=[*IMPACT_ORDERINGS, *(f"-{o}" for o in IMPACT_ORDERINGS)],
                description="Sort key, '-' for descending; missing values sort last. Default: artifact.",
            )
        ]
    )
)
class ArtifactImpactViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Impact of every artifact, sortable (``?ordering=-impact``)."""

    serializer_class = s.ArtifactImpactSerializer
    queryset = ArtifactImpact.objects.none()
    filter_backends = []
    access_resource = "artifacts"

    def get_queryset(self):
        ordering = self.request.query_params.get("ordering", "artifact")
        field = ordering.removeprefix("-")
        if field not in IMPACT_ORDERINGS:
            raise ValidationError({"ordering": f"Use one of {', '.join(IMPACT_ORDERINGS)}, optionally with '-'."})
        expr = F(f"{field}_id" if field == "artifact" else field)
        expr = expr.desc(nulls_last=True) if ordering.startswith("-") else expr.asc(nulls_last=True)
        return selectors.artifact_impact_list(user=self.request.user).order_by(expr, "artifact_id")

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        return [_impact_body(self._artifact(i), i) for i in page] if page is not None else None

    @staticmethod
    def _artifact(impact: ArtifactImpact) -> dict:
        a = impact.artifact
        return {"id": a.pk, "name": a.name, "type": a.type, "usage_count": a.usage_count}


# ------------------------------------------------------------------------------------------------ import / export
IMPORT_TYPES = {
    "text/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json-lines": "jsonl",
}


def import_content(request) -> tuple[bytes, str | None]:
    """The uploaded file (multipart field ``file``) or the raw body, with the format its Content-Type implies."""
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError({"file": "Upload the file in the field 'file'."})
        if upload.size > importing.MAX_BYTES:
            raise ValidationError({"file": f"The file is larger than {importing.MAX_BYTES // (1024 * 1024)} MB."})
        name = (upload.name or "").lower()
        return upload.read(), "csv" if name.endswith(".csv") else "jsonl" if name.endswith(
            (".jsonl", ".ndjson")
        ) else None
    # Read the stream itself: request.body stops at DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB); imports go to MAX_BYTES.
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > importing.MAX_BYTES:
        raise ValidationError({"file": f"The file is larger than {importing.MAX_BYTES // (1024 * 1024)} MB; split it."})
    django_request = getattr(request, "_request", request)  # the DRF request wraps Django's; the dashboard has Django's
    return django_request.read(importing.MAX_BYTES + 1), IMPORT_TYPES.get(content_type)


def run_import(request, *, dry_run: bool, file_format: str | None) -> tuple[int, dict]:
    """(HTTP status, body) of an import (shared by the API and the dashboard upload)."""
    content, implied = import_content(request)
    fmt = file_format or implied
    if fmt is None:
        raise ValidationError(
            {"file_format": "Say jsonl or csv (or send Content-Type text/csv / application/x-ndjson)."}
        )
    try:
        result = services.projects_import(user=request.user, content=content, fmt=fmt, dry_run=dry_run)
    except importing.ImportRejected as exc:
        raise ValidationError({exc.field: exc.message}) from None
    if not result.ok:
        rows = len({e["row"] for e in result.errors})
        body = {
            "status": 400,
            "code": "invalid",
            "detail": f"{rows} of {result.rows} rows have errors ({len(result.errors)} in all); nothing was imported.",
            "errors": [e | {"code": "invalid"} for e in result.errors],
        }
        return 400, body
    body = {
        "rows": result.rows,
        "dry_run": result.dry_run,
        "imported": len(result.project_ids),
        "project_ids": result.project_ids,
        "team_members": result.team_members,
        "artifact_usages": result.artifact_usages,
        "embedding_run_id": result.embedding_run_id,
    }
    return (200 if dry_run else 201), body


class ProjectImportView(APIView):
    """Import historical projects with their teams, artifact usages (by name and version) and outcomes from a CSV or
    JSON-lines file, all or nothing (``apps.recommendations.services.importing``). Counted as one write for the rate
    limits; bounded by the projects quota."""

    access_resource = "project_import"
    access_actions = {"post": "create"}

    @extend_schema(
        parameters=[s.ImportQuerySerializer],
        request={
            "text/csv": OpenApiTypes.STR,
            "application/x-ndjson": OpenApiTypes.STR,
            "multipart/form-data": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}},
        },
        responses={200: s.ImportResultSerializer, 201: s.ImportResultSerializer, 400: s.ImportErrorSerializer},
    )
    def post(self, request):
        query = _validated(s.ImportQuerySerializer, request.query_params)
        code, body = run_import(request, dry_run=query["dry_run"], file_format=query.get("file_format"))
        return Response(body, status=code)


class ModelTrainingDataView(APIView):
    """The training matrix of a model version with its out-of-fold (K-fold) and forward-in-time predictions, as CSV or
    Parquet (``apps.recommendations.exports``); only rows of projects the caller may see."""

    access_resource = "training_data"

    @extend_schema(
        parameters=[s.TrainingDataQuerySerializer],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/vnd.apache.parquet"): OpenApiTypes.BINARY,
            409: OpenApiResponse(description="The version was trained before training data was stored."),
        },
    )
    def get(self, request, pk: int):
        query = _validated(s.TrainingDataQuerySerializer, request.query_params)
        try:
            found = training_data_export(user=request.user, model_id=pk, file_format=query["file_format"])
        except NotStored as exc:
            raise Conflict(str(exc)) from None
        response = HttpResponse(found.content, content_type=found.content_type)
        response["Content-Disposition"] = f'attachment; filename="{found.filename}"'
        response["X-Rows-Withheld"] = str(found.withheld)
        return response
