"""CSV exports of the dashboard's tables: what the lead sees, filtered and sorted as on the page, every page of it.

A list view answers ``?format=csv`` on its own URL (same access rules, same filters, no extra route) with
:func:`csv_response`. Cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR first) get
a leading apostrophe, like the audit export; numbers are written as numbers.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    def write(self, value: str) -> str:
        return value


def cell(value: Any) -> Any:
    """A value as a CSV cell: None → empty, dates ISO 8601 (UTC for datetimes), lists comma-joined, formulas defused."""
    if value is None:
        return ""
    if isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if timezone.is_aware(value) else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(item) for item in value)
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


def wants_csv(request) -> bool:
    return request.GET.get("format") == "csv"


def csv_response(name: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> StreamingHttpResponse:
    """``rows`` streamed as ``<name>-<UTC time>.csv`` (an attachment), after ``header``."""
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return response
