"""Sorting and pagination of dashboard lists, driven by the query string (so every state has a URL)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator


@dataclass(frozen=True)
class Sort:
    """The list's current order: ``key`` (one of the allowed columns) and its direction.

    ``?sort=-name`` is name descending. Unknown keys fall back to the default, so a stale link never errors.
    """

    key: str
    descending: bool
    ordering: tuple[str, ...]

    @property
    def param(self) -> str:
        return f"-{self.key}" if self.descending else self.key


def sort_from(request, columns: dict[str, tuple[str, ...]], default: str) -> Sort:
    """Resolve ``?sort=`` against ``columns`` (key → ORM ordering for ascending; descending flips every part).
    The primary key always breaks ties, so equal values never move between pages."""
    raw = request.GET.get("sort") or default
    descending = raw.startswith("-")
    key = raw.lstrip("-")
    if key not in columns:
        descending = default.startswith("-")
        key = default.lstrip("-")
    fields = list(columns[key])
    if not any(field.lstrip("-") in ("pk", "id") for field in fields):
        fields.append("id")
    if descending:
        fields = [field[1:] if field.startswith("-") else f"-{field}" for field in fields]
    return Sort(key=key, descending=descending, ordering=tuple(fields))


def page_of(request, object_list, *, per_page: int = 25, paginator_class=Paginator, **paginator_kwargs):
    """The requested page (``?page=``); out-of-range or malformed numbers give the nearest valid page."""
    paginator = paginator_class(object_list, per_page, **paginator_kwargs)
    number = request.GET.get("page") or 1
    try:
        page = paginator.page(number)
    except PageNotAnInteger:
        page = paginator.page(1)
    except EmptyPage:
        page = paginator.page(max(1, paginator.num_pages))
    page.elided = list(paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1))
    return page
