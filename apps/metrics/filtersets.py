"""Filters for run listings, shared by the API and (later) the dashboard."""

import django_filters

from apps.metrics.choices import RunStatus
from apps.metrics.models import Run
from apps.metrics.validation import INT64_MAX


class RunFilterSet(django_filters.FilterSet):
    """``?project=3&status=finished&status=failed&name=bert&start_time_after=2026-01-01&start_time_before=…``"""

    project = django_filters.NumberFilter(
        field_name="project_id", min_value=1, max_value=INT64_MAX, help_text="Project id."
    )
    status = django_filters.MultipleChoiceFilter(choices=RunStatus.choices, help_text="One or more statuses.")
    name = django_filters.CharFilter(lookup_expr="icontains", help_text="Part of the run name (case-insensitive).")
    start_time = django_filters.IsoDateTimeFromToRangeFilter(
        help_text="start_time_after / start_time_before (ISO 8601, inclusive)."
    )

    class Meta:
        model = Run
        fields = ["project", "status", "name", "start_time"]
