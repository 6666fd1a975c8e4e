"""Compile a parsed search (``grammar``) into Django ORM filters and orderings, and page through the result with
keyset page tokens.

Everything user-supplied ends up as a bound query parameter (values, keys, LIKE patterns) — the only SQL text here is
fixed. Semantics:

* ``metrics.<key>`` compares the run's latest value of that metric (``LatestMetric``). NaN never satisfies a
  comparison (as in IEEE 754); ±Infinity compare as usual.
* ``params.<key>`` / ``tags.<key>`` compare strings; with a number on the right (``params.lr < 0.01``) they compare
  numerically and match only values that look like numbers (``-1.5``, ``3e-4``; at most 20 digits before and after
  the point, exponent of at most two digits).
* A comparison on a key the run does not have is false, including ``!=`` and ``NOT IN`` (MLflow's semantics);
  ``IS NULL`` / ``IS NOT NULL`` test presence. ``NOT (…)`` is plain boolean negation.
* Attributes: ``status``, ``name``, ``start_time``, ``end_time``, ``project`` (id, or slug when a string), ``id``,
  ``run_id``/``uuid``, ``user_id`` (the creator's username); MLflow's names work too (``run_name``, ``created``,
  ``experiment_id``). Times accept milliseconds since the epoch or an ISO 8601 string. Status values compare
  case-insensitively, LIKE patterns on status too (MLflow spells them in capitals).
* Ordering puts missing values (and NaN) last in both directions; the run id (descending) breaks ties.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from django.db.models import (
    BooleanField,
    Exists,
    F,
    FilteredRelation,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import NullIf
from django.utils.dateparse import parse_date, parse_datetime

from apps.metrics.choices import RunStatus
from apps.metrics.models import LatestMetric, Run, RunParam, RunTag
from apps.metrics.search.grammar import (
    MAX_ORDER_BY,
    BoolOp,
    Comparison,
    Entity,
    Literal,
    Node,
    Not,
    OrderItem,
    SearchSyntaxError,
    parse_filter,
    parse_order_item,
)

MAX_RESULTS_LIMIT = 1000


class SearchError(ValueError):
    """A search request that cannot run: ``field`` is "filter", "order_by[i]" or "page_token"."""

    def __init__(self, field: str, message: str, *, position: int | None = None, code: str = "invalid"):
        super().__init__(message)
        self.field = field
        self.message = message
        self.position = position
        self.code = code


# attribute name → (model field, type)
ATTRIBUTES: dict[str, tuple[str, str]] = {
    "status": ("status", "status"),
    "name": ("name", "string"),
    "run_name": ("name", "string"),
    "start_time": ("start_time", "time"),
    "end_time": ("end_time", "time"),
    "project": ("project_id", "project"),
    "project_id": ("project_id", "int"),
    "id": ("id", "int"),
    "run_id": ("uuid", "uuid"),
    "uuid": ("uuid", "uuid"),
    "user_id": ("created_by__username", "string"),
    # MLflow's names for the same attributes
    "run name": ("name", "string"),
    "created": ("start_time", "time"),
    "experiment_id": ("project_id", "int"),
}
# Attributes that may be missing (sorted last, never equal to a value).
_NULLABLE_FIELDS = frozenset({"end_time", "created_by__username"})
_COMPARE_LOOKUPS = {"=": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
_ORDERED_OPS = frozenset({"<", "<=", ">", ">="})
_LIKE_OPS = frozenset({"LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE"})


def _fail(message: str, pos: int) -> SearchError:
    return SearchError("filter", message, position=pos)


# ---------------------------------------------------------------------------------------------- values


def _time_value(literal: Literal) -> datetime:
    if literal.is_number:
        try:
            return datetime.fromtimestamp(literal.value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise _fail("Time out of range (milliseconds since the epoch)", literal.pos) from None
    text = str(literal.value)
    try:
        parsed = parse_datetime(text)
        if parsed is None and (day := parse_date(text)) is not None:
            parsed = datetime(day.year, day.month, day.day)
    except ValueError:
        parsed = None
    if parsed is None:
        raise _fail(f"Expected a time: milliseconds since the epoch or ISO 8601, got {text[:40]!r}", literal.pos)
    try:
        return _in_utc(parsed)
    except OverflowError:
        raise _fail(f"Time out of range: {text[:40]!r}", literal.pos) from None


def _in_utc(moment: datetime) -> datetime:
    """``moment`` in UTC (naive means UTC): PostgreSQL refuses offsets beyond ±15:59, which ISO 8601 strings (and
    Python) allow up to ±23:59. OverflowError when the UTC time falls outside years 1–9999."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _attribute_value(name: str, kind: str, literal: Literal) -> tuple[str, Any]:
    """(lookup path, python value) for a literal compared with an attribute."""
    field, _ = ATTRIBUTES[name]
    value = literal.value
    if kind == "time":
        return field, _time_value(literal)
    if kind == "status":
        if not isinstance(value, str) or value.lower() not in RunStatus.values:
            raise _fail(f"Unknown status {value!r}; expected one of {', '.join(RunStatus.values)}", literal.pos)
        return field, value.lower()
    if kind == "string":
        if not isinstance(value, str):
            raise _fail(f"{name} is a string: quote the value", literal.pos)
        return field, value
    if kind == "project":
        if isinstance(value, str):
            return "project__slug", value
        if isinstance(value, int):
            return field, value
        raise _fail("project is an id (integer) or a slug (string)", literal.pos)
    if kind == "int":
        if not isinstance(value, int):
            raise _fail(f"{name} is an integer", literal.pos)
        return field, value
    # uuid: 32 hex characters, dashes optional
    try:
        return field, uuid.UUID(str(value))
    except ValueError:
        raise _fail(f"{name} is a run uuid (32 hex characters)", literal.pos) from None


# ---------------------------------------------------------------------------------------------- filter


def _attribute_q(cmp: Comparison) -> Q:
    name = cmp.entity.key
    if name not in ATTRIBUTES:
        raise _fail(f"Unknown attribute {name!r}; expected one of {', '.join(sorted(ATTRIBUTES))}", cmp.entity.pos)
    field, kind = ATTRIBUTES[name]
    op = cmp.op
    if op in ("IS NULL", "IS NOT NULL"):
        if name != "end_time":
            raise _fail(f"{name} is never null; IS NULL applies to end_time", cmp.pos)
        return Q(end_time__isnull=op == "IS NULL")
    if op in _LIKE_OPS:
        if kind not in ("string", "status"):
            raise _fail(f"{op} applies to strings (name, status, params, tags), not {name}", cmp.pos)
        # Status values are case-insensitive (stored in lower case, MLflow writes them in capitals).
        like = Like(F(field), str(cmp.values[0].value), case_insensitive="ILIKE" in op or kind == "status")
        return ~Q(like) if op.startswith("NOT") else Q(like)
    if op in ("IN", "NOT IN"):
        if kind == "time":
            raise _fail(f"IN does not apply to {name}", cmp.pos)
        pairs = [_attribute_value(name, kind, literal) for literal in cmp.values]
        q = Q()
        for path, value in pairs:
            q |= Q(**{path: value})
        return ~q if op == "NOT IN" else q
    if op in _ORDERED_OPS and kind in ("status", "project", "uuid"):
        raise _fail(f"{op} does not apply to {name}; use =, != or IN", cmp.pos)
    path, value = _attribute_value(name, kind, cmp.values[0])
    if op == "!=":
        q = ~Q(**{path: value})
        return q & Q(end_time__isnull=False) if name == "end_time" else q
    return Q(**{f"{path}__{_COMPARE_LOOKUPS[op]}": value})


class Like(Func):
    """``text LIKE pattern`` (or ILIKE): SQL wildcards ``%`` and ``_``, backslash escapes, pattern bound as a
    parameter. Django's contains/startswith lookups escape wildcards, which is not what a LIKE filter means."""

    output_field = BooleanField()

    def __init__(self, expression, pattern: str, *, case_insensitive: bool):
        super().__init__(expression, Value(pattern))
        self.operator = "ILIKE" if case_insensitive else "LIKE"

    def as_sql(self, compiler, connection, **extra_context):
        lhs, lhs_params = compiler.compile(self.source_expressions[0])
        rhs, rhs_params = compiler.compile(self.source_expressions[1])
        return f"({lhs})::text {self.operator} {rhs}", [*lhs_params, *rhs_params]


def _like(field: str, op: str, pattern: str) -> Like:
    return Like(F(field), pattern, case_insensitive="ILIKE" in op)


def _presence(rows: QuerySet, op: str) -> Q:
    """IS NULL / IS NOT NULL on a metric, param or tag: whether the run has the key at all."""
    return ~Q(Exists(rows)) if op == "IS NULL" else Q(Exists(rows))


def _metric_q(cmp: Comparison) -> Q:
    key, op = cmp.entity.key, cmp.op
    rows = LatestMetric.objects.filter(run=OuterRef("pk"), key=key)
    if op in ("IS NULL", "IS NOT NULL"):
        return _presence(rows, op)
    if op in _LIKE_OPS:
        raise _fail(f"{op} does not apply to metrics (numbers)", cmp.pos)
    for literal in cmp.values:
        if not literal.is_number:
            raise _fail(f"metrics.{key} is a number: compare it with a number", literal.pos)
    rows = rows.exclude(value=math.nan)
    return Q(Exists(_compare(rows, "value", op, [float(literal.value) for literal in cmp.values])))


def _compare_q(field: str, op: str, values: list) -> Q:
    """``field`` satisfies ``op`` against ``values`` (one value unless IN)."""
    if op in ("IN", "NOT IN"):
        q = Q(**{f"{field}__in": values})
        return q if op == "IN" else ~q
    if op == "!=":
        return ~Q(**{field: values[0]})
    return Q(**{f"{field}__{_COMPARE_LOOKUPS[op]}": values[0]})


def _compare(rows: QuerySet, field: str, op: str, values: list) -> QuerySet:
    """``rows`` narrowed to those whose ``field`` satisfies ``op`` against ``values`` (one value unless IN)."""
    return rows.filter(_compare_q(field, op, values))


def _kv_q(cmp: Comparison, model) -> Q:
    key, op = cmp.entity.key, cmp.op
    rows = model.objects.filter(run=OuterRef("pk"), key=key)
    if op in ("IS NULL", "IS NOT NULL"):
        return _presence(rows, op)
    if op in _LIKE_OPS:
        like = _like("value", op, str(cmp.values[0].value))
        return Q(Exists(rows.exclude(like) if op.startswith("NOT") else rows.filter(like)))
    numeric = [literal.is_number for literal in cmp.values]
    if any(numeric) and not all(numeric):
        raise _fail("Mix of numbers and strings in one IN list", cmp.pos)
    if all(numeric):
        field, values = "value_number", [float(literal.value) for literal in cmp.values]
        if op in ("!=", "NOT IN"):  # the other comparisons are already false for NULL (not a number)
            rows = rows.filter(value_number__isnull=False)
    else:
        field, values = "value", [str(literal.value) for literal in cmp.values]
    return Q(Exists(_compare(rows, field, op, values)))


def compile_node(node: Node) -> Q:
    if isinstance(node, BoolOp):
        q = compile_node(node.children[0])
        for child in node.children[1:]:
            q = (q & compile_node(child)) if node.op == "AND" else (q | compile_node(child))
        return q
    if isinstance(node, Not):
        return ~compile_node(node.child)
    kind = node.entity.kind
    if kind == "attribute":
        return _attribute_q(node)
    if kind == "metric":
        return _metric_q(node)
    return _kv_q(node, RunParam if kind == "param" else RunTag)


# ---------------------------------------------------------------------------------------------- ordering


@dataclass(frozen=True)
class SortKey:
    """One ORDER BY expression, annotated on the queryset as ``alias``; ``kind`` says how its cursor value is
    encoded in page tokens; ``joins`` are the LEFT JOINs it needs (alias → FilteredRelation)."""

    alias: str
    expression: Any
    descending: bool
    kind: str  # float | string | time | int | uuid
    nullable: bool = True
    joins: tuple[tuple[str, FilteredRelation], ...] = ()
    metric: str | None = None  # the metric key, when this sorts by a run's latest value of a metric


def _sort_keys(item: OrderItem, index: int) -> list[SortKey]:
    """Sort keys for one order_by item. Metrics, params and tags are LEFT JOINed on (run, key) — unique, so at most
    one row per run — which PostgreSQL resolves with one pass over the key's rows instead of a correlated lookup
    per candidate run, and which page-token predicates can reference cheaply."""
    entity: Entity = item.entity
    alias = f"_o{index}"
    if entity.kind == "attribute":
        if entity.key not in ATTRIBUTES:
            raise SearchError(
                f"order_by[{index}]",
                f"Unknown attribute {entity.key!r}; expected one of {', '.join(sorted(ATTRIBUTES))}",
                position=entity.pos,
            )
        field, kind = ATTRIBUTES[entity.key]
        sort_kind = {"status": "string", "project": "int"}.get(kind, kind)
        return [SortKey(alias, F(field), item.descending, sort_kind, nullable=field in _NULLABLE_FIELDS)]
    join = f"_j{index}"
    if entity.kind == "metric":
        relation = FilteredRelation("latest_metrics", condition=Q(latest_metrics__key=entity.key))
        expression = NullIf(F(f"{join}__value"), Value(math.nan, output_field=FloatField()))
        return [SortKey(alias, expression, item.descending, "float", joins=((join, relation),), metric=entity.key)]
    related = "params" if entity.kind == "param" else "tags"
    relation = FilteredRelation(related, condition=Q(**{f"{related}__key": entity.key}))
    # Numbers first, in numeric order, then the other values as strings: "1e-3" < "0.01" < "0.1" < "adam".
    return [
        SortKey(f"{alias}n", F(f"{join}__value_number"), item.descending, "float", joins=((join, relation),)),
        SortKey(f"{alias}s", F(f"{join}__value"), item.descending, "string"),
    ]


def compile_order_by(order_by: list[str] | None) -> tuple[list[SortKey], list[str]]:
    """Sort keys and the normalised order_by (for the page-token fingerprint)."""
    if order_by is None:
        order_by = []
    if not isinstance(order_by, list) or not all(isinstance(item, str) for item in order_by):
        raise SearchError("order_by", 'A list of strings such as ["metrics.accuracy DESC", "start_time"].')
    if len(order_by) > MAX_ORDER_BY:
        raise SearchError("order_by", f"At most {MAX_ORDER_BY} order_by items.", code="too_complex")
    items = []
    for index, text in enumerate(order_by):
        try:
            items.append(parse_order_item(text))
        except SearchSyntaxError as exc:
            raise SearchError(f"order_by[{index}]", exc.message, position=exc.position, code=exc.code) from None
    if not items:
        items = [OrderItem(Entity("attribute", "start_time", 0), descending=True)]
    keys = [key for index, item in enumerate(items) for key in _sort_keys(item, index)]
    normalised = [f"{item.entity} {'DESC' if item.descending else 'ASC'}" for item in items]
    return keys, normalised


# ---------------------------------------------------------------------------------------------- page tokens


def _encode_value(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "float":
        return value if math.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")
    if kind == "time":
        return value.isoformat()
    if kind == "uuid":
        return value.hex
    return value


def _decode_value(kind: str, raw: Any) -> Any:
    if raw is None:
        return None
    if kind == "float":
        if raw in ("Infinity", "-Infinity"):
            return float(raw)
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
    elif kind == "time" and isinstance(raw, str):
        parsed = parse_datetime(raw)
        if parsed is not None:
            return _in_utc(parsed)
    elif kind == "uuid" and isinstance(raw, str):
        return uuid.UUID(raw)
    elif kind == "int" and _is_int64(raw):
        return raw
    elif kind == "string" and isinstance(raw, str) and "\x00" not in raw:
        raw.encode()  # a lone surrogate raises UnicodeEncodeError (a ValueError): PostgreSQL could not take it
        return raw
    raise ValueError(kind)


def _is_int64(value: Any) -> bool:
    return type(value) is int and -(2**63) <= value < 2**63


def _fingerprint(filter_text: str, normalised_order: list[str]) -> str:
    return hashlib.sha256(json.dumps([filter_text.strip(), normalised_order]).encode()).hexdigest()[:16]


def encode_page_token(run: Run, keys: list[SortKey], fingerprint: str) -> str:
    payload = {
        "q": fingerprint,
        "v": [_encode_value(key.kind, getattr(run, key.alias)) for key in keys],
        "id": run.pk,
    }
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, keys: list[SortKey], fingerprint: str) -> tuple[list[Any], int]:
    invalid = SearchError("page_token", "Invalid page token; use the next_page_token of a previous response.")
    if not isinstance(token, str) or len(token) > 8192:
        raise invalid
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        values, last_id = payload["v"], payload["id"]
        if payload["q"] != fingerprint:
            raise SearchError(
                "page_token", "This page token belongs to a different filter/order_by; repeat the same query."
            )
        if not isinstance(values, list) or len(values) != len(keys) or not _is_int64(last_id):
            raise invalid
        return [_decode_value(key.kind, raw) for key, raw in zip(keys, values, strict=True)], last_id
    except SearchError:
        raise
    except (binascii.Error, UnicodeDecodeError, ValueError, KeyError, TypeError, OverflowError):
        raise invalid from None


def _after_cursor(keys: list[SortKey], values: list[Any], last_id: int) -> Q:
    """Rows strictly after the cursor in (keys…, id DESC) order with NULLs last in both directions."""
    condition = Q(pk__in=[])
    equal_so_far = Q()
    for key, value in zip(keys, values, strict=True):
        if value is None:
            # Only NULLs come after a NULL, and they are equal to it: move on to the next key.
            equal_so_far &= Q(**{f"{key.alias}__isnull": True})
            continue
        beyond = Q(**{f"{key.alias}__{'lt' if key.descending else 'gt'}": value})
        if key.nullable:
            beyond |= Q(**{f"{key.alias}__isnull": True})
        condition |= equal_so_far & beyond
        equal_so_far &= Q(**{key.alias: value})
    return condition | (equal_so_far & Q(pk__lt=last_id))


# ---------------------------------------------------------------------------------------------- entry point


@dataclass
class SearchPage:
    runs: list[Run]
    next_page_token: str | None


def _ordering(keys: list[SortKey]) -> list:
    return [
        (F(key.alias).desc(nulls_last=True) if key.descending else F(key.alias).asc(nulls_last=True))
        if key.nullable
        else (F(key.alias).desc() if key.descending else F(key.alias).asc())
        for key in keys
    ]


def _page(queryset: QuerySet[Run], keys: list[SortKey], condition: Q | None, limit: int) -> list[Run]:
    """Up to ``limit`` runs of ``queryset`` annotated with ``keys``, narrowed by ``condition``, in key order."""
    # Cloned: a query binds the FilteredRelation it is given to itself, and a search may build two queries.
    joins = {alias: relation.clone() for key in keys for alias, relation in key.joins}
    if joins:
        queryset = queryset.annotate(**joins)
    queryset = queryset.annotate(**{key.alias: key.expression for key in keys})
    if condition is not None:
        queryset = queryset.filter(condition)
    return list(queryset.order_by(*_ordering(keys), "-pk")[:limit])


def _conjuncts(node: Node | None) -> list[Node]:
    """The terms of the filter's top-level AND (the filter itself when it is not an AND)."""
    if node is None:
        return []
    if isinstance(node, BoolOp) and node.op == "AND":
        return [term for child in node.children for term in _conjuncts(child)]
    return [node]


def _requires_metric(node: Node | None, key: str) -> bool:
    """Whether every run matching ``node`` has a latest value of metric ``key`` that is not NaN: every comparison
    on a metric does (``_metric_q`` leaves NaN out); ``IS NOT NULL`` and anything under ``NOT`` do not."""
    if node is None or isinstance(node, Not):
        return False
    if isinstance(node, BoolOp):
        requires = [_requires_metric(child, key) for child in node.children]
        return any(requires) if node.op == "AND" else all(requires)
    return node.entity.kind == "metric" and node.entity.key == key and node.op not in ("IS NULL", "IS NOT NULL")


def _metric_ordered_page(
    queryset: QuerySet[Run],
    terms: list[tuple[Node, Q]],
    keys: list[SortKey],
    cursor: tuple[list[Any], int] | None,
    limit: int,
) -> list[Run]:
    """The page of a search ordered first by a metric, in two parts with the same result as the general plan's one
    ORDER BY (``terms``: the filter's top-level AND terms, each with its compiled condition).

    1. Runs that have a value (not NaN), ordered by the raw ``value`` of the joined latest-metric row: PostgreSQL can
       then walk ``latest_metric_key_value_idx`` (key, value) in order (backwards for DESC; ``value < 'NaN'`` is the
       index bound that leaves NaN out), probe the other filters per run through their (run, key) indexes, and stop
       after ``limit`` rows instead of matching every run of the project and sorting them; an incremental sort puts
       ties on the value in order. Comparisons on the same metric in the top-level AND become conditions on the
       joined row (the same thing, as (run, key) is unique) — index bounds, and one relation less to plan. Whether
       the index walk beats a hash plan stays PostgreSQL's cost-based decision.
    2. Only when the page is not full and the filter lets them match: the runs without a value (missing or NaN),
       which sort last in both directions — the general plan restricted to them.
    """
    first = keys[0]
    ((join, _),) = first.joins
    present = [replace(first, expression=F(f"{join}__value"), nullable=False), *keys[1:]]
    runs: list[Run] = []
    if cursor is None or cursor[0][0] is not None:
        condition = Q(**{f"{first.alias}__lt": math.nan})
        narrowed, contradiction = queryset, False
        for node, q in terms:
            if isinstance(node, Comparison) and node.entity.kind == "metric" and node.entity.key == first.metric:
                if node.op in ("IS NULL", "IS NOT NULL"):
                    # IS NOT NULL is implied by having a value; IS NULL contradicts it (only the tail can match).
                    contradiction |= node.op == "IS NULL"
                    continue
                condition &= _compare_q(first.alias, node.op, [float(literal.value) for literal in node.values])
            else:
                narrowed = narrowed.filter(q)
        if not contradiction:
            if cursor is not None:
                values, last_id = cursor
                bound = "lte" if first.descending else "gte"  # implied by the cursor condition; an index bound
                condition &= Q(**{f"{first.alias}__{bound}": values[0]}) & _after_cursor(present, values, last_id)
            runs = _page(narrowed, present, condition, limit)
            if len(runs) == limit or any(_requires_metric(node, first.metric) for node, _ in terms):
                return runs
        cursor = None  # every run without a value comes after every run with one
    for _, q in terms:
        queryset = queryset.filter(q)
    tail = Q(**{f"{first.alias}__isnull": True}) if cursor is None else _after_cursor(keys, *cursor)
    return runs + _page(queryset, keys, tail, limit - len(runs))


def search_runs(
    queryset: QuerySet[Run],
    *,
    filter_text: str | None,
    order_by: list[str] | None,
    max_results: int,
    page_token: str | None,
    max_results_limit: int = MAX_RESULTS_LIMIT,
    index_ordered: bool = True,
) -> SearchPage:
    """Apply filter, order and keyset pagination to ``queryset`` (already scoped to what the user may see).
    ``max_results_limit`` is the largest page allowed (MLflow's API allows 50,000 runs per page).
    ``index_ordered=False`` forces the general plan for searches ordered by a metric (tests compare the two)."""
    if not isinstance(max_results, int) or isinstance(max_results, bool) or not 1 <= max_results <= max_results_limit:
        raise SearchError("max_results", f"Must be an integer from 1 to {max_results_limit}.")
    if filter_text is not None and not isinstance(filter_text, str):
        raise SearchError("filter", "Must be a string.")
    try:
        tree = parse_filter(filter_text)
    except SearchSyntaxError as exc:
        raise SearchError("filter", exc.message, position=exc.position, code=exc.code) from None
    terms = [(node, compile_node(node)) for node in _conjuncts(tree)]
    keys, normalised = compile_order_by(order_by)
    fingerprint = _fingerprint(filter_text or "", normalised)
    cursor = decode_page_token(page_token, keys, fingerprint) if page_token else None
    limit = max_results + 1
    if index_ordered and keys[0].metric is not None:
        runs = _metric_ordered_page(queryset, terms, keys, cursor, limit)
    else:
        for _, q in terms:
            queryset = queryset.filter(q)
        runs = _page(queryset, keys, None if cursor is None else _after_cursor(keys, *cursor), limit)
    next_token = None
    if len(runs) > max_results:
        runs = runs[:max_results]
        next_token = encode_page_token(runs[-1], keys, fingerprint)
    return SearchPage(runs=runs, next_page_token=next_token)


def search_count(queryset: QuerySet[Run], *, filter_text: str | None, limit: int) -> tuple[int, bool]:
    """How many runs of ``queryset`` match ``filter_text``, counted up to ``limit``: (count, whether there are more).
    The dashboard's total next to a page of results; a wrong filter raises SearchError as ``search_runs`` does."""
    try:
        tree = parse_filter(filter_text)
    except SearchSyntaxError as exc:
        raise SearchError("filter", exc.message, position=exc.position, code=exc.code) from None
    for node in _conjuncts(tree):
        queryset = queryset.filter(compile_node(node))
    found = queryset.order_by().values("pk")[: limit + 1].count()
    return min(found, limit), found > limit
