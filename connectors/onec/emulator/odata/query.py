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
  | (?P<lparen>\() | (?P<rparen>\)) | (?P<comma>,) | (?P<equals>=) | (?P<colon>:) | (?P<minus>-)
  | (?P<name>[^\W\d][\w/]*)
    """,
    re.VERBOSE,
)
COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}


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
    var: str | None = None  # the lambda variable of ``any``/``all`` (``d/Тип``), None for the row's own

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


@dataclass(frozen=True)
class Lambda:
    """``Section/any(d: …)`` / ``Section/all(d: …)`` over a tabular section's rows."""

    quantifier: str
    section: str
    var: str
    body: Expr | None
    category: str = "bool"


Expr = Literal | FieldRef | Call | Binary | Not | Lambda
Row = Mapping[str, Any]
Predicate = Callable[[Row], bool]

ARITHMETIC = {"add", "sub", "mul", "div", "mod"}
#: name → (categories of the arguments, ``*`` any; result category). What 1C's OData documents.
FUNCTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "substringof": (("string", "string"), "bool"),
    "startswith": (("string", "string"), "bool"),
    "endswith": (("string", "string"), "bool"),
    "tolower": (("string",), "string"),
    "toupper": (("string",), "string"),
    "trim": (("string",), "string"),
    "length": (("string",), "number"),
    "indexof": (("string", "string"), "number"),
    "substring": (("string", "number", "number"), "string"),  # the length is optional
    "concat": (("string", "string"), "string"),
    "year": (("datetime",), "number"),
    "month": (("datetime",), "number"),
    "day": (("datetime",), "number"),
    "hour": (("datetime",), "number"),
    "minute": (("datetime",), "number"),
    "second": (("datetime",), "number"),
    "isof": (("*", "string"), "bool"),
    "cast": (("*", "string"), "*"),
}
_OPTIONAL_LAST = {"substring"}
_EDM_CATEGORY = {
    "Edm.String": "string",
    "Edm.Decimal": "number",
    "Edm.Int64": "number",
    "Edm.Int32": "number",
    "Edm.Double": "number",
    "Edm.Boolean": "bool",
    "Edm.DateTime": "datetime",
    "Edm.Guid": "guid",
}


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
    def __init__(
        self,
        text: str,
        fields: Mapping[str, Field],
        collections: Mapping[str, Mapping[str, Field]] | None = None,
        entity: str = "",
    ) -> None:
        self.entity = entity
        self.tokens = tokenize(text)
        self.fields = fields
        self.collections = collections or {}
        self.scopes: dict[str, Mapping[str, Field]] = {}
        self.i = 0

    def peek(self, ahead: int = 0) -> Token | None:
        index = self.i + ahead
        return self.tokens[index] if index < len(self.tokens) else None

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

    def expect(self, kind: str, what: str) -> Token:
        token = self.take()
        if token.kind != kind:
            raise query_error(f"ожидалось {what} в позиции {token.pos + 1}")
        return token

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
        left = self.additive()
        token = self.peek()
        if token is not None and token.kind == "name" and token.value == "in":
            raise query_error("оператор 'in' не поддерживается, используйте or")
        op = self.keyword(*COMPARISONS)
        if op is None:
            return left
        right = self.additive()
        _check_comparison(op, left, right)
        return Binary(op, left, right)

    def additive(self) -> Expr:
        expr = self.multiplicative()
        while op := self.keyword("add", "sub"):
            expr = _arithmetic(op, expr, self.multiplicative())
        return expr

    def multiplicative(self) -> Expr:
        expr = self.primary()
        while op := self.keyword("mul", "div", "mod"):
            expr = _arithmetic(op, expr, self.primary())
        return expr

    def primary(self) -> Expr:
        token = self.take()
        if token.kind == "lparen":
            expr = self.or_expr()
            self.expect("rparen", "')'")
            return expr
        if token.kind == "literal":
            category, value = token.value
            return Literal(category, value)
        if token.kind == "name":
            name = str(token.value)
            nxt = self.peek()
            if nxt is not None and nxt.kind == "lparen":
                if name.endswith(("/any", "/all")):
                    return self.lambda_(name)
                return self.call(name)
            if name in ("in", "and", "or", "not", *COMPARISONS, *ARITHMETIC):
                raise query_error(f"неожиданный оператор {name!r}")
            return self.field(name)
        if token.kind == "minus":
            operand = self.primary()
            if operand.category != "number":
                raise query_error("унарный минус применим только к числам")
            return Binary("sub", Literal("number", Decimal(0)), operand, "number")
        raise query_error(f"неожиданный элемент {token.value!r} в позиции {token.pos + 1}")

    def field(self, name: str) -> FieldRef:
        var, _, rest = name.partition("/")
        if rest and var in self.scopes:
            f = self.scopes[var].get(rest)
            if f is None:
                raise query_error(f"неизвестное поле {rest}")
            return FieldRef(f, var)
        f = self.fields.get(name)
        if f is None:
            raise query_error(f"неизвестное поле {name}")
        return FieldRef(f)

    def lambda_(self, name: str) -> Expr:
        section, _, quantifier = name.rpartition("/")
        rows = self.collections.get(section)
        if rows is None:
            raise query_error(f"{section} не является табличной частью")
        self.take()  # (
        if self.peek() is not None and self.tokens[self.i].kind == "rparen":
            self.take()
            return Lambda(quantifier, section, "", None)
        var = self.expect("name", "имя переменной")
        self.expect("colon", "':'")
        self.scopes[str(var.value)] = rows
        try:
            body = _bool(self.or_expr())
        finally:
            del self.scopes[str(var.value)]
        self.expect("rparen", "')'")
        return Lambda(quantifier, section, str(var.value), body)

    def call(self, name: str) -> Expr:
        if name not in FUNCTIONS:
            raise query_error(f"неизвестная функция {name}")
        self.take()  # (
        args: list[Expr] = [self.or_expr()]
        while self.peek() is not None and self.tokens[self.i].kind == "comma":
            self.take()
            args.append(self.or_expr())
        self.expect("rparen", "')'")
        wanted, result = FUNCTIONS[name]
        if name in ("isof", "cast") and len(args) == 1:
            args.insert(0, Literal("null", self.entity))  # the entity itself: isof('Type')
        count_ok = len(args) == len(wanted) or (name in _OPTIONAL_LAST and len(args) == len(wanted) - 1)
        if not count_ok:
            raise query_error(f"неверное число параметров функции {name}")
        for arg, category in zip(args, wanted, strict=False):
            if category != "*" and arg.category not in (category, "null"):
                raise query_error(f"неверные параметры функции {name}")
        if name in ("isof", "cast"):
            target = args[1]
            if not isinstance(target, Literal) or not isinstance(target.value, str):
                raise query_error(f"второй параметр {name} — имя типа в кавычках")
            if name == "cast":
                result = _EDM_CATEGORY.get(target.value, "guid")
        return Call(name, tuple(args), result)


def _arithmetic(op: str, left: Expr, right: Expr) -> Expr:
    if left.category not in ("number", "null") or right.category not in ("number", "null"):
        raise query_error(f"оператор {op} применим только к числам")
    return Binary(op, left, right, "number")


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


def parse_filter(
    text: str,
    fields: Mapping[str, Field],
    typed: Callable[[Field, Any], Any],
    collections: Mapping[str, Mapping[str, Field]] | None = None,
    entity: str = "",
) -> Predicate:
    """Compile ``$filter`` against a row type; the predicate takes stored values. ``collections``:
    the row type's tabular sections, for ``any``/``all``."""
    if not text.strip():
        raise query_error("пустое выражение $filter")
    expr = _bool(_Parser(text, fields, collections, entity).parse())

    def predicate(row: Row) -> bool:
        return bool(_Evaluator(row, typed).eval(expr))

    return predicate


class _Evaluator:
    def __init__(self, row: Row, typed: Callable[[Field, Any], Any]) -> None:
        self.row = row
        self.typed = typed
        self.scope: dict[str, Row] = {}

    def eval(self, expr: Expr) -> Any:
        if isinstance(expr, Literal):
            return expr.value
        if isinstance(expr, FieldRef):
            row = self.row if expr.var is None else self.scope[expr.var]
            return self.typed(expr.field, row.get(expr.field.name))
        if isinstance(expr, Not):
            return not self.eval(expr.operand)
        if isinstance(expr, Lambda):
            return self.lambda_(expr)
        if isinstance(expr, Call):
            return self.call(expr)
        if expr.op == "and":
            return self.eval(expr.left) and self.eval(expr.right)
        if expr.op == "or":
            return self.eval(expr.left) or self.eval(expr.right)
        left, right = self.eval(expr.left), self.eval(expr.right)
        if expr.op in ARITHMETIC:
            return _arith(expr.op, left, right)
        if isinstance(left, str) and isinstance(right, str):
            left, right = left.casefold(), right.casefold()
        if isinstance(left, int | Decimal) and isinstance(right, int | Decimal):
            left, right = Decimal(left), Decimal(right)
        if expr.op == "eq":
            return left == right
        if expr.op == "ne":
            return left != right
        if left is None or right is None:
            return False
        return {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[expr.op]

    def lambda_(self, expr: Lambda) -> bool:
        rows = [{"Ref_Key": self.row.get("Ref_Key"), **r} for r in self.row.get(expr.section) or []]
        if expr.body is None:  # Section/any(): the section is not empty
            return bool(rows) if expr.quantifier == "any" else True
        results = []
        for item in rows:
            self.scope[expr.var] = item
            results.append(bool(self.eval(expr.body)))
        self.scope.pop(expr.var, None)
        return any(results) if expr.quantifier == "any" else all(results)

    def call(self, expr: Call) -> Any:
        name = expr.name
        if name in ("isof", "cast"):
            return self.typecheck(expr)
        args = [self.eval(a) for a in expr.args]
        if any(a is None for a in args):
            return False if expr.category == "bool" else None
        if name in ("year", "month", "day", "hour", "minute", "second"):
            text = str(args[0])
            index = {"year": (0, 4), "month": (5, 7), "day": (8, 10), "hour": (11, 13), "minute": (14, 16)}
            begin, end = index.get(name, (17, 19))
            return Decimal(int(text[begin:end] or 0))
        texts = args
        if name == "substringof":
            return str(texts[0]).casefold() in str(texts[1]).casefold()
        if name == "startswith":
            return str(texts[0]).casefold().startswith(str(texts[1]).casefold())
        if name == "endswith":
            return str(texts[0]).casefold().endswith(str(texts[1]).casefold())
        if name == "tolower":
            return str(texts[0]).lower()
        if name == "toupper":
            return str(texts[0]).upper()
        if name == "trim":
            return str(texts[0]).strip()
        if name == "length":
            return Decimal(len(str(texts[0])))
        if name == "indexof":
            return Decimal(str(texts[0]).casefold().find(str(texts[1]).casefold()))
        if name == "substring":
            start = int(texts[1])
            if len(texts) == 2:
                return str(texts[0])[start:]
            return str(texts[0])[start : start + int(texts[2])]
        if name == "concat":
            return f"{texts[0]}{texts[1]}"
        raise query_error(f"неизвестная функция {name}")  # pragma: no cover - parse refuses it

    def typecheck(self, expr: Call) -> Any:
        """``isof(Field, 'StandardODATA.Catalog_X')`` on a composite field (its ``_Type``), or an
        Edm type name; ``cast`` gives the value when the type matches, else null."""
        target = str(expr.args[1].value) if isinstance(expr.args[1], Literal) else ""
        subject = expr.args[0]
        if isinstance(subject, FieldRef) and subject.field.composite:
            row = self.row if subject.var is None else self.scope[subject.var]
            actual = str(row.get(f"{subject.field.name}_Type") or "")
            matches = actual == target or actual.rsplit(".", 1)[-1] == target.rsplit(".", 1)[-1]
            value = self.eval(subject)
        elif isinstance(subject, Literal) and subject.category == "null":
            matches = target.rsplit(".", 1)[-1] == str(subject.value)
            value = None
        else:
            value = self.eval(subject)
            matches = _EDM_CATEGORY.get(target) == subject.category
            if expr.name == "cast" and target in _EDM_CATEGORY and value is not None:
                return _convert(value, _EDM_CATEGORY[target])
        if expr.name == "isof":
            return matches
        return value if matches else None


def _convert(value: Any, category: str) -> Any:
    try:
        if category == "string":
            return str(value)
        if category == "number":
            return Decimal(str(value))
    except ArithmeticError:
        return None
    return value


def _arith(op: str, left: Any, right: Any) -> Any:
    if left is None or right is None:
        return None
    a, b = Decimal(left), Decimal(right)
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    if b == 0:
        raise query_error("деление на ноль")
    return a / b if op == "div" else a % b


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
    options.json = wants_json(raw_query, accept)
    if fmt and not options.json and not fmt.startswith(("atom", "xml", "application/atom")):
        raise query_error(f"неверное значение $format: {fmt}")
    return options


def wants_json(raw_query: str, accept: str = "") -> bool:
    """JSON was asked for (``$format=json``, or a JSON ``Accept`` without ``$format``); otherwise 1C
    answers Atom/XML — its errors too. Works on a query string that does not parse."""
    try:
        fmt = split_query(raw_query).get("$format", "")
    except Exception:  # a broken escape: no $format to read
        fmt = ""
    return fmt.startswith(("json", "application/json")) or (
        not fmt and "application/json" in accept and "atom" not in accept
    )


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
