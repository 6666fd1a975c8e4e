"""Viewsets nested under a parent's URL, e.g. ``projects/{project_pk}/team`` and ``projects/{project_pk}/usages``.

The parent is looked up once per request through a permission-scoped selector that the viewset names, so the one
permission gate applies to the parent as well: 404 when the user may not see it. It lives in the framework because
apps nest their resources under another app's (artifact usages under projects) and no app imports another's api.
"""

from __future__ import annotations

from django.db.models import Model, QuerySet
from django.shortcuts import get_object_or_404


class ChildResourceMixin:
    """Gives a nested viewset ``get_parent()``.

    The viewset declares ``access_parent_kwarg`` (the URL kwarg naming the parent, which the access gate reads too)
    and ``parent_queryset()`` (the parents the acting user may see, from the parent app's selector).
    """

    access_parent_kwarg: str

    def parent_queryset(self) -> QuerySet:
        raise NotImplementedError(f"{type(self).__name__} must define parent_queryset()")

    def get_parent(self) -> Model:
        if not hasattr(self, "_parent"):
            self._parent = get_object_or_404(self.parent_queryset(), pk=self.kwargs[self.access_parent_kwarg])
        return self._parent
