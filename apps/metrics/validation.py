"""Explicit validation of run data: keys, param/tag values, float64 metric values, int64 steps and timestamps, and the
``log-batch`` payload.

This is the ingest hot path, so it is plain Python over the decoded JSON instead of DRF serializers (a
ModelSerializer per point costs more than the database insert). Every problem is reported with the path of the
offending item (``metrics[3].value``) in a Django ``ValidationError`` whose ``error_dict`` keys are those paths, which
the shared API error handler renders as ``{"field": "metrics[3].value", ...}``.

Limits follow MLflow's: at most 1000 metrics, 100 params and 100 tags per batch; keys ≤ 250 characters of
``[\\w.\\-/ :]`` (MLflow's rule outside Windows); param values ≤ 6000 characters, tag values ≤ 8000 characters.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from apps.metrics.models import KEY_MAX_LENGTH, PARAM_VALUE_MAX_LENGTH, TAG_VALUE_MAX_LENGTH

MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
MAX_TAGS_PER_BATCH = 100
# More errors than this in one batch are not worth listing; the first ones are enough to fix the client.
MAX_REPORTED_ERRORS = 50

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_KEY_RE = re.compile(r"[\w.\-/ :]+")
# Accepted spellings of the non-finite float64 values, as JSON strings (JSON itself has no NaN or Infinity).
NON_FINITE_STRINGS = {
    "nan": math.nan,
    "infinity": math.inf,
    "+infinity": math.inf,
    "inf": math.inf,
    "+inf": math.inf,
    "-infinity": -math.inf,
    "-inf": -math.inf,
}


class OutOfRangeFloat:
    """A JSON number literal too large for float64 (e.g. ``1e400``). The JSON decoder produces it instead of silently
    turning the number into Infinity, so validation can name the item."""

    __slots__ = ("literal",)

    def __init__(self, literal: str):
        self.literal = literal


def parse_json_float(literal: str) -> float | OutOfRangeFloat:
    """``parse_float`` hook for ``json.loads``: like ``float`` but overflow is kept as an error marker."""
    value = float(literal)
    if math.isinf(value):
        return OutOfRangeFloat(literal)
    return value


def key_problem(key: Any) -> str | None:
    """Why ``key`` cannot name a metric, param or tag, or None when it can.

    Besides MLflow's character rule, keys are path-like names that must stay unambiguous in URLs
    (``/runs/{id}/metrics/{key}/history``): no leading or trailing ``/``, no empty, ``.`` or ``..`` segments.
    """
    if not isinstance(key, str):
        return "Must be a string."
    if not key:
        return "Must not be empty."
    if len(key) > KEY_MAX_LENGTH:
        return f"Must be at most {KEY_MAX_LENGTH} characters (got {len(key)})."
    if not _KEY_RE.fullmatch(key):
        return "May contain only letters, digits, underscores, dashes, periods, spaces, colons and slashes."
    if key.startswith("/") or key.endswith("/") or any(part in ("", ".", "..") for part in key.split("/")):
        return "Must be a relative path-like name: no leading or trailing '/', no '//', '.' or '..' segments."
    return None


def float64_or_problem(value: Any) -> tuple[float, None] | tuple[None, str]:
    """A metric value as float64: a JSON number (NaN/Infinity/-Infinity literals included, as Python's json emits
    them) or one of the strings "NaN", "Infinity", "-Infinity"."""
    if isinstance(value, float):
        return value, None
    if isinstance(value, bool) or value is None:
        return None, "A number is required."
    if isinstance(value, int):
        try:
            return float(value), None
        except OverflowError:
            return None, "Out of float64 range."
    if isinstance(value, OutOfRangeFloat):
        return None, f"Out of float64 range ({value.literal[:40]})."
    if isinstance(value, str) and value.lower() in NON_FINITE_STRINGS:
        return NON_FINITE_STRINGS[value.lower()], None
    return None, 'A number is required (or one of the strings "NaN", "Infinity", "-Infinity").'


def int64_or_problem(value: Any) -> tuple[int, None] | tuple[None, str]:
    if isinstance(value, bool) or not isinstance(value, int):
        return None, "An integer is required."
    if not INT64_MIN <= value <= INT64_MAX:
        return None, "Out of int64 range."
    return value, None


def float64_to_json(value: float) -> float | str:
    """The API representation of a float64: a JSON number when finite, else "NaN", "Infinity" or "-Infinity"."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _key_value_problems(key: Any, value: Any, max_length: int) -> dict[str, str]:
    errors = {}
    if problem := key_problem(key):
        errors["key"] = problem
    if not isinstance(value, str):
        errors["value"] = "A string is required."
    elif len(value) > max_length:
        errors["value"] = f"Must be at most {max_length} characters (got {len(value)})."
    return errors


def validate_param(key: Any, value: Any) -> dict[str, str]:
    """Problems with one param, by field name (empty when valid)."""
    return _key_value_problems(key, value, PARAM_VALUE_MAX_LENGTH)


def validate_tag(key: Any, value: Any) -> dict[str, str]:
    """Problems with one tag, by field name (empty when valid)."""
    return _key_value_problems(key, value, TAG_VALUE_MAX_LENGTH)


@dataclass
class LogBatch:
    """A validated batch, as column lists ready for ``unnest``. Params keep their index for error messages; tags
    are de-duplicated (the last value of a key wins)."""

    metric_keys: list[str] = field(default_factory=list)
    metric_values: list[float] = field(default_factory=list)
    metric_steps: list[int] = field(default_factory=list)
    metric_timestamps: list[int] = field(default_factory=list)
    params: dict[str, tuple[int, str]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not (self.metric_keys or self.params or self.tags)


class _Errors:
    def __init__(self):
        self.by_field: dict[str, list[str]] = {}
        self.count = 0

    def add(self, path: str, message: str) -> None:
        self.count += 1
        if self.count <= MAX_REPORTED_ERRORS:
            self.by_field.setdefault(path, []).append(message)

    def raise_if_any(self) -> None:
        if self.by_field:
            if self.count > MAX_REPORTED_ERRORS:
                self.by_field.setdefault("__all__", []).append(
                    f"{self.count} problems in total; only the first {MAX_REPORTED_ERRORS} are listed."
                )
            raise ValidationError(self.by_field)


_METRIC_FIELDS = frozenset({"key", "value", "step", "timestamp"})
_KV_FIELDS = frozenset({"key", "value"})
_BATCH_FIELDS = {"metrics": MAX_METRICS_PER_BATCH, "params": MAX_PARAMS_PER_BATCH, "tags": MAX_TAGS_PER_BATCH}


def _items(data: dict, name: str, errors: _Errors) -> list:
    items = data.get(name)
    if items is None:
        return []
    if not isinstance(items, list):
        errors.add(name, "Must be a list.")
        return []
    limit = _BATCH_FIELDS[name]
    if len(items) > limit:
        errors.add(name, f"At most {limit} {name} per batch (got {len(items)}).")
        return []
    return items


def _unknown_fields(item: dict, allowed: frozenset, path: str, errors: _Errors) -> None:
    if len(item) > len(allowed) or not item.keys() <= allowed:
        for name in sorted(set(item) - allowed):
            errors.add(f"{path}.{name}"[:300], "Unknown field.")


def _check_metric(index: int, item: Any, errors: _Errors) -> tuple[str, float, int, int] | None:
    """Validate one metric item completely, recording every problem; the point when it is valid."""
    path = f"metrics[{index}]"
    if not isinstance(item, dict):
        errors.add(path, "Must be an object with key, value, timestamp and optional step.")
        return None
    before = errors.count
    _unknown_fields(item, _METRIC_FIELDS, path, errors)
    key = item.get("key")
    if problem := key_problem(key):
        errors.add(f"{path}.key", problem)
    value, problem = float64_or_problem(item.get("value"))
    if problem:
        errors.add(f"{path}.value", problem)
    step = item.get("step")
    if step is None:
        step = 0
    else:
        step, problem = int64_or_problem(step)
        if problem:
            errors.add(f"{path}.step", problem)
    timestamp = item.get("timestamp")
    if timestamp is None:
        # A server-side default would make a retried batch look new (different timestamp) and duplicate points.
        errors.add(f"{path}.timestamp", "Required: milliseconds since the epoch (int64).")
    else:
        timestamp, problem = int64_or_problem(timestamp)
        if problem:
            errors.add(f"{path}.timestamp", problem)
    return None if errors.count > before else (key, value, step, timestamp)


def _valid_key_values(data: dict, name: str, validate, errors: _Errors):
    """(index, key, value) of the valid items of the params or tags list; problems go to ``errors``."""
    for index, item in enumerate(_items(data, name, errors)):
        path = f"{name}[{index}]"
        if not isinstance(item, dict):
            errors.add(path, "Must be an object with key and value.")
            continue
        _unknown_fields(item, _KV_FIELDS, path, errors)
        problems = validate(item.get("key"), item.get("value"))
        for field_name, problem in problems.items():
            errors.add(f"{path}.{field_name}", problem)
        if not problems:
            yield index, item["key"], item["value"]


def parse_log_batch(data: Any) -> LogBatch:
    """Validate a decoded ``log-batch`` body completely and return it as a LogBatch, or raise ValidationError listing
    every problem (up to MAX_REPORTED_ERRORS) by item path. Nothing is written here."""
    errors = _Errors()
    if not isinstance(data, dict):
        raise ValidationError({"__all__": ['The body must be a JSON object: {"metrics": [...], "params": [...], …}.']})
    for name in sorted(set(data) - set(_BATCH_FIELDS)):
        errors.add(str(name)[:250], "Unknown field; a batch has metrics, params and tags.")
    batch = LogBatch()

    keys, values = batch.metric_keys, batch.metric_values
    steps, timestamps = batch.metric_steps, batch.metric_timestamps
    good_keys: set[str] = set()  # a batch repeats a handful of keys a thousand times: check each once
    for index, item in enumerate(_items(data, "metrics", errors)):
        # Fast path: the shape every well-behaved client sends. Anything else gets the detailed checks below.
        if type(item) is dict and len(item) <= 4:
            key, value, step, timestamp = item.get("key"), item.get("value"), item.get("step", 0), item.get("timestamp")
            if (
                type(key) is str
                and key in good_keys
                and type(value) is float
                and type(step) is int
                and type(timestamp) is int
                and INT64_MIN <= step <= INT64_MAX
                and INT64_MIN <= timestamp <= INT64_MAX
                and item.keys() <= _METRIC_FIELDS
            ):
                keys.append(key)
                values.append(value)
                steps.append(step)
                timestamps.append(timestamp)
                continue
        point = _check_metric(index, item, errors)
        if point is not None and not errors.count:
            good_keys.add(point[0])
            keys.append(point[0])
            values.append(point[1])
            steps.append(point[2])
            timestamps.append(point[3])

    for index, key, value in _valid_key_values(data, "params", validate_param, errors):
        earlier = batch.params.get(key)
        if earlier is None:
            batch.params[key] = (index, value)
        elif earlier[1] != value:
            errors.add(
                f"params[{index}].value",
                f"Param '{key}' appears again with a different value (see params[{earlier[0]}]).",
            )
    for _, key, value in _valid_key_values(data, "tags", validate_tag, errors):
        batch.tags[key] = value

    errors.raise_if_any()
    return batch
