"""The run search language: a tokenizer and a recursive-descent parser producing a small AST. No ORM here.

Grammar (keywords are case-insensitive; AND binds tighter than OR; NOT tighter than AND)::

    filter      := or_expr EOF
    or_expr     := and_expr ("OR" and_expr)*
    and_expr    := not_expr ("AND" not_expr)*
    not_expr    := "NOT" not_expr | "(" or_expr ")" | comparison
    comparison  := operand ( compare_op literal
                           | ["NOT"] ("LIKE" | "ILIKE") string
                           | ["NOT"] "IN" "(" literal ("," literal)* ")"
                           | "IS" ["NOT"] "NULL" )
    compare_op  := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    operand     := prefix "." key | attribute
    prefix      := "metrics" | "metric" | "params" | "param" | "parameters" | "parameter" | "tags" | "tag"
                 | "attributes" | "attribute" | "attr" | "run"
    key         := bare_key | `backticked key` | "double-quoted key"
    literal     := number | string          (strings in '…' or "…"; escapes \\ \' \" \n \t \r, or a doubled quote)

    order_by item := operand ["ASC" | "DESC"]

Bare keys are ``[A-Za-z_][\\w.\\-/]*``; any other key (spaces, leading digits, keywords) goes in backticks or double
quotes. Errors carry the 0-based character position and what was expected there.

Why hand-written rather than a parser generator (lark, pyparsing): the language is a dozen productions, and the
error messages ("expected a value after '>=' at position 17"), the complexity limits (length, clauses, nesting
depth — enforced while parsing, before any recursion can run away) and the key-quoting rules are the product here.
A generator would still need all of that written around it, plus a dependency on the ingest/search hot path.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal as TypingLiteral

MAX_FILTER_LENGTH = 4000
MAX_CLAUSES = 50
MAX_DEPTH = 10
MAX_IN_VALUES = 200
MAX_ORDER_BY = 5


class SearchSyntaxError(ValueError):
    """A filter or order_by that does not parse or is too complex. ``position`` is a 0-based character offset."""

    def __init__(self, message: str, position: int, *, code: str = "parse_error"):
        super().__init__(message)
        self.message = message
        self.position = position
        self.code = code

    def __str__(self) -> str:
        return f"{self.message} (at position {self.position})"


# ---------------------------------------------------------------------------------------------- tokens

Kind = TypingLiteral["IDENT", "QUOTED_KEY", "STRING", "NUMBER", "OP", "LPAREN", "RPAREN", "COMMA", "DOT", "EOF"]


@dataclass(frozen=True)
class Token:
    kind: str
    text: str  # the source text (for errors)
    value: object  # decoded value: str for IDENT/STRING/QUOTED_KEY, int|float for NUMBER
    pos: int

    def describe(self) -> str:
        if self.kind == "EOF":
            return "the end of the expression"
        return repr(self.text if len(self.text) <= 30 else self.text[:27] + "...")


KEYWORDS = frozenset({"and", "or", "not", "in", "like", "ilike", "is", "null", "asc", "desc"})
_IDENT = re.compile(r"[A-Za-z_]\w*")
_KEY_PART = re.compile(r"[\w\-/]+")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_OPERATORS = ("!=", "<>", "<=", ">=", "=", "<", ">")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}


def _read_quoted(text: str, start: int, quote: str, what: str) -> tuple[str, int]:
    """Read a quoted run starting at ``text[start] == quote``; return (decoded, index after the closing quote)."""
    out = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and quote != "`":
            if i + 1 >= len(text):
                break
            escaped = text[i + 1]
            if escaped not in _ESCAPES:
                raise SearchSyntaxError(
                    f"Unknown escape '\\{escaped}' in {what}; use \\\\, \\', \\\", \\n, \\t or \\r", i
                )
            out.append(_ESCAPES[escaped])
            i += 2
            continue
        if ch == quote:
            if i + 1 < len(text) and text[i + 1] == quote:  # a doubled quote stands for itself
                out.append(quote)
                i += 2
                continue
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise SearchSyntaxError(f"Unterminated {what}: expected a closing {quote}", start)


# Characters PostgreSQL cannot take in a text parameter: NUL, and lone UTF-16 surrogates (not encodable as UTF-8).
# Every key, value and pattern becomes a bound parameter, so they are refused here, for every caller of the grammar.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def tokenize(text: str) -> list[Token]:
    if bad := _UNSTORABLE.search(text):
        what = "a null character" if bad.group() == "\x00" else "a lone surrogate (not valid Unicode)"
        raise SearchSyntaxError(f"The text contains {what}", bad.start(), code="invalid_character")
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        start = i
        if ch == "(":
            tokens.append(Token("LPAREN", ch, ch, start))
            i += 1
        elif ch == ")":
            tokens.append(Token("RPAREN", ch, ch, start))
            i += 1
        elif ch == ",":
            tokens.append(Token("COMMA", ch, ch, start))
            i += 1
        elif ch == "." and tokens and tokens[-1].kind == "IDENT":
            tokens.append(Token("DOT", ch, ch, start))
            i += 1
        elif ch == "`":
            value, i = _read_quoted(text, start, "`", "backticked key")
            tokens.append(Token("QUOTED_KEY", text[start:i], value, start))
        elif ch in "'\"":
            value, i = _read_quoted(text, start, ch, "string")
            # A double-quoted run right after a DOT is a key (metrics."my key"), otherwise a string value.
            kind = "QUOTED_KEY" if ch == '"' and tokens and tokens[-1].kind == "DOT" else "STRING"
            tokens.append(Token(kind, text[start:i], value, start))
        elif tokens and tokens[-1].kind == "DOT" and (match := _KEY_PART.match(text, i)):
            # A bare key after "prefix.": letters, digits, _ - / and inner dots (metrics.train.loss).
            key_end = match.end()
            while key_end + 1 < n and text[key_end] == "." and (more := _KEY_PART.match(text, key_end + 1)):
                key_end = more.end()
            tokens.append(Token("IDENT", text[start:key_end], text[start:key_end], start))
            i = key_end
        elif match := _NUMBER.match(text, i):
            literal = match.group()
            tokens.append(Token("NUMBER", literal, _number(literal, start), start))
            i = match.end()
        elif match := _IDENT.match(text, i):
            word = match.group()
            tokens.append(Token("IDENT", word, word, start))
            i = match.end()
        else:
            for op in _OPERATORS:
                if text.startswith(op, i):
                    tokens.append(Token("OP", op, "!=" if op == "<>" else op, start))
                    i += len(op)
                    break
            else:
                raise SearchSyntaxError(f"Unexpected character {ch!r}", start)
    tokens.append(Token("EOF", "", None, n))
    return tokens


def _number(literal: str, pos: int) -> int | float:
    if re.fullmatch(r"[-+]?\d+", literal):
        value = int(literal)
        if not -(2**63) <= value <= 2**63 - 1:
            raise SearchSyntaxError(f"Integer {literal[:30]} is out of int64 range", pos, code="out_of_range")
        return value
    value = float(literal)
    if not math.isfinite(value):
        raise SearchSyntaxError(f"Number {literal[:30]} is out of float64 range", pos, code="out_of_range")
    return value


# ---------------------------------------------------------------------------------------------- AST

EntityKind = TypingLiteral["metric", "param", "tag", "attribute"]
_PREFIXES: dict[str, EntityKind] = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "parameters": "param",  # MLflow's spellings
    "parameter": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
    "run": "attribute",
}


@dataclass(frozen=True)
class Entity:
    kind: str  # EntityKind
    key: str
    pos: int

    def __str__(self) -> str:
        return self.key if self.kind == "attribute" else f"{self.kind}s.`{self.key}`"


@dataclass(frozen=True)
class Literal:
    value: int | float | str
    pos: int

    @property
    def is_number(self) -> bool:
        return isinstance(self.value, (int, float))


@dataclass(frozen=True)
class Comparison:
    entity: Entity
    op: str  # = != < <= > >= LIKE ILIKE NOT LIKE NOT ILIKE IN NOT IN IS NULL IS NOT NULL
    values: tuple[Literal, ...]
    pos: int


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND | OR
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


Node = Comparison | BoolOp | Not


@dataclass(frozen=True)
class OrderItem:
    entity: Entity
    descending: bool


# ---------------------------------------------------------------------------------------------- parser


@dataclass
class _Parser:
    tokens: list[Token]
    index: int = 0
    clauses: int = 0
    depth: int = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def is_keyword(self, *words: str, offset: int = 0) -> bool:
        token = self.tokens[min(self.index + offset, len(self.tokens) - 1)]
        return token.kind == "IDENT" and token.text.lower() in words

    def expect_keyword(self, word: str, expected: str) -> Token:
        if not self.is_keyword(word):
            self.fail(expected)
        return self.advance()

    def fail(self, expected: str, token: Token | None = None):
        token = token or self.current
        raise SearchSyntaxError(f"Expected {expected}, found {token.describe()}", token.pos)

    def enter(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise SearchSyntaxError(
                f"The filter is nested too deeply (more than {MAX_DEPTH} levels of parentheses/NOT)",
                token.pos,
                code="too_complex",
            )

    # filter := or_expr EOF
    def parse_filter(self) -> Node:
        node = self.or_expr()
        if self.current.kind != "EOF":
            self.fail("AND, OR or the end of the expression")
        return node

    def or_expr(self) -> Node:
        return self._chain("or", self.and_expr)

    def and_expr(self) -> Node:
        return self._chain("and", self.not_expr)

    def _chain(self, keyword: str, operand) -> Node:
        """operand (keyword operand)* — one n-ary node, or the operand itself when there is one."""
        children = [operand()]
        while self.is_keyword(keyword):
            self.advance()
            children.append(operand())
        return children[0] if len(children) == 1 else BoolOp(keyword.upper(), tuple(children))

    def not_expr(self) -> Node:
        token = self.current
        if self.is_keyword("not"):
            self.advance()
            self.enter(token)
            node = Not(self.not_expr())
            self.depth -= 1
            return node
        if token.kind == "LPAREN":
            self.advance()
            self.enter(token)
            node = self.or_expr()
            if self.current.kind != "RPAREN":
                self.fail(f"')' to close the '(' at position {token.pos}, AND or OR")
            self.advance()
            self.depth -= 1
            return node
        return self.comparison()

    def operand(self) -> Entity:
        token = self.current
        if token.kind != "IDENT" or token.text.lower() in KEYWORDS:
            self.fail("a key such as metrics.accuracy, params.lr, tags.team or an attribute (status, name, …)")
        self.advance()
        word = token.text
        if self.current.kind == "DOT":
            kind = _PREFIXES.get(word.lower())
            if kind is None:
                raise SearchSyntaxError(
                    f"Unknown prefix {word!r}; use metrics., params., tags. or attributes.", token.pos
                )
            self.advance()
            key_token = self.current
            if key_token.kind not in ("IDENT", "QUOTED_KEY"):
                self.fail(f"a key after '{word}.' (bare, `backticked` or \"double-quoted\")")
            self.advance()
            if not key_token.value:
                raise SearchSyntaxError("The key must not be empty", key_token.pos)
            key = str(key_token.value)
            if kind == "attribute":
                key = key.lower()
            return Entity(kind, key, token.pos)
        if word.lower() in _PREFIXES and word.lower() not in ("run",):
            self.fail(f"'.' and a key after '{word}'")
        return Entity("attribute", word.lower(), token.pos)

    def literal(self, after: str) -> Literal:
        token = self.current
        if token.kind not in ("STRING", "NUMBER"):
            self.fail(f"a value (a number or a quoted string) after {after}")
        self.advance()
        return Literal(token.value, token.pos)

    def comparison(self) -> Comparison:
        self.clauses += 1
        start = self.current
        if self.clauses > MAX_CLAUSES:
            raise SearchSyntaxError(
                f"The filter has more than {MAX_CLAUSES} comparisons", start.pos, code="too_complex"
            )
        entity = self.operand()
        token = self.current
        if token.kind == "OP":
            self.advance()
            return Comparison(entity, token.value, (self.literal(f"'{token.text}'"),), start.pos)
        negated = False
        if self.is_keyword("not"):
            negated = True
            self.advance()
            if not self.is_keyword("like", "ilike", "in"):
                self.fail("LIKE, ILIKE or IN after NOT")
        if self.is_keyword("like", "ilike"):
            word = self.advance().text.upper()
            pattern = self.current
            if pattern.kind != "STRING":
                self.fail(f"a quoted pattern after {word}")
            _check_like_pattern(str(pattern.value), pattern.pos)
            self.advance()
            op = f"NOT {word}" if negated else word
            return Comparison(entity, op, (Literal(pattern.value, pattern.pos),), start.pos)
        if self.is_keyword("in"):
            self.advance()
            if self.current.kind != "LPAREN":
                self.fail("'(' after IN")
            self.advance()
            values = [self.literal("'('")]
            while self.current.kind == "COMMA":
                self.advance()
                values.append(self.literal("','"))
                if len(values) > MAX_IN_VALUES:
                    raise SearchSyntaxError(
                        f"IN lists are limited to {MAX_IN_VALUES} values", values[-1].pos, code="too_complex"
                    )
            if self.current.kind != "RPAREN":
                self.fail("',' or ')' in the IN list")
            self.advance()
            return Comparison(entity, "NOT IN" if negated else "IN", tuple(values), start.pos)
        if self.is_keyword("is"):
            self.advance()
            is_not = False
            if self.is_keyword("not"):
                self.advance()
                is_not = True
            self.expect_keyword("null", "NULL after IS" + (" NOT" if is_not else ""))
            return Comparison(entity, "IS NOT NULL" if is_not else "IS NULL", (), start.pos)
        self.fail("an operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL)")
        raise AssertionError("unreachable")  # pragma: no cover


def _check_like_pattern(pattern: str, pos: int) -> None:
    """A LIKE pattern's backslash escapes the next character (``\\%`` is a literal percent sign), so a pattern
    ending in an unescaped backslash is incomplete; PostgreSQL would refuse it only once a row reaches the comparison.
    """
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    if trailing % 2:
        raise SearchSyntaxError(
            "A LIKE pattern must not end with the escape character \\; to match a backslash, escape it: "
            "\\\\ in the pattern, written '\\\\\\\\' in a quoted string",
            pos,
            code="invalid_pattern",
        )


def parse_filter(text: str | None) -> Node | None:
    """Parse a filter expression; None (match everything) for an empty or blank filter."""
    if text is None or not text.strip():
        return None
    if len(text) > MAX_FILTER_LENGTH:
        raise SearchSyntaxError(
            f"The filter is longer than {MAX_FILTER_LENGTH} characters", MAX_FILTER_LENGTH, code="too_complex"
        )
    return _Parser(tokenize(text)).parse_filter()


def parse_order_item(text: str) -> OrderItem:
    """Parse one ``order_by`` item such as ``metrics.accuracy DESC`` (ascending when no direction is given)."""
    if len(text) > 300:
        raise SearchSyntaxError("An order_by item is longer than 300 characters", 300, code="too_complex")
    parser = _Parser(tokenize(text))
    entity = parser.operand()
    descending = False
    if parser.is_keyword("asc", "desc"):
        descending = parser.advance().text.lower() == "desc"
    if parser.current.kind != "EOF":
        parser.fail("ASC, DESC or the end of the item")
    return OrderItem(entity, descending)
