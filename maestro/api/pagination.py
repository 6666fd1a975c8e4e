"""Pagination that is stable: it refuses unordered querysets, and the ordering filter adds a unique tie-breaker."""

import json

from django.core.exceptions import EmptyResultSet
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination


class StablePageNumberPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def paginate_queryset(self, queryset, request, view=None):
        if isinstance(queryset, QuerySet) and not queryset.ordered:
            raise AssertionError(f"{view.__class__.__name__} paginates an unordered queryset; order it.")
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request):
        """``page_size`` when given must be a whole number from 1 to ``max_page_size`` (400 naming it otherwise,
        instead of DRF's silent fallback to the default)."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdecimal() or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]})
        return int(raw)

    def get_page_number(self, request, paginator):
        # An empty ?page= is an invalid page (404), as the schema says, not silently the first one.
        page_number = request.query_params.get(self.page_query_param, 1)
        return paginator.num_pages if page_number in self.last_page_strings else page_number

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters


class CappedCountPaginator(Paginator):
    """A paginator for large tables: exact counts up to ``cap``, a planner estimate beyond, late row lookups.

    * ``count`` asks PostgreSQL's planner first (``EXPLAIN``, well under a millisecond). When it estimates more than
      ``trust_estimate_above`` × ``cap`` rows, that estimate is the count and ``count_is_estimate`` is true: counting
      up to the cap would only confirm what the estimate already says, at the price of reading ``cap`` rows (1–20 ms
      at 100,000 projects, depending on the filter; bench/projects_list.py). Otherwise ``count`` runs
      ``SELECT count(*) FROM (… LIMIT cap + 1)``: exact while the result has at most ``cap`` rows, and bounded in
      cost; beyond the cap it is again the planner's estimate (at least ``cap + 1``), flagged. Estimated counts do
      not validate pages: a page exists when it has rows, and ``has_next`` is known by fetching one row more than
      the page. (A planner estimate far off the truth therefore costs accuracy of ``count`` only, never a page.)
    * Pages past ``late_lookup_offset`` are read as a late row lookup: the ids of the page are found first
      (``SELECT id … ORDER BY … LIMIT … OFFSET …``, an index-only scan when an index covers the filter and the
      ordering), then only those rows are loaded — instead of fetching every skipped row from the table.
    """

    trust_estimate_above = 2

    def __init__(self, *args, cap: int = 10_000, exact: bool = False, late_lookup_offset: int = 1_000, **kwargs):
        super().__init__(*args, **kwargs)
        self.cap, self.exact, self.late_lookup_offset = cap, exact, late_lookup_offset
        self.count_is_estimate = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if isinstance(queryset, QuerySet):
            queryset = queryset.order_by().values("pk")  # no ordering, no annotations: count rows only
        if self.exact:
            return queryset.count()
        estimate = _planner_rows(queryset)
        if estimate > self.trust_estimate_above * self.cap:
            self.count_is_estimate = True
            return estimate
        capped = queryset[: self.cap + 1].count()
        if capped <= self.cap:
            return capped
        self.count_is_estimate = True
        return max(self.cap + 1, estimate)

    def validate_number(self, number):
        if self.count <= self.cap or self.exact:
            return super().validate_number(number)
        try:
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger("That page number is not an integer") from None
        if number < 1:
            raise EmptyPage("That page number is less than 1")
        return number

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        extra = 1 if self.count_is_estimate else 0
        rows = self._rows(bottom, bottom + self.per_page + extra)
        if self.count_is_estimate:
            if not rows and number > 1:
                raise EmptyPage("That page contains no results")
            return _EstimatedPage(rows[: self.per_page], number, self, has_more=len(rows) > self.per_page)
        return self._get_page(rows, number, self)

    def _rows(self, start: int, stop: int) -> list:
        queryset = self.object_list
        if start < self.late_lookup_offset or not isinstance(queryset, QuerySet):
            return list(queryset[start:stop])
        ids = list(queryset.values_list("pk", flat=True)[start:stop])
        by_id = {row.pk: row for row in queryset.order_by().filter(pk__in=ids)}
        return [by_id[pk] for pk in ids if pk in by_id]


class _EstimatedPage(Page):
    def __init__(self, object_list, number, paginator, *, has_more: bool):
        super().__init__(object_list, number, paginator)
        self._has_more = has_more

    def has_next(self) -> bool:
        return self._has_more

    def end_index(self) -> int:
        return (self.number - 1) * self.paginator.per_page + len(self.object_list)


def _planner_rows(queryset: QuerySet) -> int:
    try:
        sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    except EmptyResultSet:  # Django proved the filter matches nothing (e.g. a negative bound on a positive field)
        return 0
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class CappedCountPageNumberPagination(StablePageNumberPagination):
    """Page-number pagination for large tables (see :class:`CappedCountPaginator`). The response adds
    ``count_is_estimate``; ``?exact_count=true`` asks for an exact count whatever it costs."""

    count_cap = 10_000
    late_lookup_offset = 1_000

    def django_paginator_class(self, object_list, per_page, **kwargs):
        exact = str(self.request.query_params.get("exact_count", "")).lower() in ("1", "true", "yes")
        return CappedCountPaginator(
            object_list, per_page, cap=self.count_cap, exact=exact, late_lookup_offset=self.late_lookup_offset, **kwargs
        )

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        response.data["count_is_estimate"] = self.page.paginator.count_is_estimate
        return response

    def get_paginated_response_schema(self, schema):
        schema = super().get_paginated_response_schema(schema)
        schema["properties"]["count_is_estimate"] = {
            "type": "boolean",
            "description": f"true when more than {self.count_cap} rows match and count is PostgreSQL's estimate "
            "(ask for ?exact_count=true to count exactly).",
        }
        schema["required"] = [*schema.get("required", []), "count_is_estimate"]
        return schema
