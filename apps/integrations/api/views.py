from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.choices import TokenScope
from apps.accounts.models import ApiToken
from apps.integrations import selectors, services
from apps.integrations.api.serializers import (
    DeliveryMetricsSerializer,
    IntegrationCreateSerializer,
    IntegrationSerializer,
    IntegrationUpdateSerializer,
    IntegrationWithSecretSerializer,
    ReprocessQueuedSerializer,
    WebhookAnswerSerializer,
    WebhookDeliverySerializer,
    parse_period,
    period_bounds,
)
from apps.integrations.models import Integration
from apps.projects.models import Project
from maestro.api.exceptions import error_response

PROJECT_PK = OpenApiParameter("project_pk", OpenApiTypes.INT, OpenApiParameter.PATH, description="Project id.")


def webhook_url_builder(request):
    """Absolute webhook URLs on the tenant's own host (also when the request came to the platform host)."""
    domain = request.tenant.get_primary_domain()
    host = domain.domain if domain is not None else request.get_host().split(":")[0]
    port = request.get_port()
    default_port = "443" if request.is_secure() else "80"
    authority = host if port in (default_port, None, "") else f"{host}:{port}"
    scheme = "https" if request.is_secure() else "http"

    def build(integration: Integration) -> str:
        return f"{scheme}://{authority}/api/v1/webhooks/{integration.webhook_id}"

    return build


def _project(request, pk, *, manage: bool = False) -> Project:
    """The project named in the URL, if the user may see (and with ``manage``, manage) its integrations."""
    try:
        project = selectors.project_get(user=request.user, pk=int(pk), manage=manage)
    except (Project.DoesNotExist, ValueError):
        raise Http404 from None
    if manage and isinstance(request.auth, ApiToken) and request.auth.scope == TokenScope.READ:
        raise PermissionDenied("A read-scoped token cannot change integrations.")
    return project


@extend_schema_view(
    list=extend_schema(parameters=[PROJECT_PK]),
    retrieve=extend_schema(parameters=[PROJECT_PK]),
    destroy=extend_schema(parameters=[PROJECT_PK]),
)
class IntegrationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Git/CI integrations of a project. The secret appears only in the responses that create or rotate it."""

    access_resource = "integrations"
    access_parent_kwarg = "project_pk"
    access_actions = {"rotate_secret": "change", "reprocess": "change", "deliveries": "read"}
    serializer_class = IntegrationSerializer
    queryset = Integration.objects.none()
    filter_backends = []
    write_actions = ("create", "partial_update", "destroy", "rotate_secret", "reprocess")

    def get_project(self) -> Project:
        if not hasattr(self, "_project"):
            self._project = _project(self.request, self.kwargs["project_pk"], manage=self.action in self.write_actions)
        return self._project

    def get_queryset(self):
        return selectors.integration_list(user=self.request.user, project=self.get_project())

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "webhook_url": webhook_url_builder(self.request)}

    def _with_secret(self, created, status_code=status.HTTP_200_OK):
        data = IntegrationSerializer(created.integration, context=self.get_serializer_context()).data
        return Response({**data, "secret": created.secret}, status=status_code)

    @extend_schema(
        parameters=[PROJECT_PK], request=IntegrationCreateSerializer, responses={201: IntegrationWithSecretSerializer}
    )
    def create(self, request, project_pk=None):
        project = self.get_project()
        payload = IntegrationCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        created = services.integration_create(user=request.user, project=project, **payload.validated_data)
        return self._with_secret(created, status.HTTP_201_CREATED)

    @extend_schema(parameters=[PROJECT_PK], request=IntegrationUpdateSerializer, responses=IntegrationSerializer)
    def partial_update(self, request, project_pk=None, pk=None):
        payload = IntegrationUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        integration = services.integration_update(integration=self.get_object(), **payload.validated_data)
        return Response(self.get_serializer(integration).data)

    def destroy(self, request, project_pk=None, pk=None):
        services.integration_delete(integration=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=[PROJECT_PK], request=None, responses=IntegrationWithSecretSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, project_pk=None, pk=None):
        return self._with_secret(services.integration_rotate_secret(integration=self.get_object()))

    @extend_schema(parameters=[PROJECT_PK], request=None, responses={202: ReprocessQueuedSerializer})
    @action(detail=True, methods=["post"])
    def reprocess(self, request, project_pk=None, pk=None):
        """Rebuild the normalised rows from the stored deliveries on the worker (idempotent)."""
        integration = self.get_object()
        services.integration_reprocess_enqueue(integration=integration)
        return Response({"status": "queued", "integration": integration.pk}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(parameters=[PROJECT_PK], responses=WebhookDeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request, project_pk=None, pk=None):
        """Deliveries received by this integration, newest first (metadata; payloads stay server-side)."""
        queryset = selectors.delivery_list(user=request.user, integration=self.get_object())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)


class DeliveryMetricsView(APIView):
    """Delivery metrics of a project for a period (commit frequency, contributors, PR lead time, review
    turnaround, CI pass rate and duration, rework rate, bus factor)."""

    access_resource = "integrations"
    access_parent_kwarg = "project_pk"

    @extend_schema(
        parameters=[
            PROJECT_PK,
            OpenApiParameter("from", OpenApiTypes.DATE, description="First day (inclusive); default: to − 89 days."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (inclusive, UTC); default: today."),
        ],
        responses=DeliveryMetricsSerializer,
    )
    def get(self, request, project_pk):
        project = _project(request, project_pk)
        first_day, last_day = parse_period(request.query_params)
        start, end = period_bounds(first_day, last_day)
        report = selectors.delivery_metrics_get(user=request.user, project=project, start=start, end=end)
        integrations = selectors.integration_list(user=request.user, project=project).count()
        return Response(
            {
                "project": project.pk,
                "from": first_day.isoformat(),
                "to": last_day.isoformat(),
                "integrations": integrations,
                **report,
            }
        )


class WebhookView(APIView):
    """Receives GitHub/GitLab deliveries. Authenticated by the provider's signature (``X-Hub-Signature-256``) or
    secret token (``X-Gitlab-Token``), not by a session or an API token."""

    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    throttle_scope = "ingest"
    parser_classes = []

    @extend_schema(
        auth=[],
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[
            OpenApiParameter("webhook_id", OpenApiTypes.UUID, OpenApiParameter.PATH),
            OpenApiParameter("X-GitHub-Event", str, OpenApiParameter.HEADER, required=False),
            OpenApiParameter("X-GitHub-Delivery", str, OpenApiParameter.HEADER, required=False),
            OpenApiParameter("X-Hub-Signature-256", str, OpenApiParameter.HEADER, required=False),
            OpenApiParameter("X-Gitlab-Event", str, OpenApiParameter.HEADER, required=False),
            OpenApiParameter("X-Gitlab-Token", str, OpenApiParameter.HEADER, required=False),
            OpenApiParameter("X-Gitlab-Event-UUID", str, OpenApiParameter.HEADER, required=False),
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False),
        ],
        responses={
            200: OpenApiResponse(WebhookAnswerSerializer, description="Processed, or a repeated delivery."),
            202: OpenApiResponse(WebhookAnswerSerializer, description="Acknowledged and ignored."),
            400: OpenApiResponse(description="Missing header or malformed payload (nothing stored)."),
            401: OpenApiResponse(description="Missing or invalid signature/token (nothing stored)."),
            404: OpenApiResponse(description="No such webhook."),
            413: OpenApiResponse(description="Body larger than INTEGRATIONS_WEBHOOK_MAX_BYTES (nothing stored)."),
        },
    )
    def post(self, request, webhook_id):
        limit = settings.INTEGRATIONS_WEBHOOK_MAX_BYTES
        too_large = f"The body exceeds {limit} bytes."
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            return error_response(413, too_large, code="too_large")
        body = request._request.read(limit + 1)
        if len(body) > limit:
            return error_response(413, too_large, code="too_large")
        try:
            integration = selectors.integration_for_webhook(webhook_id=UUID(webhook_id))
        except ValueError:
            integration = None
        result = services.webhook_receive(integration=integration, headers=request.headers, body=body)
        return Response(result.body, status=result.status_code)
