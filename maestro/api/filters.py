"""Filter backends and filters shared by the API."""

import datetime as dt
import functools

import django_filters
from django import forms
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.utils import translate_validation
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter


def _storable(value):
    """A cleaned filter value as PostgreSQL can compare it: aware datetimes in UTC. ``2026-01-01T00:00+16:30`` is a
    valid ISO 8601 time that PostgreSQL refuses (offsets stop at ±15:59), and ``0001-01-01T00:00+05:00`` lies before
    the first representable UTC instant; both raise ``ValueError`` here instead of a database error."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        try:
            return value.astimezone(dt.UTC)
        except OverflowError:
            raise ValueError("The date and time is out of range once converted to UTC.") from None
    if isinstance(value, slice):
        return slice(_storable(value.start), _storable(value.stop), value.step)
    if isinstance(value, (list, tuple)):
        return type(value)(_storable(item) for item in value)
    return value


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend whose cleaned values are made storable (see ``_storable``) before they reach SQL; a
    value that cannot be is a 400 naming the filter."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None:
            named = _named_filters(request.query_params, filterset_class)
            if not named:
                # Nothing to filter on: an empty filter form filters nothing, but building and validating it costs
                # about 1.5 ms per list request (deep copies of every filter and form field; bench/projects_list.py).
                return queryset
            # Only the filters the request names: building the form of all of them (deep copies of every filter and
            # form field, a label per field) cost ~2.7 ms of a filtered project list page; the others are absent
            # and would filter nothing.
            filterset_class = _narrowed(filterset_class, named)
        if filterset_class is None:
            return queryset
        filterset = filterset_class(**self.get_filterset_kwargs(request, queryset, view))
        if not filterset.is_valid():
            raise translate_validation(filterset.errors)
        cleaned = filterset.form.cleaned_data
        problems = {}
        for name, value in cleaned.items():
            try:
                cleaned[name] = _storable(value)
            except ValueError as exc:
                problems[name] = [str(exc)]
        if problems:
            raise ValidationError(problems)
        return filterset.qs


def _named_filters(query_params, filterset_class) -> frozenset[str]:
    """The filters of ``filterset_class`` a query parameter belongs to: by its name, or its name with a widget suffix
    (``start_date_after``, ``complexity_min``) — django-filter names every parameter after its filter. A prefix may
    name more filters than meant (``tags_all`` also names ``tags``); an extra filter is absent and filters nothing."""
    return frozenset(name for name in filterset_class.base_filters if any(key.startswith(name) for key in query_params))


@functools.lru_cache(maxsize=256)
def _narrowed(filterset_class, names: frozenset[str]):
    """``filterset_class`` with only the filters ``names`` (built once per set of names). A filter left out only ever
    sees an absent parameter, and none of the filtersets has a required filter or a form-wide check."""
    if names == frozenset(filterset_class.base_filters):
        return filterset_class
    narrowed = type(filterset_class.__name__, (filterset_class,), {"__module__": filterset_class.__module__})
    narrowed.base_filters = {name: f for name, f in filterset_class.base_filters.items() if name in names}
    return narrowed


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


class ListWidget(forms.TextInput):
    """A query parameter holding a list: ``?tags=a,b`` or ``?tags=a&tags=b`` (or both); empty items are dropped."""

    def value_from_datadict(self, data, files, name):
        raw = data.getlist(name) if hasattr(data, "getlist") else [data.get(name)]
        values = [item.strip() for chunk in raw if chunk for item in str(chunk).split(",")]
        return [value for value in values if value]


class ListField(forms.Field):
    widget = ListWidget

    def to_python(self, value):
        if value in (None, "", []):
            return []
        return [value] if isinstance(value, str) else list(value)


class ArrayFieldFilter(django_filters.Filter):
    """Filter on a PostgreSQL array of strings (GIN-indexed): ``match="any"`` keeps rows holding at least one of the
    given values (``&&``), ``match="all"`` rows holding all of them (``@>``). Values are compared lower-cased."""

    field_class = ListField

    def __init__(self, *args, match: str = "any", **kwargs):
        kwargs["lookup_expr"] = {"any": "overlap", "all": "contains"}[match]
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if not value:
            return qs
        values = sorted({item.lower() for item in value})
        return qs.filter(**{f"{self.field_name}__{self.lookup_expr}": values})


class MultipleChoiceListFilter(django_filters.MultipleChoiceFilter):
    """A choice filter taking several values as ``?status=a,b`` or ``?status=a&status=b``. No DISTINCT (django-filter's
    default for multiple choices): it filters a column of the row itself, and DISTINCT defeats index-backed ordering."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", ListWidget)
        kwargs.setdefault("distinct", False)
        super().__init__(*args, **kwargs)
