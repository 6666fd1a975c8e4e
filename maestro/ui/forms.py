"""Form plumbing shared by the dashboard pages: services raise ``ValidationError`` (field → message) and plan limits
raise ``QuotaExceeded``; both become messages on the form, next to the field they name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django import forms
from django.core.exceptions import ValidationError
from rest_framework.exceptions import APIException

T = TypeVar("T")


class TagsField(forms.CharField):
    """Comma-separated tags → the list ``normalise`` makes of the non-empty, trimmed parts.

    The rules for a valid tag belong to the app whose service stores the tags (projects' ``normalize_tags``, which
    the artifact library shares), so the form takes them as ``normalise``: a list of strings in, the stored list out,
    ``ValidationError`` for a bad tag."""

    def __init__(self, *, normalise: Callable[[list[str]], list[str]], **kwargs: Any):
        self.normalise = normalise
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, (list, tuple)) else value

    def to_python(self, value):
        text = super().to_python(value) or ""
        tags = [part for part in (item.strip() for item in text.split(",")) if part]
        try:
            return self.normalise(tags)
        except forms.ValidationError as exc:
            raise forms.ValidationError(exc.messages) from None


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Put a service's ValidationError on ``form``: messages for the form's own fields next to them, the rest
    (fields the form does not show, or no field) at the top, prefixed with the field's name."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            messages = [message for error in errors for message in error.messages]
            if name in form.fields:
                form.add_error(name, messages)
            else:
                label = "" if name == "__all__" else f"{name.replace('_', ' ').capitalize()}: "
                form.add_error(None, [f"{label}{message}" for message in messages])
    else:
        form.add_error(None, exc.messages)


def call_service(form: forms.Form, service: Callable[..., T], /, **kwargs: Any) -> T | None:
    """Call ``service``; on a ValidationError or a refused plan limit, record it on ``form`` and return None."""
    try:
        return service(**kwargs)
    except ValidationError as exc:
        add_service_errors(form, exc)
    except APIException as exc:  # QuotaExceeded and other refusals services raise for the API
        form.add_error(None, str(exc.detail))
    return None


def wants_partial(request) -> bool:
    """An htmx request that swaps part of the page (not a history restore, which needs the whole page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request
