"""MLflow's search filters for experiments, registered models, model versions and logged models, compiled into
Django conditions.

MLflow parses each of these filters with its own small dialect (``SearchExperimentsUtils``,
``SearchModelUtils``, ``SearchModelVersionUtils``, ``search_logged_model_utils``): comparisons on a few named
attributes and on ``tags.<key>`` (logged models also ``params.<key>`` and ``metrics.<key>``), joined by AND. They
are all subsets of the run-search grammar (``apps.metrics.search.grammar``), which also has OR, NOT and
parentheses, so one parser serves every search and this module only says, per searched entity, which attributes
exist, of what type, and where its tags/params/metrics rows are (a ``FilterSpec``). An attribute or comparison the
entity does not have is refused with INVALID_PARAMETER_VALUE naming it, as MLflow refuses it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from django.db.models import Exists, F, Q, QuerySet

from apps.metrics.search.compiler import Like
from apps.metrics.search.grammar import BoolOp, Comparison, Not, SearchSyntaxError, parse_filter, parse_order_item
from apps.mlflow_api.protocol import MlflowError, from_ms

LIKE_OPS = ("LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE")
NULL_OPS = ("IS NULL", "IS NOT NULL")
RANGE_OPS = {"=": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}

STRING, INT, TIME, MS = "string", "int", "time", "ms"


@dataclass(frozen=True)
class Attribute:
    """A searchable attribute: its ORM path and type (``string``; ``int``; ``time``: a datetime field compared with
    milliseconds since the epoch; ``ms``: an integer column holding milliseconds)."""

    field: str
    type: str = STRING


@dataclass(frozen=True)
class FilterSpec:
    """What a filter may name for one searched entity. ``related`` maps ``tag``/``param``/``metric`` to a function
    giving the rows of that key correlated with the outer row (``OuterRef``); metrics compare numbers, tags and
    params strings."""

    entity: str  # for messages: "registered models"
    attributes: Mapping[str, Attribute]
    related: Mapping[str, Callable[[str], QuerySet]] = field(default_factory=dict)
    # comparisons MLflow allows on string attributes and on tags of this entity
    string_ops: frozenset[str] = frozenset(
        {"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN", *NULL_OPS, "NOT LIKE", "NOT ILIKE"}
    )


def parse(text: str | None, field: str = "filter"):
    """The filter's tree (None for an empty filter), or INVALID_PARAMETER_VALUE naming ``field``, the problem and
    where it is."""
    try:
        return parse_filter(text)
    except SearchSyntaxError as exc:
        raise MlflowError(f"Invalid value for parameter '{field}' supplied: {exc}") from None


def parse_order(items: list[str], field: str = "order_by"):
    """Each ``order_by`` item's tree, or INVALID_PARAMETER_VALUE naming the item (``order_by[1]``)."""
    trees = []
    for index, text in enumerate(items):
        try:
            trees.append(parse_order_item(text))
        except SearchSyntaxError as exc:
            raise MlflowError(f"Invalid value for parameter '{field}[{index}]' supplied: {exc}") from None
    return trees


def compile_filter(node, spec: FilterSpec) -> Q:
    """A parsed filter as a condition on ``spec``'s model."""
    if isinstance(node, BoolOp):
        q = compile_filter(node.children[0], spec)
        for child in node.children[1:]:
            q = (q & compile_filter(child, spec)) if node.op == "AND" else (q | compile_filter(child, spec))
        return q
    if isinstance(node, Not):
        return ~compile_filter(node.child, spec)
    cmp: Comparison = node
    kind = cmp.entity.kind
    if kind == "attribute":
        return _attribute_q(cmp, spec)
    if kind not in spec.related:
        raise _unknown_key(str(cmp.entity), spec)
    rows = spec.related[kind](cmp.entity.key)
    if kind == "metric":
        return _number_rows_q(cmp, rows)
    return _string_rows_q(cmp, rows, spec)


def _unknown_key(key: str, spec: FilterSpec) -> MlflowError:
    others = "".join(f", {kind}s.<key>" for kind in sorted(spec.related))
    return MlflowError(
        f"Invalid attribute key '{key}' specified. Valid keys for {spec.entity} are {sorted(spec.attributes)}{others}."
    )


def _values(cmp: Comparison) -> list:
    return [literal.value for literal in cmp.values]


def _strings(cmp: Comparison) -> list[str]:
    values = _values(cmp)
    if not all(isinstance(value, str) for value in values):
        raise MlflowError(f"Expected a quoted string value for '{cmp.entity}'.")
    return values


def _numbers(cmp: Comparison) -> list:
    values = _values(cmp)
    if not all(isinstance(value, (int, float)) for value in values):
        raise MlflowError(f"Expected a numeric value for '{cmp.entity}'.")
    return values


def _string_rows_q(cmp: Comparison, rows: QuerySet, spec: FilterSpec) -> Q:
    op = cmp.op
    if op in NULL_OPS:
        return ~Q(Exists(rows)) if op == "IS NULL" else Q(Exists(rows))
    if op not in spec.string_ops:
        raise MlflowError(f"Invalid comparator '{op}' for '{cmp.entity}' in a search of {spec.entity}.")
    values = _strings(cmp)
    if op in LIKE_OPS:
        like = Like(F("value"), values[0], case_insensitive="ILIKE" in op)
        return Q(Exists(rows.exclude(like) if op.startswith("NOT") else rows.filter(like)))
    if op in ("IN", "NOT IN"):
        return Q(Exists(rows.filter(value__in=values) if op == "IN" else rows.exclude(value__in=values)))
    if op == "!=":
        return Q(Exists(rows.exclude(value=values[0])))
    return Q(Exists(rows.filter(value=values[0])))


def _number_rows_q(cmp: Comparison, rows: QuerySet) -> Q:
    op = cmp.op
    if op in NULL_OPS:
        return ~Q(Exists(rows)) if op == "IS NULL" else Q(Exists(rows))
    values = _numbers(cmp)
    if op == "!=":
        return Q(Exists(rows.exclude(value=values[0])))
    if op in RANGE_OPS:
        return Q(Exists(rows.filter(**{f"value__{RANGE_OPS[op]}": values[0]})))
    if op in ("IN", "NOT IN"):
        return Q(Exists(rows.filter(value__in=values) if op == "IN" else rows.exclude(value__in=values)))
    raise MlflowError(f"Invalid comparator '{op}' for '{cmp.entity}'; use =, !=, <, <=, >, >=.")


def _attribute_q(cmp: Comparison, spec: FilterSpec) -> Q:
    key, op = cmp.entity.key, cmp.op
    attribute = spec.attributes.get(key)
    if attribute is None:
        raise _unknown_key(key, spec)
    name = attribute.field
    if op in NULL_OPS:
        q = Q(**{f"{name}__isnull": True})
        return q if op == "IS NULL" else ~q
    if attribute.type == STRING:
        if op not in spec.string_ops:
            raise MlflowError(f"Invalid comparator '{op}' for attribute '{key}' in a search of {spec.entity}.")
        values = _strings(cmp)
        if op in LIKE_OPS:
            like = Q(Like(F(name), values[0], case_insensitive="ILIKE" in op))
            return ~like if op.startswith("NOT") else like
    else:
        values = _numbers(cmp)
        if op in LIKE_OPS:
            raise MlflowError(f"Invalid comparator '{op}' for numeric attribute '{key}'.")
        if attribute.type in (INT, MS):
            if not all(float(value).is_integer() and -(2**63) <= value < 2**63 for value in values):
                raise MlflowError(f"Invalid value for numeric attribute '{key}': {values[0]!r}")
            values = [int(value) for value in values]
        elif attribute.type == TIME:
            values = [from_ms(key, int(value)) for value in values]
    if op in ("IN", "NOT IN"):
        q = Q(**{f"{name}__in": values})
        return ~q if op == "NOT IN" else q
    if op == "!=":
        return ~Q(**{name: values[0]})
    if op in RANGE_OPS:
        if attribute.type == STRING and op != "=":
            raise MlflowError(f"Invalid comparator '{op}' for string attribute '{key}'.")
        return Q(**{f"{name}__{RANGE_OPS[op]}": values[0]})
    raise MlflowError(f"Invalid comparator '{op}' for attribute '{key}'.")
