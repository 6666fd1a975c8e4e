"""Value formatting identical to DRF's fields, for hand-written ``to_representation`` on hot list endpoints.

A ModelSerializer spends most of a list response in per-field machinery (attribute lookup, ``to_representation`` of
each field object). Serializers of hot lists keep their declared fields — the OpenAPI schema and input validation
come from them — and override ``to_representation`` with plain attribute reads formatted by these helpers; a test
compares each override with DRF's generic output.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone


def iso_datetime(value: datetime | str | None) -> str | None:
    """As ``serializers.DateTimeField``: ISO 8601 in the current time zone, ``Z`` for UTC. Accepts PostgreSQL's JSON
    text of a timestamptz too (fractional digits trimmed, ``+00:00``)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    text = timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def iso_date(value: date | None) -> str | None:
    return value.isoformat() if value else None


def as_float(value) -> float | None:
    return None if value is None else float(value)


def as_decimal(value, places: int) -> Decimal | None:
    """As ``serializers.DecimalField(coerce_to_string=False)``: quantized to ``places`` decimals."""
    if value is None:
        return None
    value = value if isinstance(value, Decimal) else Decimal(str(value))
    return value.quantize(Decimal(1).scaleb(-places))


def resolve_row(instance, row: dict[str, str]) -> dict:
    """``row`` (key → ORM path) read from a model instance: the same dict PostgreSQL builds for the list."""
    out = {}
    for key, path in row.items():
        value = instance
        for part in path.split("__"):
            value = None if value is None else getattr(value, part)
        out[key] = value
    return out


__all__ = ["as_decimal", "as_float", "iso_date", "iso_datetime", "resolve_row"]
