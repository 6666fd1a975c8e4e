import csv
import json

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, JSONRenderer

from apps.audit.api.serializers import FIELDS, AuditEventSerializer
from apps.audit.filtersets import AuditEventFilterSet
from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_event_list

EXPORT_CHUNK = 2000
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class CSVRenderer(BaseRenderer):
    """Lets clients ask for ``text/csv``; the export streams its own response, errors are rendered as text."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, dict):
            return f"error,{data.get('status', '')},{data.get('detail', '')}\n".encode()
        return str(data).encode()


class _Echo:
    def write(self, value):
        return value


def _cell(value) -> str:
    """A CSV cell that a spreadsheet will not execute (OWASP CSV injection: prefix formulas with ')."""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, sort_keys=True, ensure_ascii=False)
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_rows(queryset):
    writer = csv.writer(_Echo())
    yield writer.writerow(FIELDS)
    for event in queryset.iterator(chunk_size=EXPORT_CHUNK):
        shown = event.shown()
        yield writer.writerow([_cell(shown[name]) for name in FIELDS])


class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The tenant's audit trail (owners and admins, admin-scope token). Filter by actor, action, object and time;
    ``GET /api/v1/audit-events/export`` streams the same filtered events as CSV."""

    access_resource = "audit_log"
    access_actions = {"export": "read"}
    serializer_class = AuditEventSerializer
    queryset = AuditEvent.objects.none()
    filterset_class = AuditEventFilterSet
    search_fields = ["object_repr", "detail__object_repr", "actor__username", "action"]

    def get_queryset(self):
        return audit_event_list(user=self.request.user)

    @extend_schema(
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV, one event per row")}
    )
    @action(detail=False, methods=["get"], renderer_classes=[JSONRenderer, CSVRenderer], pagination_class=None)
    def export(self, request):
        queryset = self.filter_queryset(self.get_queryset())
        response = StreamingHttpResponse(csv_rows(queryset), content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="audit-events-{stamp}.csv"'
        return response
