"""OData v3 query options as 1C understands them: ``$filter``, ``$select``, ``$expand``, ``$orderby``,
``$top``, ``$skip``, ``$inlinecount``, ``$format``; and key / function parameter lists.

1C's dialect, reproduced on purpose: literals ``guid'…'`` and ``datetime'…'`` (4-digit year or 400),
strings in single quotes with ``''`` for a quote; ``eq ne gt ge lt le and or not``, parentheses and
``substringof``; no ``in`` operator (400, code 14); references cannot be ordered (``gt``/``lt`` on a
guid is 400). The query string is split without turning ``+`` into a space, so ``+`` fails as it
does in 1C. String comparisons ignore case, like 1C's query language on its usual DBMS collations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

from ..schema import Field
from .errors import ODataError, query_error
from .values import parse_datetime, parse_guid

_TOKEN = re.compile(
    r"""
    (?P<space>\ +)
  | (?P<guid>guid'(?P<guid_v>[^']*)')
  | (?P<datetime>datetime'(?P<datetime_v>[^']*)')
  | (?P<string>'(?P<string_v>(?:[^']|'')*)')
  | (?P<number>-?\d+(?:\.\d+)?)(?P<suffix>[mMdDlLfF])?
  | (?P<lparen>\() | (?P<rparen>\)) | (?P<comma>,) | (?P<equals>=)
  | (?P<name>[^\W\d][\w/]*)
    """,
    re.VERBOSE,
)
COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
FUNCTIONS = {"substringof": 2}


@dataclass(frozen=True)
class Token:
    kind: str
    value: Any
    pos: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise query_error(f"недопустимый символ {text[pos]!r} в позиции {pos + 1}")
        if match["guid"] is not None:
            guid = parse_guid(match["guid_v"])
            if guid is None:
                raise query_error(f"неверный литерал guid'{match['guid_v']}'")
            tokens.append(Token("literal", ("guid", guid), pos))
        elif match["datetime"] is not None:
            date = parse_datetime(match["datetime_v"])
            if date is None:
                raise query_error(f"неверный литерал datetime'{match['datetime_v']}'")
            tokens.append(Token("literal", ("datetime", date), pos))
        elif match["string"] is not None:
            tokens.append(Token("literal", ("string", match["string_v"].replace("''", "'")), pos))
        elif match["number"] is not None:
            tokens.append(Token("literal", ("number", Decimal(match["number"])), pos))
        elif match["name"] is not None:
            name = match["name"]
            if name in ("true", "false"):
                tokens.append(Token("literal", ("bool", name == "true"), pos))
            elif name == "null":
                tokens.append(Token("literal", ("null", None), pos))
            else:
                tokens.append(Token("name", name, pos))
        elif match["space"] is None:
            tokens.append(Token(match.lastgroup or "", match.group(0), pos))
        pos = match.end()
    return tokens


# --- $filter ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    category: str  # guid datetime string number bool null
    value: Any


@dataclass(frozen=True)
class FieldRef:
    field: Field

    @property
    def category(self) -> str:
        return category_of(self.field)


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Expr, ...]
    category: str = "bool"


@dataclass(frozen=True)
class Binary:
    op: str
    left: Expr
    right: Expr
    category: str = "bool"


@dataclass(frozen=True)
class Not:
    operand: Expr
    category: str = "bool"


Expr = Literal | FieldRef | Call | Binary | Not
Row = Mapping[str, Any]
Predicate = Callable[[Row], bool]


def category_of(f: Field) -> str:
    if f.edm == "Edm.Guid" or f.composite:
        return "guid"
    if f.edm == "Edm.DateTime":
        return "datetime"
    if f.edm in ("Edm.Decimal", "Edm.Int64"):
        return "number"
    if f.edm == "Edm.Boolean":
        return "bool"
    return "string"


class _Parser:
    def __init__(self, text: str, fields: Mapping[str, Field]) -> None:
        self.tokens = tokenize(text)
        self.fields = fields
        self.i = 0

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise query_error("неожиданный конец выражения")
        self.i += 1
        return token

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token is not None and token.kind == "name" and token.value in words:
            self.i += 1
            return str(token.value)
        return None

    def parse(self) -> Expr:
        expr = self.or_expr()
        token = self.peek()
        if token is not None:
            if token.kind == "name" and token.value == "in":
                raise query_error("оператор 'in' не поддерживается")
            raise query_error(f"лишний элемент {token.value!r} в позиции {token.pos + 1}")
        return expr

    def or_expr(self) -> Expr:
        expr = self.and_expr()
        while self.keyword("or"):
            expr = Binary("or", _bool(expr), _bool(self.and_expr()))
        return expr

    def and_expr(self) -> Expr:
        expr = self.not_expr()
        while self.keyword("and"):
            expr = Binary("and", _bool(expr), _bool(self.not_expr()))
        return expr

    def not_expr(self) -> Expr:
        if self.keyword("not"):
            return Not(_bool(self.not_expr()))
        return self.comparison()

    def comparison(self) -> Expr:
        left = self.primary()
        token = self.peek()
        if token is not None and token.kind == "name" and token.value == "in":
            raise query_error("оператор 'in' не поддерживается, используйте or")
        op = self.keyword(*COMPARISONS)
        if op is None:
            return left
        right = self.primary()
        _check_comparison(op, left, right)
        return Binary(op, left, right)

    def primary(self) -> Expr:
        token = self.take()
        if token.kind == "lparen":
            expr = self.or_expr()
            if self.take().kind != "rparen":
                raise query_error("ожидалась ')'")
            return expr
        if token.kind == "literal":
            category, value = token.value
            return Literal(category, value)
        if token.kind == "name":
            nxt = self.peek()
            if nxt is not None and nxt.kind == "lparen":
                return self.call(str(token.value))
            if token.value in ("in", "and", "or", "not", *COMPARISONS):
                raise query_error(f"неожиданный оператор {token.value!r}")
            f = self.fields.get(str(token.value))
            if f is None:
                raise query_error(f"неизвестное поле {token.value}")
            return FieldRef(f)
        raise query_error(f"неожиданный элемент {token.value!r} в позиции {token.pos + 1}")

    def call(self, name: str) -> Expr:
        if name not in FUNCTIONS:
            raise query_error(f"неизвестная функция {name}")
        self.take()  # (
        args: list[Expr] = [self.or_expr()]
        while self.peek() is not None and self.tokens[self.i].kind == "comma":
            self.take()
            args.append(self.or_expr())
        if self.take().kind != "rparen":
            raise query_error("ожидалась ')'")
        if len(args) != FUNCTIONS[name] or any(a.category not in ("string", "null") for a in args):
            raise query_error(f"неверные параметры функции {name}")
        return Call(name, tuple(args))


def _bool(expr: Expr) -> Expr:
    if expr.category != "bool":
        raise query_error("ожидалось логическое выражение")
    return expr


def _check_comparison(op: str, left: Expr, right: Expr) -> None:
    lc, rc = left.category, right.category
    if "null" not in (lc, rc) and lc != rc:
        raise query_error(f"несовместимые типы операндов {op}: {lc} и {rc}")
    if op not in ("eq", "ne") and ("guid" in (lc, rc) or "bool" in (lc, rc)):
        raise query_error(f"ссылки нельзя сравнивать оператором {op}")


def parse_filter(text: str, fields: Mapping[str, Field], typed: Callable[[Field, Any], Any]) -> Predicate:
    """Compile ``$filter`` against a row type; the predicate takes stored values."""
    if not text.strip():
        raise query_error("пустое выражение $filter")
    expr = _bool(_Parser(text, fields).parse())

    def predicate(row: Row) -> bool:
        return bool(_evaluate(expr, row, typed))

    return predicate


def _evaluate(expr: Expr, row: Row, typed: Callable[[Field, Any], Any]) -> Any:
    if isinstance(expr, Literal):
        return expr.value
    if isinstance(expr, FieldRef):
        return typed(expr.field, row.get(expr.field.name))
    if isinstance(expr, Not):
        return not _evaluate(expr.operand, row, typed)
    if isinstance(expr, Call):  # substringof(needle, haystack)
        needle, haystack = (_evaluate(a, row, typed) for a in expr.args)
        return (
            needle is not None and haystack is not None and str(needle).casefold() in str(haystack).casefold()
        )
    if expr.op == "and":
        return _evaluate(expr.left, row, typed) and _evaluate(expr.right, row, typed)
    if expr.op == "or":
        return _evaluate(expr.left, row, typed) or _evaluate(expr.right, row, typed)
    left, right = _evaluate(expr.left, row, typed), _evaluate(expr.right, row, typed)
    if isinstance(left, str) and isinstance(right, str):
        left, right = left.casefold(), right.casefold()
    if expr.op == "eq":
        return left == right
    if expr.op == "ne":
        return left != right
    if left is None or right is None:
        return False
    return {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[expr.op]


# --- key and function parameter lists ---------------------------------------------------------------


def parse_parameters(text: str) -> tuple[list[Any], dict[str, Any]]:
    """``guid'…'`` or ``Ref_Key=guid'…', LineNumber=1`` or ``Period=datetime'…', Condition='…'``:
    positional and named literal values (strings unescaped, numbers as Decimal)."""
    tokens = tokenize(text)
    positional: list[Any] = []
    named: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        if tokens[i].kind == "name" and i + 1 < len(tokens) and tokens[i + 1].kind == "equals":
            if i + 2 >= len(tokens) or tokens[i + 2].kind != "literal":
                raise query_error(f"ожидалось значение параметра {tokens[i].value}")
            named[str(tokens[i].value)] = tokens[i + 2].value[1]
            i += 3
        elif tokens[i].kind == "literal":
            positional.append(tokens[i].value[1])
            i += 1
        else:
            raise query_error(f"неверный параметр {tokens[i].value!r}")
        if i < len(tokens):
            if tokens[i].kind != "comma":
                raise query_error("ожидалась ','")
            i += 1
    return positional, named


# --- query options ----------------------------------------------------------------------------------

KNOWN_OPTIONS = {"$filter", "$select", "$expand", "$orderby", "$top", "$skip", "$inlinecount", "$format"}


def split_query(raw: str) -> dict[str, str]:
    """Split a query string like 1C: ``%XX`` decoded, ``+`` left as ``+`` (so a ``+`` for a space fails)."""
    out: dict[str, str] = {}
    for part in raw.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        out[unquote(name)] = unquote(value)
    return out


@dataclass
class QueryOptions:
    filter: str | None = None
    select: list[str] | None = None
    expand: list[str] = field(default_factory=list)
    orderby: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    top: int | None = None
    skip: int = 0
    inlinecount: bool = False
    json: bool = False
    params: dict[str, str] = field(default_factory=dict)  # the non-$ parameters


def parse_options(raw_query: str, accept: str = "") -> QueryOptions:
    params = split_query(raw_query)
    options = QueryOptions()
    for name, value in params.items():
        if not name.startswith("$"):
            options.params[name] = value
        elif name not in KNOWN_OPTIONS:
            raise query_error(f"неизвестный параметр {name}")
    options.filter = params.get("$filter")
    if "$select" in params:
        options.select = _names(params["$select"])
    if "$expand" in params:
        options.expand = _names(params["$expand"])
    for part in _names(params.get("$orderby", "")):
        words = part.split(" ")
        if len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise query_error(f"неверное выражение $orderby: {part}")
        options.orderby.append((words[0], len(words) == 2 and words[1] == "desc"))
    options.top = _count("$top", params.get("$top"))
    options.skip = _count("$skip", params.get("$skip")) or 0
    count = params.get("$inlinecount")
    if count not in (None, "allpages", "none"):
        raise query_error(f"неверное значение $inlinecount: {count}")
    options.inlinecount = count == "allpages"
    fmt = params.get("$format", "")
    options.json = fmt.startswith(("json", "application/json")) or (
        not fmt and "application/json" in accept and "atom" not in accept
    )
    if fmt and not options.json and not fmt.startswith(("atom", "xml", "application/atom")):
        raise query_error(f"неверное значение $format: {fmt}")
    return options


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _count(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit():
        raise query_error(f"неверное значение {name}: {value}")
    return int(value)


def check_orderby(options: QueryOptions, fields: Mapping[str, Field]) -> None:
    for name, _ in options.orderby:
        if name not in fields:
            raise query_error(f"неизвестное поле в $orderby: {name}")


__all__ = ["ODataError", "Predicate", "QueryOptions", "parse_filter", "parse_options", "parse_parameters"]
