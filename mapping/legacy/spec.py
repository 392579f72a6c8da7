"""One legacy program's export, described by a YAML mapping file: the file's shape and the rules.

A mapping file says how to read the export (format, encoding, delimiter, decimal comma, header
row, sheet), which source column feeds which hub field, how dates are written, how the legacy
status words map to the hub's card statuses, and how a discount card converts into a bonus card
(tier, status and opening balance per discount rate). ``load_mapping`` validates all of it and
refuses the file with every problem listed (``MappingFileError``), before any row is read.

See ``mapping/legacy/README.md`` for the format with an example.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from mapping.errors import MappingError

#: Encodings a legacy export may declare. Anything else is refused: guessing is how mojibake lands.
ENCODINGS = {"cp1251": "cp1251", "windows-1251": "cp1251", "utf-8": "utf-8", "utf-8-sig": "utf-8-sig"}
FORMATS = ("csv", "xlsx")
STATUSES = ("active", "accumulation_only", "blocked")
KINDS = ("bonus", "discount")
#: Hub fields a column may feed.
FIELDS = (
    "number",
    "phone",
    "full_name",
    "last_name",
    "first_name",
    "middle_name",
    "birth_date",
    "email",
    "balance",
    "expires_at",
    "status",
    "discount",
    "turnover",
    "issued_at",
)
DATE_FIELDS = ("birth_date", "expires_at", "issued_at")
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
_TIER = re.compile(r"^[\w .+-]{1,40}$")


class MappingFileError(MappingError):
    """A mapping file that cannot be used; ``problems`` lists every reason."""

    code = "legacy_mapping_invalid"

    def __init__(self, path: str, problems: list[str]) -> None:
        super().__init__(f"{path}: " + "; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class BalanceRule:
    """Opening balance of a converted card: a fixed amount, a share of the turnover, or the
    export's own balance column."""

    fixed: Decimal | None = None
    turnover_percent: Decimal | None = None
    from_column: bool = False


@dataclass(frozen=True)
class Conversion:
    """What a discount card with ``discount`` % becomes."""

    discount: Decimal
    tier: str | None
    status: str | None
    balance: BalanceRule


@dataclass(frozen=True)
class ProgramMapping:
    path: str
    code: str
    name: str
    kind: str
    format: str
    encoding: str
    delimiter: str
    decimal_comma: bool
    header_row: int
    sheet: str | None
    columns: Mapping[str, str]
    required: tuple[str, ...]
    date_formats: tuple[str, ...]
    timezone: str
    status_map: Mapping[str, str]
    default_status: str
    default_tier: str | None
    conversions: tuple[Conversion, ...] = field(default_factory=tuple)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_mapping(path: str | Path) -> ProgramMapping:
    """Read and validate one mapping file."""
    where = str(path)
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise MappingFileError(where, [f"cannot read: {exc}"]) from None
    return parse_mapping(raw, where)


def parse_mapping(raw: Any, where: str = "<mapping>") -> ProgramMapping:
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise MappingFileError(where, ["the file must be a YAML mapping"])
    known = {"program", "file", "columns", "required", "dates", "statuses", "conversion", "tier"}
    problems += [f"unknown key {key!r}" for key in raw if key not in known]

    program = _section(raw, "program", problems)
    code = str(program.get("code", ""))
    if not _CODE.match(code):
        problems.append("program.code must be 1-48 lowercase letters, digits, '-' or '_'")
    name = str(program.get("name") or code)
    kind = str(program.get("kind", "bonus"))
    if kind not in KINDS:
        problems.append(f"program.kind must be one of {', '.join(KINDS)}")

    source = _section(raw, "file", problems)
    fmt = str(source.get("format", "csv"))
    if fmt not in FORMATS:
        problems.append(f"file.format must be one of {', '.join(FORMATS)}")
    encoding_name = str(source.get("encoding", "utf-8")).lower()
    encoding = ENCODINGS.get(encoding_name, "")
    if fmt == "csv" and not encoding:
        problems.append(f"file.encoding {encoding_name!r} is not one of {', '.join(sorted(ENCODINGS))}")
    elif encoding:
        codecs.lookup(encoding)
    delimiter = str(source.get("delimiter", ","))
    if len(delimiter) != 1:
        problems.append("file.delimiter must be one character")
    decimal_comma = bool(source.get("decimal_comma", False))
    header_row = source.get("header_row", 1)
    if not isinstance(header_row, int) or header_row < 1:
        problems.append("file.header_row must be a positive line number")
        header_row = 1
    sheet = source.get("sheet")

    columns_raw = raw.get("columns")
    columns: dict[str, str] = {}
    if not isinstance(columns_raw, dict) or not columns_raw:
        problems.append("columns must map hub fields to the export's column headers")
    else:
        for key, value in columns_raw.items():
            if key not in FIELDS:
                problems.append(f"columns.{key}: not a hub field (one of {', '.join(FIELDS)})")
            elif not isinstance(value, str) or not value.strip():
                problems.append(f"columns.{key}: the export's column header is required")
            else:
                columns[key] = value.strip()
    if "number" not in columns:
        problems.append("columns.number (the card number) is required")
    if "full_name" in columns and {"last_name", "first_name"} & set(columns):
        problems.append("columns: give full_name or last_name/first_name, not both")

    required = tuple(raw.get("required") or ["number"])
    for item in required:
        if item not in columns:
            problems.append(f"required field {item!r} has no column")

    dates = raw.get("dates") or {}
    formats = tuple(dates.get("formats") or ["%d.%m.%Y", "%Y-%m-%d"])
    for fmt_text in formats:
        try:
            datetime(2001, 2, 3).strftime(fmt_text)
        except ValueError:
            problems.append(f"dates.formats: {fmt_text!r} is not a strftime format")
    timezone = str(dates.get("timezone", "Europe/Moscow"))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"dates.timezone {timezone!r} is not an IANA zone")

    statuses = raw.get("statuses") or {}
    status_map: dict[str, str] = {}
    for key, value in (statuses.get("map") or {}).items():
        if value not in STATUSES:
            problems.append(f"statuses.map[{key!r}]: {value!r} is not one of {', '.join(STATUSES)}")
        status_map[str(key).strip().casefold()] = str(value)
    default_status = str(statuses.get("default", "accumulation_only"))
    if default_status not in STATUSES:
        problems.append(f"statuses.default must be one of {', '.join(STATUSES)}")

    conversions: list[Conversion] = []
    for index, rule in enumerate(raw.get("conversion") or []):
        conversions.append(_conversion(rule, index, problems))
    if kind == "discount":
        if not conversions:
            problems.append("a discount program needs conversion rules (discount → tier, balance)")
        if "discount" not in columns:
            problems.append("a discount program needs columns.discount")
        for number, rule in enumerate(conversions):
            if rule.balance.turnover_percent is not None and "turnover" not in columns:
                problems.append(f"conversion[{number}]: turnover_percent needs columns.turnover")
            if rule.balance.from_column and "balance" not in columns:
                problems.append(f"conversion[{number}]: balance: column needs columns.balance")
    elif conversions:
        problems.append("conversion rules apply to discount programs only (program.kind: discount)")
    if len({rule.discount for rule in conversions}) != len(conversions):
        problems.append("conversion: two rules for the same discount")

    tiers = [rule.tier for rule in conversions if rule.tier is not None]
    if raw.get("tier") is not None:
        tiers.append(str(raw["tier"]))
    problems += [
        f"tier {tier!r}: 1-40 letters, digits, spaces or . + - _" for tier in tiers if not _TIER.match(tier)
    ]
    if problems:
        raise MappingFileError(where, problems)
    return ProgramMapping(
        path=where,
        code=code,
        name=name,
        kind=kind,
        format=fmt,
        encoding=encoding or "utf-8",
        delimiter=delimiter,
        decimal_comma=decimal_comma,
        header_row=header_row,
        sheet=str(sheet) if sheet is not None else None,
        columns=columns,
        required=required,
        date_formats=formats,
        timezone=timezone,
        status_map=status_map,
        default_status=default_status,
        default_tier=str(raw["tier"]) if raw.get("tier") is not None else None,
        conversions=tuple(conversions),
    )


def _section(raw: dict[str, Any], name: str, problems: list[str]) -> dict[str, Any]:
    value = raw.get(name)
    if not isinstance(value, dict):
        problems.append(f"{name}: a section is required")
        return {}
    return value


def _decimal(value: Any, where: str, problems: list[str]) -> Decimal | None:
    try:
        number = Decimal(str(value).replace(",", "."))
    except InvalidOperation:
        problems.append(f"{where}: {value!r} is not a number")
        return None
    if not number.is_finite() or number < 0:
        problems.append(f"{where}: must be a non-negative number")
        return None
    return number


def _conversion(rule: Any, index: int, problems: list[str]) -> Conversion:
    where = f"conversion[{index}]"
    if not isinstance(rule, dict) or "discount" not in rule:
        problems.append(f"{where}: needs at least 'discount'")
        return Conversion(Decimal(-1 - index), None, None, BalanceRule())
    discount = _decimal(rule["discount"], f"{where}.discount", problems) or Decimal(0)
    status = rule.get("status")
    if status is not None and status not in STATUSES:
        problems.append(f"{where}.status must be one of {', '.join(STATUSES)}")
    balance_raw = rule.get("opening_balance", 0)
    balance = BalanceRule(fixed=Decimal(0))
    if balance_raw == "column":
        balance = BalanceRule(from_column=True)
    elif isinstance(balance_raw, dict) and "turnover_percent" in balance_raw:
        balance = BalanceRule(
            turnover_percent=_decimal(balance_raw["turnover_percent"], f"{where}.turnover_percent", problems)
        )
    else:
        fixed = _decimal(balance_raw, f"{where}.opening_balance", problems)
        if fixed is not None and fixed != fixed.quantize(Decimal("0.01")):
            problems.append(f"{where}.opening_balance has more than 2 decimals")
        balance = BalanceRule(fixed=fixed)
    tier = rule.get("tier")
    return Conversion(discount, str(tier) if tier is not None else None, status, balance)
