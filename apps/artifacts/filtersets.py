"""Filters for the artifact library, shared by the API and the dashboard."""

import django_filters

from apps.artifacts.choices import ArtifactType
from apps.artifacts.models import Artifact, ArtifactUsage, ArtifactVersion
from maestro.api.filters import ArrayFieldFilter, MultipleChoiceListFilter


class ArtifactFilterSet(django_filters.FilterSet):
    """``?type=prompt,dataset&tags=nlp&tags_all=prod,eu&is_active=true&impact_min=0.2``"""

    type = MultipleChoiceListFilter(choices=ArtifactType.choices)
    tags = ArrayFieldFilter(field_name="tags", match="any", help_text="Artifacts with any of these tags.")
    tags_all = ArrayFieldFilter(field_name="tags", match="all", help_text="Artifacts with all of these tags.")
    is_active = django_filters.BooleanFilter()
    owner = django_filters.NumberFilter(field_name="owner_id")
    impact_min = django_filters.NumberFilter(field_name="impact_score", lookup_expr="gte")
    usage_min = django_filters.NumberFilter(field_name="usage_count", lookup_expr="gte")
    created_at = django_filters.IsoDateTimeFromToRangeFilter()

    class Meta:
        model = Artifact
        fields = []


class ArtifactVersionFilterSet(django_filters.FilterSet):
    major = django_filters.NumberFilter()
    prerelease = django_filters.BooleanFilter(method="filter_prerelease", help_text="true: only pre-releases.")
    has_file = django_filters.BooleanFilter(field_name="blob", lookup_expr="isnull", exclude=True)

    class Meta:
        model = ArtifactVersion
        fields = []

    def filter_prerelease(self, queryset, name, value):
        return queryset.exclude(prerelease="") if value else queryset.filter(prerelease="")


class ArtifactUsageFilterSet(django_filters.FilterSet):
    project = django_filters.NumberFilter(field_name="project_id")
    artifact = django_filters.NumberFilter(field_name="artifact_id")
    artifact_version = django_filters.NumberFilter(field_name="artifact_version_id")
    used_by = django_filters.NumberFilter(field_name="used_by_id")
    used_at = django_filters.IsoDateTimeFromToRangeFilter()

    class Meta:
        model = ArtifactUsage
        fields = []
