"""Template helpers of the dashboard: sortable column headers, form fields with their errors, number formats."""

from __future__ import annotations

import math

from django import template

from apps.access.selectors import can as gate

register = template.Library()


@register.inclusion_tag("components/sort_th.html", takes_context=True)
def sort_th(context, key: str, label: str, numeric: bool = False, hide_sm: bool = False):
    """A column header that sorts the list by ``key`` (``aria-sort`` on the current one); a second click reverses.
    ``hide_sm`` leaves the column out on phones, so the columns that matter fit the screen."""
    sort = context.get("sort")
    if isinstance(sort, str):  # a plain "?sort=" value: "-metrics.loss"
        current_key, descending = sort.lstrip("-"), sort.startswith("-")
    else:
        current_key, descending = (sort.key, sort.descending) if sort is not None else (None, False)
    current = current_key == key
    first_click = f"-{key}" if numeric else key  # numbers start with the largest
    target = (key if descending else f"-{key}") if current else first_click  # a second click reverses
    return {
        "request": context["request"],
        "label": label,
        "target": target,
        "classes": " ".join(name for name, on in (("num", numeric), ("hide-sm", hide_sm)) if on),
        "aria_sort": ("descending" if descending else "ascending") if current else "",
    }


@register.inclusion_tag("components/field.html")
def field(bound_field, wide: bool = False):
    """A labelled form field with its help text and errors wired up through aria attributes."""
    return {"field": bound_field, "wide": wide}


@register.filter
def num(value, digits: int = 2):
    """A number with ``digits`` decimals; "—" for missing, and NaN/±∞ spelled out."""
    if value is None or value == "":
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "∞" if number > 0 else "−∞"
    digits = int(digits)
    if number == 0:
        number = 0.0  # -0.0 reads as 0
    if abs(number) >= 1e6:
        return f"{number:.3g}"
    if number != 0 and abs(number) < 10**-digits:
        return f"{number:.2g}"
    return f"{number:,.{digits}f}"


@register.filter
def signed(value, digits: int = 1):
    """A difference with its sign: +3.2 / −1.0; one "0.0" for everything that rounds to zero (never "+0.0" or
    "−0.0" for a value shown as 0.0 elsewhere); "—" for missing."""
    if value is None:
        return "—"
    digits = int(digits)
    number = round(float(value), digits)
    if math.isnan(number):
        return "NaN"
    text = f"{abs(number):,.{digits}f}"
    if number == 0:
        return f"{0:.{digits}f}"
    return f"+{text}" if number > 0 else f"−{text}"


@register.filter
def duration(value):
    """A timedelta (or seconds) as "3 h 0 min 17 s", "12 min 5 s", "2 d 3 h", "0.4 s"; "—" for missing."""
    if value is None or value == "":
        return "—"
    seconds = value.total_seconds() if hasattr(value, "total_seconds") else float(value)
    if seconds < 0:
        return "—"
    if seconds < 10:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    whole = round(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min {secs} s"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


@register.filter
def percent(value, digits: int = 0):
    """A share (0–1) as a percentage: 0.8 → "80 %"; "—" for missing."""
    if value is None:
        return "—"
    return f"{float(value) * 100:.{int(digits)}f} %"


@register.filter
def get_item(mapping, key):
    """``mapping[key]`` in templates (None when absent)."""
    if mapping is None:
        return None
    return mapping.get(key)


@register.filter
def filesize(value):
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


@register.simple_tag(takes_context=True)
def can(context, resource: str, action: str, obj=None) -> bool:
    """``{% can "users" "create" as may_manage %}``: the permission gate's answer for the signed-in user."""
    return gate(context["request"].user, resource, action, obj)
