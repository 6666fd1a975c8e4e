"""Filter backends shared by the API."""

from rest_framework.filters import OrderingFilter


class StableOrderingFilter(OrderingFilter):
    """Ordering that always ends with the primary key, so equal sort keys never reorder between pages."""

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view)
        if not ordering:
            return ordering
        ordering = list(ordering)
        if not any(field.lstrip("-") in ("pk", "id") for field in ordering):
            descending = ordering[-1].startswith("-")
            ordering.append("-pk" if descending else "pk")
        return ordering
