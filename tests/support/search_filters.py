"""Hypothesis strategies that write run-search filters and ``order_by`` items from the grammar's productions
(``apps/metrics/search/grammar.py``), leaning on the edges that reach PostgreSQL: LIKE patterns with ``%``, ``_`` and
backslashes (trailing, doubled, escaping a quote), quotes in values and keys, NUL and lone surrogates, unicode,
integers at and beyond int64, floats at and beyond float64, times with extreme offsets, IN lists mixing types, NOT,
parentheses and AND/OR chains, every prefix spelling.

Most comparisons are *typed*: an operand with the kind of value it takes (a metric with numbers, a param or tag with
strings, numbers or a LIKE pattern, a time attribute with milliseconds or ISO strings, …), so most filters compile
and their values reach the database; the rest pair any operand with any operator and value, which exercises the
error paths. The keys of ``KEYS`` are the ones ``tests/reliability/test_fuzz_search.py`` stores, so comparisons and
LIKE patterns are evaluated against real rows — PostgreSQL checks a LIKE pattern only when a row reaches it.
"""

from __future__ import annotations

import math
import re

from hypothesis import strategies as st

from apps.metrics.search.compiler import ATTRIBUTES
from apps.metrics.search.grammar import KEYWORDS

# Keys the seeded data holds, per kind.
KEYS = {
    "metric": ("loss", "acc", "train/loss", "val loss"),
    "param": ("lr", "opt", "depth", "a b"),
    "tag": ("source", "team", "note", "mlflow.runName"),
}
PREFIXES = {
    "metric": ("metrics", "metric", "METRICS"),
    "param": ("params", "param", "parameters", "parameter"),
    "tag": ("tags", "tag", "Tags"),
    "attribute": ("attributes", "attribute", "attr", "run"),
}
# attribute → value type, for run search (the compiler's own table) and for experiment search (MLflow's attributes).
RUN_ATTRIBUTES = {name: kind for name, (_, kind) in ATTRIBUTES.items()}
EXPERIMENT_ATTRIBUTES = {"name": "string", "creation_time": "ms", "last_update_time": "ms", "experiment_id": "int"}
COMPARATORS = ("=", "!=", "<>", "<", "<=", ">", ">=")
LIKE_OPERATORS = ("LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE", "like", "ilike")

# Characters that matter to the tokenizer, to LIKE, to PostgreSQL or to text encodings.
SPECIAL_CHARACTERS = ("%", "_", "\\", "'", '"', "`", "\x00", "\ud800", "\udfff", "\n", "\t", " ", ".", "é", "😀",
                      "\u202e", "ß", "İ")  # fmt: skip
TEXT = st.text(
    alphabet=st.one_of(st.sampled_from(SPECIAL_CHARACTERS), st.characters(codec="utf-8"), st.sampled_from("ab%_\\")),
    max_size=12,
)
STRING_EDGES = (
    "", "\\", "%\\", "%\\\\", "\\\\\\", "a\\%", "50\\%", "\\_", "%", "_", "'", "''", "x\x00y", "\ud800", "adam",
    "0.01", "1e-3", "NaN", "Infinity", "-7", "x" * 300,
)  # fmt: skip
TIME_STRINGS = (
    "2026-01-01", "2026-01-03T12:00:00", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00+16:30",
    "9999-12-31T23:59:59-15:59", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+05:00", "0001-01-01", "9999-12-31",
    "2026-13-45", "2026-02-30", "1e3", "",
)  # fmt: skip
STATUSES = ("FINISHED", "running", "Killed", "FAILED", "SCHEDULED", "bogus", "")
UUIDS = ("0123456789abcdef0123456789abcdef", "01234567-89ab-cdef-0123-456789abcdef", "xyz", "")
NUMBER_EDGES = (
    "0", "-0", "+0", "1", "-1", ".5", "5.", "1e-3", "1E+308", "1e309", "-1e400", "1e-400", "9223372036854775807",
    "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "18446744073709551616", "1" + "0" * 40,
    "2147483648", "-2147483649", "1767225600000", "-62135596800000", "-62135596800001", "253402300799999",
    "253402300800000", "1e18", "0.1e2",
)  # fmt: skip
_BARE_KEY = re.compile(r"[A-Za-z_][\w\-/]*(\.[\w\-/]+)*")


def _escaped(value: str, quote: str) -> str:
    """``value`` as a quoted string the grammar decodes back to ``value``."""
    return quote + value.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote


def _doubled(value: str, quote: str) -> str:
    """The other way to quote: the quote doubled (backslashes still escaped)."""
    return quote + value.replace("\\", "\\\\").replace(quote, quote * 2) + quote


def _raw(value: str, quote: str) -> str:
    """``value`` between quotes as it is: its backslashes become escapes (or break the string)."""
    return quote + value + quote


@st.composite
def quoted(draw, values) -> str:
    """A string literal holding one of ``values``, mostly quoted correctly, sometimes raw."""
    value = draw(values)
    quote = draw(st.sampled_from("'\""))
    render = draw(st.sampled_from((_escaped, _escaped, _doubled, _raw)))
    return render(value, quote)


string_values = st.one_of(TEXT, st.sampled_from(STRING_EDGES))
strings = quoted(string_values)


@st.composite
def like_patterns(draw) -> str:
    """LIKE/ILIKE patterns: wildcards, escapes, and zero to three backslashes at the end of the decoded pattern.
    PostgreSQL refuses a trailing escape only when matching reaches it, so many patterns start with ``%``."""
    head = draw(st.sampled_from(("", "%")))
    body = draw(st.lists(st.sampled_from(("%", "_", "\\%", "\\_", "\\\\", "\\", "a", "é", "'", "x")), max_size=4))
    value = head + "".join(body) + "\\" * draw(st.integers(0, 3))
    return draw(quoted(st.one_of(st.just(value), st.just(value), string_values)))


def _number_text(value) -> str:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "1e999"
    return str(value)


numbers = st.one_of(
    st.sampled_from(NUMBER_EDGES),
    st.integers(-(2**70), 2**70).map(_number_text),
    st.floats(allow_nan=False, allow_infinity=False).map(_number_text),
)
literals = st.one_of(numbers, strings)
# Values each attribute type takes (and a few it does not).
TYPED_VALUES = {
    "string": st.one_of(strings, strings, numbers),
    "status": st.one_of(quoted(st.sampled_from(STATUSES)), strings),
    "time": st.one_of(numbers, quoted(st.sampled_from(TIME_STRINGS))),
    "ms": st.one_of(numbers, numbers, strings),
    "int": st.one_of(numbers, numbers, strings),
    "project": st.one_of(numbers, quoted(st.sampled_from(("plain", "exp%\\one", "")))),
    "uuid": st.one_of(quoted(st.sampled_from(UUIDS)), numbers),
}


@st.composite
def keys(draw, kind: str) -> str:
    """A key after ``prefix.``: mostly a stored one, else any text; bare when the grammar allows it, else quoted."""
    key = draw(st.one_of(st.sampled_from(KEYS[kind]), st.sampled_from(KEYS[kind]), st.sampled_from(KEYS[kind]), TEXT))
    bare_ok = bool(_BARE_KEY.fullmatch(key)) and key.lower() not in KEYWORDS
    style = draw(st.sampled_from(("bare", "backtick", "double")))
    if style == "bare" and bare_ok:
        return key
    if style == "double" or "`" in key:
        return _escaped(key, '"')
    return f"`{key}`"


@st.composite
def attribute_operands(draw, names) -> str:
    name = draw(st.sampled_from(names))
    if not _BARE_KEY.fullmatch(name):
        return f"{draw(st.sampled_from(PREFIXES['attribute']))}.`{name}`"
    if draw(st.booleans()):
        return name
    return f"{draw(st.sampled_from(PREFIXES['attribute']))}.{name}"


def _in_list(values) -> st.SearchStrategy[str]:
    return st.lists(values, min_size=1, max_size=4).map(lambda items: f"({', '.join(items)})")


def _typed(operand, values, *, like: bool) -> st.SearchStrategy[str]:
    """``operand`` compared the way its type allows: comparators, IN lists, IS NULL, and LIKE when ``like``."""
    forms = [
        st.tuples(operand, st.sampled_from(COMPARATORS), values),
        st.tuples(operand, st.sampled_from(("IN", "NOT IN")), _in_list(values)),
        st.tuples(operand, st.sampled_from(("IS NULL", "IS NOT NULL")), st.just("")),
    ]
    if like:
        forms += [st.tuples(operand, st.sampled_from(LIKE_OPERATORS), like_patterns())] * 3
    return st.one_of(forms).map(lambda parts: " ".join(parts).strip())


def comparisons(attributes: dict[str, str], kinds=("metric", "param", "tag")) -> st.SearchStrategy[str]:
    """Comparisons on ``attributes`` (name → value type) and on keys of ``kinds``: typed mostly, else anything."""
    typed = []
    for kind in kinds:
        operand = st.tuples(st.sampled_from(PREFIXES[kind]), keys(kind)).map(".".join)
        values = numbers if kind == "metric" else st.one_of(strings, numbers)
        typed.append(_typed(operand, values, like=kind != "metric"))
    for value_type in sorted(set(attributes.values())):
        names = sorted(name for name, kind in attributes.items() if kind == value_type)
        typed.append(
            _typed(attribute_operands(names), TYPED_VALUES[value_type], like=value_type in ("string", "status"))
        )
    any_operand = st.one_of(
        attribute_operands(sorted({*RUN_ATTRIBUTES, *EXPERIMENT_ATTRIBUTES, "bogus"})),
        st.tuples(st.sampled_from([p for kind in ("metric", "param", "tag") for p in PREFIXES[kind]]),
                  keys("tag")).map(".".join),
    )  # fmt: skip
    anything = st.one_of(
        st.tuples(any_operand, st.sampled_from(COMPARATORS), literals),
        st.tuples(any_operand, st.sampled_from(LIKE_OPERATORS), st.one_of(like_patterns(), numbers)),
        st.tuples(any_operand, st.sampled_from(("IN", "NOT IN")), _in_list(literals)),
    ).map(" ".join)
    return st.one_of(*typed, *typed, *typed, anything)


def filters(attributes: dict[str, str], kinds=("metric", "param", "tag")) -> st.SearchStrategy[str]:
    """Whole filters: comparisons combined with AND/OR, NOT and parentheses."""

    def combine(children):
        pair = st.tuples(children, st.sampled_from((" AND ", " OR ", " and ")), children)
        return st.one_of(
            pair.map("".join),
            pair.map("".join),
            children.map(lambda child: f"NOT {child}"),
            children.map(lambda child: f"({child})"),
        )

    return st.recursive(comparisons(attributes, kinds), combine, max_leaves=5)


def order_by_lists(attributes: dict[str, str], kinds=("metric", "param", "tag")) -> st.SearchStrategy[list[str]]:
    choices = [
        attribute_operands(sorted(attributes)),
        attribute_operands(sorted({*RUN_ATTRIBUTES, *EXPERIMENT_ATTRIBUTES, "bogus"})),
        *(st.tuples(st.sampled_from(PREFIXES[kind]), keys(kind)).map(".".join) for kind in (*kinds, "metric")),
    ]
    operands = st.one_of(choices)
    item = st.tuples(operands, st.sampled_from(("", " ASC", " DESC", " desc"))).map("".join)
    return st.lists(st.one_of(item, item, item, TEXT), max_size=3)


run_filters = filters(RUN_ATTRIBUTES)
run_order_by = order_by_lists(RUN_ATTRIBUTES)
experiment_filters = filters(EXPERIMENT_ATTRIBUTES, kinds=("tag",))
experiment_order_by = order_by_lists(EXPERIMENT_ATTRIBUTES, kinds=())
