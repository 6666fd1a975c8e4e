"""Dashboard pages of the audit trail (owners and admins): filters, pages, and the same filtered events as CSV."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from apps.access.declarations import access
from apps.access.selectors import require
from apps.audit.api.views import csv_rows
from apps.audit.filtersets import AuditEventFilterSet
from apps.audit.models import ActorType, Category, Source
from apps.audit.selectors import audit_event_list
from maestro.api.pagination import CappedCountPaginator
from maestro.ui.listing import page_of

PER_PAGE = 50
FILTER_FIELDS = (
    "actor",
    "action_prefix",
    "category",
    "source",
    "actor_type",
    "object_type",
    "object_id",
    "since",
    "until",
)


def _filtered(request):
    require(request.user, "audit_log", "read")
    data = {key: value for key, value in request.GET.items() if key in FILTER_FIELDS and value.strip()}
    filterset = AuditEventFilterSet(data, queryset=audit_event_list(user=request.user))
    return filterset, data


@access("audit_log")
@login_required
def audit_log(request):
    filterset, data = _filtered(request)
    events = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    context = {
        "filterset": filterset,
        "values": data,
        "page": page_of(request, events, per_page=PER_PAGE, paginator_class=CappedCountPaginator),
        "categories": Category.choices,
        "sources": Source.choices,
        "actor_types": ActorType.choices,
        "export_query": request.GET.urlencode(),
        "section": "audit",
    }
    return render(request, "audit/log.html", context)


@access("audit_log")
@login_required
def audit_export(request):
    """The filtered events as CSV (streamed; formula-looking cells are defused exactly as the API's export)."""
    filterset, _data = _filtered(request)
    events = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    response = StreamingHttpResponse(csv_rows(events), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="audit-events-{stamp}.csv"'
    return response
