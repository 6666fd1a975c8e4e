"""Filters for projects and team members, shared by the API and the dashboard."""

import django_filters

from apps.projects.choices import ExperienceLevel, MemberRole, ProblemClass, ProjectStatus, Visibility
from apps.projects.models import Project, TeamMember
from maestro.api.filters import ArrayFieldFilter, MultipleChoiceListFilter


class ProjectFilterSet(django_filters.FilterSet):
    """``?status=active,planned&problem_class=nlp&tags=llm,rag&tags_all=prod&owner=3&complexity_min=40``,
    date ranges as ``start_date_after=2026-01-01&start_date_before=2026-06-30`` (inclusive)."""

    status = MultipleChoiceListFilter(choices=ProjectStatus.choices)
    problem_class = MultipleChoiceListFilter(choices=ProblemClass.choices)
    visibility = MultipleChoiceListFilter(choices=Visibility.choices)
    tags = ArrayFieldFilter(field_name="tags", match="any", help_text="Projects with any of these tags.")
    tags_all = ArrayFieldFilter(field_name="tags", match="all", help_text="Projects with all of these tags.")
    owner = django_filters.NumberFilter(field_name="owner_id", help_text="Owner's user id.")
    owner_username = django_filters.CharFilter(field_name="owner__username")
    start_date = django_filters.DateFromToRangeFilter()
    target_end_date = django_filters.DateFromToRangeFilter()
    completion_date = django_filters.DateFromToRangeFilter()
    created_at = django_filters.IsoDateTimeFromToRangeFilter()
    complexity_min = django_filters.NumberFilter(field_name="complexity_score", lookup_expr="gte")
    complexity_max = django_filters.NumberFilter(field_name="complexity_score", lookup_expr="lte")
    success_score_min = django_filters.NumberFilter(field_name="success_score", lookup_expr="gte")
    success_score_max = django_filters.NumberFilter(field_name="success_score", lookup_expr="lte")

    class Meta:
        model = Project
        fields = []


class TeamMemberFilterSet(django_filters.FilterSet):
    role = MultipleChoiceListFilter(choices=MemberRole.choices)
    experience_level = MultipleChoiceListFilter(choices=ExperienceLevel.choices)
    user = django_filters.NumberFilter(field_name="user_id")

    class Meta:
        model = TeamMember
        fields = []
