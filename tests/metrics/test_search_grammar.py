"""The search language parser: precedence, quoting, keys, errors with positions, complexity limits."""

import pytest

from apps.metrics.search.grammar import (
    MAX_CLAUSES,
    MAX_DEPTH,
    MAX_FILTER_LENGTH,
    MAX_IN_VALUES,
    BoolOp,
    Comparison,
    Not,
    SearchSyntaxError,
    parse_filter,
    parse_order_item,
)


def show(node) -> str:
    """A compact rendering of the tree that makes grouping visible."""
    if isinstance(node, BoolOp):
        return "(" + f" {node.op} ".join(show(child) for child in node.children) + ")"
    if isinstance(node, Not):
        return f"NOT {show(node.child)}"
    values = ",".join(repr(literal.value) for literal in node.values)
    return f"{node.entity.kind}:{node.entity.key} {node.op} {values}".strip()


def error(text: str) -> SearchSyntaxError:
    with pytest.raises(SearchSyntaxError) as caught:
        parse_filter(text)
    return caught.value


def test_and_binds_tighter_than_or():
    assert show(parse_filter("a = 1 OR b = 2 AND c = 3")) == (
        "(attribute:a = 1 OR (attribute:b = 2 AND attribute:c = 3))"
    )
    assert show(parse_filter("a = 1 AND b = 2 OR c = 3")) == (
        "((attribute:a = 1 AND attribute:b = 2) OR attribute:c = 3)"
    )


def test_parentheses_override_precedence_and_not_binds_tightest():
    assert show(parse_filter("(a = 1 OR b = 2) AND c = 3")) == (
        "((attribute:a = 1 OR attribute:b = 2) AND attribute:c = 3)"
    )
    assert show(parse_filter("NOT a = 1 AND b = 2")) == "(NOT attribute:a = 1 AND attribute:b = 2)"
    assert show(parse_filter("not (a = 1 or b = 2)")) == "NOT (attribute:a = 1 OR attribute:b = 2)"


def test_entities_prefixes_and_key_quoting():
    tree = parse_filter(
        "metrics.`my key` > 0.5 AND params.\"optimizer name\" = 'adam' AND tags.train.split LIKE 'a%' "
        "AND metric.val-loss < 1e-3 AND attributes.STATUS = 'finished' AND run.name != 'x'"
    )
    assert [(c.entity.kind, c.entity.key) for c in tree.children] == [
        ("metric", "my key"),
        ("param", "optimizer name"),
        ("tag", "train.split"),
        ("metric", "val-loss"),
        ("attribute", "status"),
        ("attribute", "name"),
    ]
    assert tree.children[3].values[0].value == 0.001


def test_keywords_can_be_keys_when_prefixed_or_quoted():
    tree = parse_filter("tags.and = 'x' AND metrics.`or` > 1 AND params.in IN ('a')")
    assert [c.entity.key for c in tree.children] == ["and", "or", "in"]


def test_strings_escapes_and_doubled_quotes():
    tree = parse_filter(r"""name = 'it''s' OR name = 'a\'b' OR name = "say \"hi\"" OR name = 'tab\there\\'""")
    assert [c.values[0].value for c in tree.children] == ["it's", "a'b", 'say "hi"', "tab\there\\"]


def test_operators_in_not_in_is_null_like():
    tree = parse_filter(
        "status IN ('finished', 'failed') AND params.opt NOT IN ('sgd') AND tags.x IS NULL "
        "AND tags.y IS NOT NULL AND name NOT LIKE 'tmp%' AND name ILIKE '%BERT%' AND metrics.a <> 2"
    )
    assert [c.op for c in tree.children] == ["IN", "NOT IN", "IS NULL", "IS NOT NULL", "NOT LIKE", "ILIKE", "!="]
    assert [v.value for v in tree.children[0].values] == ["finished", "failed"]


def test_numbers():
    tree = parse_filter("metrics.a > -1.5e3 AND metrics.b < .25 AND id = 42 AND metrics.c >= +7")
    assert [c.values[0].value for c in tree.children] == [-1500.0, 0.25, 42, 7]
    assert isinstance(tree.children[2].values[0].value, int)


def test_empty_filter_matches_everything():
    assert parse_filter(None) is None
    assert parse_filter("   ") is None


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("metrics.a >", 11, "Expected a value"),
        ("metrics.a > 1 AND", 17, "Expected a key"),
        ("metrics.a 1", 10, "Expected an operator"),
        ("metrics.a > 1 AND (b = 2", 24, "')' to close the '(' at position 18"),
        ("a = 1)", 5, "Expected AND, OR or the end"),
        ("metrics.a ~ 1", 10, "Unexpected character '~'"),
        ("name = 'open", 7, "Unterminated string"),
        ("metrics.`open > 1", 8, "Unterminated backticked key"),
        ("name = 'a\\qb'", 9, "Unknown escape"),
        ("metrics > 1", 8, "'.' and a key"),
        ("foo.bar = 1", 0, "Unknown prefix 'foo'"),
        ("name LIKE 5", 10, "quoted pattern"),
        ("status IN 'a'", 10, "'(' after IN"),
        ("status IN ('a' 'b')", 15, "',' or ')'"),
        ("tags.x IS 5", 10, "NULL after IS"),
        ("name NOT = 'a'", 9, "LIKE, ILIKE or IN after NOT"),
        ("id = 99999999999999999999", 5, "out of int64 range"),
        ("metrics.a > 1e999", 12, "out of float64 range"),
        ("metrics.`` > 1", 8, "must not be empty"),
    ],
)
def test_errors_point_at_the_position_and_say_what_was_expected(text, position, fragment):
    exc = error(text)
    assert exc.position == position, str(exc)
    assert fragment in exc.message, exc.message


def test_complexity_limits():
    too_long = error("name = '" + "x" * MAX_FILTER_LENGTH + "'")
    assert too_long.code == "too_complex"
    clauses = " OR ".join(f"id = {i}" for i in range(MAX_CLAUSES + 1))
    assert error(clauses).code == "too_complex"
    parse_filter(" OR ".join(f"id = {i}" for i in range(MAX_CLAUSES)))
    deep = "(" * (MAX_DEPTH + 1) + "id = 1" + ")" * (MAX_DEPTH + 1)
    assert error(deep).code == "too_complex"
    parse_filter("(" * MAX_DEPTH + "id = 1" + ")" * MAX_DEPTH)
    nots = "NOT " * (MAX_DEPTH + 1) + "id = 1"
    assert error(nots).code == "too_complex"
    many = "id IN (" + ",".join(str(i) for i in range(MAX_IN_VALUES + 1)) + ")"
    assert error(many).code == "too_complex"


def test_pathological_nesting_is_refused_before_recursion_runs_away():
    exc = error("(" * 1500 + "id = 1" + ")" * 1500)
    assert exc.code == "too_complex" and exc.position == MAX_DEPTH


def test_injection_strings_are_just_values():
    tree = parse_filter("name = 'x''; DROP TABLE metrics_run; --' OR tags.`a; DELETE` = '1 OR 1=1'")
    assert tree.children[0].values[0].value == "x'; DROP TABLE metrics_run; --"
    assert tree.children[1].entity.key == "a; DELETE"


def test_order_items():
    item = parse_order_item("metrics.`val loss` DESC")
    assert (item.entity.kind, item.entity.key, item.descending) == ("metric", "val loss", True)
    assert parse_order_item("start_time").descending is False
    assert parse_order_item("params.lr asc").entity.key == "lr"
    with pytest.raises(SearchSyntaxError) as caught:
        parse_order_item("start_time DOWN")
    assert caught.value.position == 11


def test_tree_nodes_are_comparisons_at_the_leaves():
    tree = parse_filter("a = 1 AND (b = 2 OR NOT c = 3)")
    leaves = [tree.children[0], tree.children[1].children[0], tree.children[1].children[1].child]
    assert all(isinstance(leaf, Comparison) for leaf in leaves)


@pytest.mark.parametrize(
    ("pattern", "position"),
    [("'\\\\'", 12), ("'%\\\\'", 12), ("'a\\\\\\\\\\\\'", 12), ('"%x\\\\"', 12)],
)
def test_like_pattern_ending_in_a_lone_escape_character_is_refused_at_the_pattern(pattern, position):
    """Decoded, these patterns end in one (or three) backslashes: the last escapes nothing."""
    caught = error(f"tags.x LIKE {pattern}")
    assert caught.code == "invalid_pattern" and caught.position == position
    assert "must not end with the escape character" in caught.message


def test_like_pattern_ending_in_an_escaped_backslash_parses():
    (value,) = parse_filter("tags.x NOT ILIKE '%\\\\\\\\'").values  # decoded: %\\ — a literal backslash
    assert value.value == "%\\\\"
    assert parse_filter("name = '\\\\'").values[0].value == "\\"  # only LIKE patterns use the escape


@pytest.mark.parametrize(
    ("text", "position", "what"),
    [("name = 'a\x00'", 9, "a null character"), ("tags.`k\x00` = 'a'", 7, "a null character"),
     ("name = '\ud800'", 8, "a lone surrogate")],
)  # fmt: skip
def test_text_postgresql_cannot_take_is_refused_with_its_position(text, position, what):
    caught = error(text)
    assert caught.code == "invalid_character" and caught.position == position and what in caught.message
    with pytest.raises(SearchSyntaxError):
        parse_order_item("params.`a\x00`")
