"""Pagination that is stable: it refuses unordered querysets, and the ordering filter adds a unique tie-breaker."""

from django.db.models import QuerySet
from rest_framework.pagination import PageNumberPagination


class StablePageNumberPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def paginate_queryset(self, queryset, request, view=None):
        if isinstance(queryset, QuerySet) and not queryset.ordered:
            raise AssertionError(f"{view.__class__.__name__} paginates an unordered queryset; order it.")
        return super().paginate_queryset(queryset, request, view)
