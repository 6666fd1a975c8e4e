"""Runs API: CRUD, params, tags, batch logging, metric history and search. Views parse, call one selector or
service, and render."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.access.selectors import require
from apps.metrics import selectors, services
from apps.metrics.api.rendering import BatchJSONParser, json_response, series_payload
from apps.metrics.api.serializers import (
    KeyValueResultSerializer,
    KeyValueSerializer,
    LogBatchRequestSerializer,
    LogBatchResultSerializer,
    MetricHistoryManySerializer,
    MetricSeriesSerializer,
    RunCreateSerializer,
    RunSearchRequestSerializer,
    RunSearchResultSerializer,
    RunSerializer,
    RunUpdateSerializer,
)
from apps.metrics.filtersets import RunFilterSet
from apps.metrics.models import Run
from apps.metrics.rejections import batch_rejection_reason
from apps.metrics.search.compiler import SearchError
from apps.metrics.validation import INT64_MAX, key_problem, parse_log_batch
from maestro.api.exceptions import error_response
from maestro.observability.metrics import record_batch_rejected

MAX_POINTS_LIMIT = 100_000
MAX_COMPARED_RUNS = 50

KEY_VALUE_MAP = {200: OpenApiResponse(OpenApiTypes.OBJECT, description="key → value")}
MAX_POINTS_PARAMETER = OpenApiParameter(
    "max_points",
    int,
    description="Downsample to at most this many points (4–100000) with min/max per bucket; first, last, global "
    "minimum and maximum always kept. Omit for every point.",
)


def _max_points(request) -> int | None:
    raw = request.query_params.get("max_points")
    if raw in (None, ""):
        return None
    if not raw.isdecimal() or not 4 <= int(raw) <= MAX_POINTS_LIMIT:
        raise ValidationError({"max_points": [f"An integer from 4 to {MAX_POINTS_LIMIT}."]})
    return int(raw)


def _with_data(run: Run) -> Run:
    selectors.run_data_attach([run])
    return run


@extend_schema_view(
    list=extend_schema(summary="List runs", responses=RunSerializer(many=True)),
    retrieve=extend_schema(summary="A run with its params, tags and latest metrics", responses=RunSerializer),
    destroy=extend_schema(summary="Delete a run and its whole history"),
)
class RunViewSet(viewsets.GenericViewSet):
    """Experiment runs of the tenant's projects."""

    access_resource = "runs"
    access_resources = {"log_batch": "metrics", "metric_history": "metrics"}
    access_actions = {
        "params": {"get": "read", "post": "create"},
        "tags": {"get": "read", "post": "create"},
        "delete_tag": "change",
        "log_batch": "create",
        "metric_history": "read",
        "search": "read",
    }
    throttle_scopes = {"log_batch": "ingest"}
    serializer_class = RunSerializer
    queryset = Run.objects.none()
    filterset_class = RunFilterSet
    search_fields = ["name"]
    ordering_fields = ["start_time", "end_time", "name", "status", "id", "created_at"]
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        return selectors.run_list(user=self.request.user)

    def get_object(self) -> Run:
        run = selectors.run_get(user=self.request.user, run_id=self.kwargs["pk"])
        self.check_object_permissions(self.request, run)
        return run

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        selectors.run_data_attach(page)
        return self.get_paginated_response(RunSerializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        return Response(RunSerializer(_with_data(self.get_object())).data)

    @extend_schema(summary="Create a run", request=RunCreateSerializer, responses={201: RunSerializer})
    def create(self, request):
        payload = RunCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        project = selectors.project_for_runs(user=request.user, project_id=data.pop("project"))
        if project is None:
            raise ValidationError({"project": ["No such project."]})
        require(request.user, "runs", "create", project)
        run = services.run_create(user=request.user, project=project, **data)
        return Response(RunSerializer(_with_data(run)).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Change name, status or end time", request=RunUpdateSerializer, responses=RunSerializer)
    def partial_update(self, request, pk=None):
        return self._update(request, partial=True)

    @extend_schema(summary="Change name, status or end time", request=RunUpdateSerializer, responses=RunSerializer)
    def update(self, request, pk=None):
        return self._update(request, partial=False)

    def _update(self, request, *, partial: bool):
        run = self.get_object()
        payload = RunUpdateSerializer(data=request.data, partial=partial)
        payload.is_valid(raise_exception=True)
        run = services.run_update(run=run, **payload.validated_data)
        return Response(RunSerializer(_with_data(run)).data)

    def destroy(self, request, pk=None):
        services.run_delete(run=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    # ------------------------------------------------------------------ params and tags

    @extend_schema(
        methods=["GET"],
        summary="The run's params",
        responses=KEY_VALUE_MAP,
    )
    @extend_schema(
        methods=["POST"],
        summary="Log a param (immutable: same value again is a no-op, a different value is a 400)",
        request=KeyValueSerializer,
        responses={201: KeyValueResultSerializer, 200: KeyValueResultSerializer},
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[], pagination_class=None)
    def params(self, request, pk=None):
        return self._key_values(request, "params", services.run_param_set)

    @extend_schema(methods=["GET"], summary="The run's tags", responses=KEY_VALUE_MAP)
    @extend_schema(
        methods=["POST"],
        summary="Set a tag (last write wins)",
        request=KeyValueSerializer,
        responses={201: KeyValueResultSerializer, 200: KeyValueResultSerializer},
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[], pagination_class=None)
    def tags(self, request, pk=None):
        return self._key_values(request, "tags", services.run_tag_set)

    def _key_values(self, request, kind: str, write):
        """GET: the run's params/tags as an object; POST: write one through ``write`` (201 new, 200 existing)."""
        run = self.get_object()
        if request.method == "GET":
            return Response(getattr(_with_data(run).data, kind))
        payload = KeyValueSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        result = write(run=run, **payload.validated_data)
        body = {"key": result.key, "value": result.value, "created": result.created}
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)

    @extend_schema(summary="Delete a tag", request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"tags/(?P<key>.+?)", filter_backends=[])
    def delete_tag(self, request, pk=None, key=None):
        run = self.get_object()
        if not services.run_tag_delete(run=run, key=key):
            raise NotFound(f"The run has no tag '{key[:250]}'.")
        return Response(status=status.HTTP_204_NO_CONTENT)

    # ------------------------------------------------------------------ metrics

    @extend_schema(
        summary="Log metrics, params and tags in one all-or-nothing batch",
        description="Up to 1000 metrics, 100 params and 100 tags; body ≤ 1 MB. Every item is validated before "
        "anything is written; errors name the item (`metrics[3].value`). Metric values are float64: JSON numbers, "
        'the literals NaN/Infinity/-Infinity, or the strings "NaN", "Infinity", "-Infinity". step defaults to 0; '
        "timestamp (ms) is required. Re-sending the same batch writes nothing (metrics_written = 0).",
        request=LogBatchRequestSerializer,
        responses={200: LogBatchResultSerializer, 413: OpenApiResponse(description="Body larger than 1 MB.")},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="log-batch",
        parser_classes=[BatchJSONParser],
        filter_backends=[],
    )
    def log_batch(self, request, pk=None):
        try:
            run = self.get_object()
            batch = parse_log_batch(request.data)
            result = services.run_log_batch(run=run, batch=batch)
        except Exception as exc:
            record_batch_rejected(batch_rejection_reason(exc))
            raise
        return Response(
            {
                "metrics_received": result.metrics_received,
                "metrics_written": result.metrics_written,
                "params_written": result.params_written,
                "tags_written": result.tags_written,
                "latest_updated": result.latest_updated,
            }
        )

    @extend_schema(
        summary="History of one metric in step order",
        description="Columns: point i is (steps[i], timestamps[i], values[i]). Non-finite values are the strings "
        '"NaN", "Infinity", "-Infinity".',
        parameters=[MAX_POINTS_PARAMETER],
        responses=MetricSeriesSerializer,
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"metrics/(?P<key>.+)/history",
        filter_backends=[],
        pagination_class=None,
    )
    def metric_history(self, request, pk=None, key=None):
        run = self.get_object()
        if key_problem(key):
            raise NotFound("No such metric key.")
        series = selectors.metric_history(user=request.user, run=run, key=key, max_points=_max_points(request))
        return json_response(series_payload(series))

    @extend_schema(
        summary="Search runs with a filter expression",
        description="See docs/runs.md, 'Run search', for the grammar. Parse errors are 400 with the position.",
        request=RunSearchRequestSerializer,
        responses=RunSearchResultSerializer,
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def search(self, request):
        payload = RunSearchRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            page = selectors.run_search(
                user=request.user,
                filter_text=data.get("filter"),
                order_by=data["order_by"],
                max_results=data["max_results"],
                page_token=data.get("page_token") or None,
            )
        except SearchError as exc:
            error = {"field": exc.field, "code": exc.code, "message": exc.message}
            detail = f"{exc.field}: {exc.message}"
            if exc.position is not None:
                error["position"] = exc.position
                detail += f" (at position {exc.position})"
            return error_response(400, detail, code="invalid", errors=[error])
        return Response({"runs": RunSerializer(page.runs, many=True).data, "next_page_token": page.next_page_token})


class MetricHistoryManyView(APIView):
    """Histories of one metric for several runs, for comparison charts."""

    access_resource = "metrics"

    @extend_schema(
        summary="History of one metric for several runs",
        parameters=[
            OpenApiParameter("runs", str, required=True, description="Comma-separated run ids (at most 50)."),
            OpenApiParameter("key", str, required=True, description="Metric key."),
            MAX_POINTS_PARAMETER,
        ],
        responses=MetricHistoryManySerializer,
    )
    def get(self, request):
        raw_runs = request.query_params.get("runs", "")
        key = request.query_params.get("key", "")
        run_ids = []
        for part in raw_runs.split(","):
            part = part.strip()
            if not part.isdecimal() or not 0 < int(part) <= INT64_MAX:
                raise ValidationError({"runs": [f"Comma-separated run ids; {part[:30]!r} is not one."]})
            run_ids.append(int(part))
        if len(run_ids) > MAX_COMPARED_RUNS:
            raise ValidationError({"runs": [f"At most {MAX_COMPARED_RUNS} runs."]})
        if problem := key_problem(key):
            raise ValidationError({"key": [problem]})
        max_points = _max_points(request)
        try:
            series = selectors.metric_history_many(user=request.user, run_ids=run_ids, key=key, max_points=max_points)
        except Http404 as exc:
            raise NotFound(str(exc)) from None
        return json_response({"key": key, "series": [series_payload(s) for s in series]})
