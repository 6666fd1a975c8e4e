"""The API's JSON parser: standard JSON, refused (400, naming the place) when PostgreSQL could not store it.

DRF's parser accepts what Python's ``json`` accepts. Three kinds of such input used to reach the database or deep
recursion and end as a 500:

* NUL characters (``"\\u0000"``) — PostgreSQL text and JSONB cannot hold them;
* lone UTF-16 surrogates (``"\\ud800"``) — not encodable as UTF-8, so the driver fails to send them;
* nesting deeper than ``MAX_JSON_DEPTH`` (or deep enough to exhaust Python's recursion limit) — no Maestro payload
  nests beyond a handful of levels, and later recursive code (validation, error flattening) should never meet it.

``check_json`` walks the parsed value once, iteratively, and raises a ``ValidationError`` naming the first offending
place (``tags[2]``, ``params.lr``). The log-batch endpoint's own parser calls it too.
"""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

MAX_JSON_DEPTH = 32


def _path(parent: str | None, key: Any) -> str:
    if isinstance(key, int):
        return f"{parent or ''}[{key}]"
    return f"{parent}.{key}" if parent else str(key)


def _string_problem(value: str) -> str | None:
    if "\x00" in value:
        return "Null characters are not allowed."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Not valid Unicode (a lone surrogate escape)."
    return None


def check_json(data: Any, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise ``ValidationError`` when ``data`` nests deeper than ``max_depth`` or holds a string (value or key) that
    PostgreSQL cannot store."""
    stack: list[tuple[str | None, Any, int]] = [(None, data, 0)]
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, str):
            problem = _string_problem(value)
            if problem:
                raise ValidationError({path or "non_field_errors": [problem]})
        elif isinstance(value, (dict, list)):
            if depth >= max_depth:
                raise ValidationError({path or "non_field_errors": [f"Nested deeper than {max_depth} levels."]})
            if isinstance(value, dict):
                for key, item in value.items():
                    problem = _string_problem(key)
                    if problem:
                        raise ValidationError({path or "non_field_errors": [f"A key: {problem}"]})
                    stack.append((_path(path, key), item, depth + 1))
            else:
                stack.extend((_path(path, index), item, depth + 1) for index, item in enumerate(value))


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.") from None
        check_json(data)
        return data
