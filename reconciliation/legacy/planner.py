"""``migrate plan``: read every export through its mapping, normalize, find duplicates, write the plan.

Planning changes nothing in the database (it only reads which of the cards already exist). The plan
is a folder:

- ``plan.json`` — the header: programs, source files with their SHA-256, the opening-balance date
  (``as_of``), counts, batches (byte ranges of ``cards.tsv``) and ``plan_hash``, the SHA-256 of the
  card data and the header fields that decide what apply writes;
- ``cards.tsv`` — one line per card to create, in PostgreSQL's COPY text format (apply streams it);
- ``issues.csv`` — every rejected row and every warning, with file, line number and reason;
- ``report.csv`` and ``report.html`` — counts per program, invalid phones with reasons, duplicate
  groups (cards sharing a phone, one card number in several programs), same-phone name conflicts,
  and same-person suggestions (name + birth date, different phones: suggestions only).

Duplicates are not merged: the customer chooses in the cabinet after verifying the phone.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine, func, or_, select

from bonusbridge.models import Card, CardBalance, Customer, LegacyCard, Program
from bonusbridge.privacy import mask_phone
from mapping.legacy.spec import Conversion, ProgramMapping, load_mapping
from mapping.names import normalize_name, split_full_name
from mapping.phones_fast import fast_phone
from reconciliation.legacy.guards import DEFAULT_LIMIT, phone_kind, sms_usable
from reconciliation.legacy.readers import FileRejected, open_source

PLAN_VERSION = 1
BATCH_SIZE = 20_000
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_POINTS = Decimal("9999999999999.99")
#: Columns of ``cards.tsv`` (and of apply's staging table), in order.
COLUMNS = (
    "seq",
    "program",
    "number",
    "phone_raw",
    "phone_e164",
    "status",
    "balance",
    "expires_at",
    "tier",
    "last_name",
    "first_name",
    "middle_name",
    "birth_date",
    "email",
    "source",
    "line",
)
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_SPACES = re.compile(r"[\s\u00a0\u202f']")


class PlanError(Exception):
    """Nothing to plan: no mapping for a file, a mapping invalid, two files for one program."""


class _Duplicate(ValueError):
    """A row repeating a card number already planned from the same program."""


@dataclass
class ProgramStats:
    code: str
    name: str
    kind: str
    files: list[str] = field(default_factory=list)
    rows: int = 0
    cards: int = 0
    rejected: int = 0
    warnings: int = 0
    already_present: int = 0
    with_balance: int = 0
    balance: Decimal = Decimal("0.00")
    no_phone: int = 0
    invalid_phones: Counter[str] = field(default_factory=Counter)
    in_phone_groups: int = 0
    in_number_groups: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    rejected_files: int = 0
    duplicate_rows: int = 0
    not_mobile: Counter[str] = field(default_factory=Counter)
    negative: int = 0
    unreadable_points: int = 0
    #: The reconciliation sheet, in points: input = imported + expired + rejected + duplicates +
    #: already in the hub + negative (``balance`` is what is imported).
    points_input: Decimal = Decimal("0.00")
    points_expired: Decimal = Decimal("0.00")
    points_rejected: Decimal = Decimal("0.00")
    points_duplicates: Decimal = Decimal("0.00")
    points_present: Decimal = Decimal("0.00")
    points_negative: Decimal = Decimal("0.00")

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "kind": self.kind,
            "files": self.files,
            "rows": self.rows,
            "cards": self.cards,
            "rejected": self.rejected,
            "warnings": self.warnings,
            "already_present": self.already_present,
            "with_balance": self.with_balance,
            "balance": str(self.balance),
            "no_phone": self.no_phone,
            "invalid_phones": dict(self.invalid_phones),
            "in_phone_groups": self.in_phone_groups,
            "in_number_groups": self.in_number_groups,
            "statuses": dict(self.statuses),
            "rejected_files": self.rejected_files,
            "duplicate_rows": self.duplicate_rows,
            "not_mobile": dict(self.not_mobile),
            "negative": self.negative,
            "unreadable_points": self.unreadable_points,
            "points": {
                "input": str(self.points_input),
                "imported": str(self.balance),
                "expired": str(self.points_expired),
                "rejected": str(self.points_rejected),
                "duplicates": str(self.points_duplicates),
                "already_present": str(self.points_present),
                "negative": str(self.points_negative),
            },
        }


class _Issues:
    """``issues.csv``: every rejected row and warning, streamed to disk as found."""

    def __init__(self, handle: TextIO) -> None:
        self.writer = csv.writer(handle)
        self.writer.writerow(["severity", "program", "file", "line", "card_number", "reason"])
        self.count = 0

    def add(self, severity: str, program: str, file: str, line: int | str, number: str, reason: str) -> None:
        self.writer.writerow([severity, program, file, line, number, reason])
        self.count += 1


NULL = "\\N"
_SPECIAL = re.compile(r"[\\\t\n\r]")


def _escape(value: str | None) -> str | None:
    return value.translate(_ESCAPES) if value else None


def esc(value: str | None) -> str:
    if value is None or value == "":
        return "\\N"
    return value.translate(_ESCAPES)


def pair_files(
    mapping_paths: Sequence[Path], data_paths: Sequence[Path]
) -> list[tuple[ProgramMapping, Path]]:
    """Pair each export with its mapping: ``FILE`` next to ``FILE.yaml``/``<stem>.yaml``, or a
    mapping whose ``program.code`` is the file's stem, among the mappings given."""
    mappings = [load_mapping(path) for path in mapping_paths]
    by_code = {m.code: m for m in mappings}
    pairs = []
    for path in data_paths:
        found = None
        for candidate in (path.with_name(path.name + ".yaml"), path.with_suffix(".yaml")):
            if candidate.exists() and candidate != path:
                found = load_mapping(candidate)
                break
        if found is None:
            stem = path.stem.lower()
            found = by_code.get(stem) or next((m for c, m in by_code.items() if stem.startswith(c)), None)
        if found is None:
            raise PlanError(f"{path}: no mapping file (give --mapping or put {path.stem}.yaml next to it)")
        pairs.append((found, path))
    return pairs


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class HubCard:
    """A card already in the hub, as the duplicate search and the report see it."""

    code: str
    number: str
    phone: str | None
    last_name: str | None
    first_name: str | None
    middle_name: str | None
    birth_date: date | None
    balance: Decimal
    status: str
    owned: bool


def _hub_cards(engine: Engine | None, codes: Iterable[str]) -> tuple[dict[str, set[str]], list[HubCard]]:
    """The numbers the hub already has in the plan's programs, and the hub's cards the duplicate
    search takes in: every card not merged away that has a phone or belongs to one of the plan's
    programs (names and birth date from the owner's profile, else from the legacy import)."""
    found: dict[str, set[str]] = defaultdict(set)
    cards: list[HubCard] = []
    if engine is None:
        return found, cards
    wanted = list(codes)
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                Program.code,
                Card.number,
                Card.phone_e164,
                func.coalesce(Customer.last_name, LegacyCard.last_name),
                func.coalesce(Customer.first_name, LegacyCard.first_name),
                func.coalesce(Customer.middle_name, LegacyCard.middle_name),
                func.coalesce(Customer.birth_date, LegacyCard.birth_date),
                CardBalance.total,
                Card.status,
                Card.customer_id,
            )
            .join(Card, Card.program_id == Program.id)
            .outerjoin(Customer, Customer.id == Card.customer_id)
            .outerjoin(LegacyCard, LegacyCard.card_id == Card.id)
            .outerjoin(CardBalance, CardBalance.card_id == Card.id)
            .where(
                Card.merged_into_id.is_(None),
                or_(Card.phone_e164.is_not(None), Program.code.in_(wanted)),
            )
            .order_by(Card.id)
            .execution_options(yield_per=50_000)
        )
        for code, number, phone, last, first, middle, birth, total, status, owner in rows:
            if code in wanted:
                found[code].add(number)
            if isinstance(birth, str):  # SQLite hands COALESCE of dates back as text
                birth = date.fromisoformat(birth[:10])
            cards.append(
                HubCard(
                    code,
                    number,
                    phone,
                    last,
                    first,
                    middle,
                    birth,
                    Decimal(total or 0).quantize(CENT),
                    getattr(status, "value", str(status)),
                    owner is not None,
                )
            )
    return found, cards


class _Rows:
    """Per-row normalization for one program; caches the values that repeat (dates, statuses)."""

    def __init__(self, mapping: ProgramMapping, as_of: datetime) -> None:
        self.mapping = mapping
        self.as_of = as_of
        self.dates: dict[str, date | None] = {}
        self.expiries: dict[date, tuple[str, bool]] = {}
        self.conversions: dict[Decimal, Conversion] = {rule.discount: rule for rule in mapping.conversions}
        self.plain = re.compile(
            r"\d{1,13}(?:,\d{1,2})?" if mapping.decimal_comma else r"\d{1,13}(?:\.\d{1,2})?"
        )

    def amount(self, text: str, what: str) -> Decimal:
        """An exact, non-negative amount with at most 2 decimals; ValueError says what is wrong."""
        if self.plain.fullmatch(text):
            return Decimal(text.replace(",", ".")).quantize(CENT)
        cleaned = _SPACES.sub("", text)
        if self.mapping.decimal_comma:
            cleaned = cleaned.replace(",", ".")
        try:
            value = Decimal(cleaned)
        except InvalidOperation:
            raise ValueError(f"broken {what} {text!r}") from None
        if not value.is_finite():
            raise ValueError(f"broken {what} {text!r}")
        if value < 0:
            raise ValueError(f"negative {what} {text!r}")
        if value.as_tuple().exponent < -2 and value != value.quantize(CENT):  # type: ignore[operator]
            raise ValueError(f"{what} {text!r} has more than 2 decimals")
        if value > MAX_POINTS:
            raise ValueError(f"{what} {text!r} is too large")
        return value.quantize(CENT)

    def signed(self, text: str) -> Decimal | None:
        """The amount as written, negative ones too; None when it cannot be read."""
        body = text.strip()
        sign = 1
        if body[:1] in ("-", "\u2212"):
            sign, body = -1, body[1:].strip()
        try:
            return sign * self.amount(body, "amount")
        except ValueError:
            return None

    def opening(self, text: str) -> tuple[Decimal | None, Decimal | None]:
        """``(balance, None)`` for an opening balance, ``(None, debt)`` for a negative one (it is
        imported as zero and the debt reported); ValueError for one that cannot be read."""
        value = self.signed(text)
        if value is None:
            self.amount(text, "opening balance")  # raises, saying what is wrong
            raise ValueError(f"broken opening balance {text!r}")
        if value < 0:
            return None, value
        return value, None

    def parse_date(self, text: str, what: str) -> date | None:
        text = text.strip()
        if not text:
            return None
        if text in self.dates:
            parsed = self.dates[text]
        else:
            parsed = None
            for fmt in (*self.mapping.date_formats, "%Y-%m-%d"):
                try:
                    parsed = datetime.strptime(text, fmt).date()
                    break
                except ValueError:
                    continue
            if len(self.dates) < 100_000:
                self.dates[text] = parsed
        if parsed is None:
            raise ValueError(f"broken {what} {text!r} (expected {' or '.join(self.mapping.date_formats)})")
        return parsed

    def expiry(self, day: date) -> tuple[str, bool]:
        """The instant points dated ``day`` expire (the next local midnight, in UTC, ISO text), and
        whether that is already past at ``as_of``."""
        found = self.expiries.get(day)
        if found is None:
            local = datetime(day.year, day.month, day.day, tzinfo=self.mapping.zone) + timedelta(days=1)
            instant = local.astimezone(UTC)
            found = (instant.isoformat(), instant <= self.as_of)
            self.expiries[day] = found
        return found


@dataclass
class PlanResult:
    out: Path
    header: dict[str, Any]


@dataclass
class _ProgramTask:
    index: int
    mapping: ProgramMapping
    files: list[tuple[int, Path]]
    present: set[str]
    as_of: datetime
    #: Only these lines of each source (``--rows``); None: every line.
    only: dict[int, set[int]] | None = None


@dataclass
class _ProgramOutput:
    """One program's planned cards (COPY lines) and what the duplicate search needs of each."""

    stats: ProgramStats
    rejected_files: dict[int, str] = field(default_factory=dict)
    issues: list[tuple[str, str, str, int | str, str, str]] = field(default_factory=list)
    #: Rows the report lists one by one: (kind, program, file, line, number, full phone, reason).
    listed: list[tuple[str, str, str, int, str, str, str]] = field(default_factory=list)
    tsv: list[str] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    lines: array[int] = field(default_factory=lambda: array("I"))
    sources: array[int] = field(default_factory=lambda: array("H"))
    phones: list[str | None] = field(default_factory=list)
    names: list[str | None] = field(default_factory=list)
    persons: list[str | None] = field(default_factory=list)


def _plan_program(task: _ProgramTask) -> _ProgramOutput:
    """Read and normalize every file of one program (in a worker process when planning in parallel)."""
    mapping = task.mapping
    as_of = task.as_of
    stats = ProgramStats(mapping.code, mapping.name, mapping.kind)
    out = _ProgramOutput(stats)
    issues = out.issues
    present = task.present
    prog = task.index
    seen_here: dict[str, tuple[int, Decimal | None]] = {}
    for source_index, path in task.files:
        stats.files.append(path.name)
        only = task.only.get(source_index) if task.only is not None else None
        if task.only is not None and only is None:
            continue  # --rows named no line of this file
        try:
            src = open_source(mapping, path)
        except FileRejected as exc:
            out.rejected_files[source_index] = exc.reason
            issues.append(("file_rejected", mapping.code, path.name, exc.line or "", "", exc.reason))
            stats.rejected_files += 1
            continue
        rows = _Rows(mapping, as_of)
        fields = src.fields
        positions = src.positions
        width = max(positions) + 1
        pos = dict(zip(fields, positions, strict=True))
        p_number = pos["number"]
        p_phone = pos.get("phone")
        p_balance = pos.get("balance")
        p_expires = pos.get("expires_at")
        p_status = pos.get("status")
        p_discount = pos.get("discount")
        p_turnover = pos.get("turnover")
        p_full = pos.get("full_name")
        p_last = pos.get("last_name")
        p_first = pos.get("first_name")
        p_middle = pos.get("middle_name")
        p_birth = pos.get("birth_date")
        p_email = pos.get("email")
        required = [(f, pos[f]) for f in mapping.required if f != "number"]
        status_map = mapping.status_map
        default_status = mapping.default_status
        ordinal = len(out.numbers)
        code = mapping.code
        name = path.name
        is_discount = mapping.kind == "discount"
        tier_default = mapping.default_tier
        for line, row in src.rows:
            if only is not None and line not in only:
                continue
            stats.rows += 1
            if len(row) < width:
                if len(row) == 1 and row[0].startswith("\x00"):
                    reason = row[0][1:]
                elif not any(cell.strip() for cell in row):
                    stats.rows -= 1  # blank line: not a record
                    continue
                else:
                    reason = f"{len(row)} fields, the header has at least {width}"
                issues.append(("rejected", code, name, line, "", reason))
                stats.rejected += 1
                continue
            raw_number = row[p_number].strip()
            number = (
                raw_number.upper()
                if raw_number.isalnum() and raw_number.isascii()
                else ("".join(ch for ch in raw_number.upper() if ch.isalnum()))
            )
            balance_text = row[p_balance].strip() if p_balance is not None else ""
            # The row's points as written (signed), for the reconciliation sheet; None: unreadable.
            points: Decimal | None = rows.signed(balance_text) if balance_text else ZERO
            if is_discount:
                points = None  # known once the conversion rule has computed them
            warnings: list[str] = []
            debt: Decimal | None = None
            try:
                if not number:
                    raise ValueError("no card number")
                if len(number) > 64:
                    raise ValueError("card number longer than 64 characters")
                for field_name, at in required:
                    if not row[at].strip():
                        raise ValueError(f"required {field_name} is empty")
                status = default_status
                if p_status is not None:
                    text = row[p_status].strip()
                    if text:
                        found_status = status_map.get(text.casefold())
                        if found_status is None:
                            raise ValueError(f"unknown status {text!r}")
                        status = found_status
                tier = tier_default
                balance: Decimal | None = None
                if is_discount:
                    assert p_discount is not None
                    discount = rows.amount(row[p_discount] or "0", "discount")
                    rule = rows.conversions.get(discount)
                    if rule is None:
                        raise ValueError(f"no conversion rule for a {discount} % discount")
                    tier = rule.tier or tier
                    if rule.status is not None and status != "blocked":
                        status = rule.status
                    if rule.balance.fixed is not None:
                        balance = rule.balance.fixed
                    elif rule.balance.turnover_percent is not None:
                        assert p_turnover is not None
                        turnover = rows.amount(row[p_turnover] or "0", "turnover")
                        balance = (turnover * rule.balance.turnover_percent / 100).quantize(
                            CENT, rounding=ROUND_DOWN
                        )
                    elif balance_text:
                        balance, debt = rows.opening(balance_text)
                    points = debt if debt is not None else (balance or ZERO)
                elif balance_text:
                    balance, debt = rows.opening(balance_text)
                expires_iso = None
                if p_expires is not None:
                    expiry_day = rows.parse_date(row[p_expires], "expiry date")
                    if expiry_day is not None:
                        expires_iso, past = rows.expiry(expiry_day)
                        if past and balance:
                            warnings.append(
                                f"opening balance {balance} expired on {expiry_day.isoformat()}: not imported"
                            )
                            stats.points_expired += balance
                            balance = None
                            expires_iso = None
                previous = seen_here.get(number)
                if previous is not None:
                    raise _Duplicate(f"card number repeated in the program (first at line {previous[0]})")
            except _Duplicate as exc:
                issues.append(("duplicate_row", code, name, line, number, str(exc)))
                stats.duplicate_rows += 1
                if points is not None:
                    stats.points_input += points
                    stats.points_duplicates += points
                continue
            except ValueError as exc:
                issues.append(("rejected", code, name, line, number, str(exc)))
                stats.rejected += 1
                if points is None:
                    stats.unreadable_points += 1
                else:
                    stats.points_input += points
                    stats.points_rejected += points
                continue
            # An optional field that cannot be read is dropped with a warning; the card is imported.
            birth = None
            if p_birth is not None:
                try:
                    birth = rows.parse_date(row[p_birth], "birth date")
                except ValueError as exc:
                    warnings.append(f"{exc}: birth date not imported")
                if birth is not None and not (date(1900, 1, 1) <= birth <= as_of.date()):
                    warnings.append(f"birth date {birth.isoformat()} out of range: not imported")
                    birth = None
            assert points is not None
            stats.points_input += points
            seen_here[number] = (line, balance)
            if debt is not None:
                stats.negative += 1
                stats.points_negative += debt
                out.listed.append(("debt", code, name, line, number, "", str(debt)))
                issues.append(
                    (
                        "debt",
                        code,
                        name,
                        line,
                        number,
                        f"negative balance {debt}: imported as 0, the debt is recorded here",
                    )
                )
            if number in present:
                stats.already_present += 1
                stats.points_present += balance or ZERO
                continue

            phone_raw = row[p_phone].strip() if p_phone is not None else ""
            e164 = None
            if phone_raw:
                e164, problem = fast_phone(phone_raw)
                if e164 is None:
                    stats.invalid_phones[problem or "invalid"] += 1
                    out.listed.append(
                        ("invalid_phone", code, name, line, number, phone_raw[:64], problem or "invalid")
                    )
                    issues.append(
                        (
                            "invalid_phone",
                            code,
                            name,
                            line,
                            number,
                            f"phone {mask_phone(phone_raw)}: {problem}",
                        )
                    )
                elif not sms_usable(e164):
                    kind = phone_kind(e164)
                    stats.not_mobile[kind] += 1
                    out.listed.append(("not_mobile", code, name, line, number, e164, kind))
                    issues.append(
                        (
                            "not_mobile",
                            code,
                            name,
                            line,
                            number,
                            f"phone {mask_phone(e164)}: {kind}, not usable for SMS login",
                        )
                    )
            else:
                stats.no_phone += 1
            last = first = middle = None
            if p_full is not None:
                full = row[p_full].strip()
                if full:
                    parts = split_full_name(full)
                    last, first, middle = parts.last, parts.first, parts.middle
            else:
                last = normalize_name(row[p_last]) if p_last is not None else None
                first = normalize_name(row[p_first]) if p_first is not None else None
                middle = normalize_name(row[p_middle]) if p_middle is not None else None
            email: str | None = row[p_email].strip() if p_email is not None else ""
            if email and ("@" not in email or len(email) > 254):
                warnings.append("email without '@' or longer than 254 characters: not imported")
                email = ""
            if (last and len(last) > 100) or (first and len(first) > 100) or (middle and len(middle) > 100):
                warnings.append("a name part longer than 100 characters: name not imported")
                last = first = middle = None
            for text in warnings:
                issues.append(("warning", code, name, line, number, text))
            stats.warnings += len(warnings)

            seq = prog * 1_000_000_000 + ordinal
            ordinal += 1
            out.numbers.append(number)
            out.lines.append(line)
            out.sources.append(source_index)
            out.phones.append(e164)
            if last or first:
                key_text = f"{last or ''}|{first or ''}|{middle or ''}".casefold().replace("ё", "е")
                out.names.append(key_text)
                out.persons.append(f"{key_text}|{birth.isoformat()}" if birth is not None else None)
            else:
                out.names.append(None)
                out.persons.append(None)
            stats.cards += 1
            stats.statuses[status] += 1
            opening_text = None
            if balance:
                balance = balance.quantize(CENT)
                stats.with_balance += 1
                stats.balance += balance
                opening_text = str(balance)
            else:
                expires_iso = None
            raw_text: str | None = phone_raw[:64]
            if _SPECIAL.search(f"{raw_text}{last}{first}{middle}{email}"):
                raw_text, last, first, middle, email = (
                    _escape(v) for v in (raw_text, last, first, middle, email)
                )
            out.tsv.append(
                f"{seq}\t{prog}\t{number}\t{raw_text or NULL}\t{e164 or NULL}\t{status}\t"
                f"{opening_text or NULL}\t{expires_iso or NULL}\t{tier or NULL}\t{last or NULL}\t"
                f"{first or NULL}\t{middle or NULL}\t{birth.isoformat() if birth else NULL}\t"
                f"{email or NULL}\t{source_index}\t{line}\n"
            )
    if stats.already_present:
        issues.append(
            (
                "info",
                mapping.code,
                "",
                "",
                "",
                f"{stats.already_present} cards are already in the hub (imported before): left out, "
                "and counted in the duplicate search as the hub's cards",
            )
        )
    return out


#: ``seq_source`` of a card that is already in the hub (not read from a file of this plan).
HUB = 0xFFFF


def parse_rows(spec: str, files: Sequence[Path]) -> dict[str, set[int]]:
    """``--rows``: which lines to plan, by file name. ``SPEC`` is ``FILE:LINES`` (``LINES``:
    ``12,15-20``), several separated by ``;``, or bare ``LINES`` when one file is planned, or
    ``@LIST.csv``: a CSV with ``file`` and ``line`` columns (``issues.csv``, ``applied_issues.csv``).
    Raises PlanError on anything else."""
    names = {path.name for path in files}
    wanted: dict[str, set[int]] = defaultdict(set)
    if spec.startswith("@"):
        listed = Path(spec[1:])
        try:
            text = listed.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise PlanError(f"--rows {spec}: cannot read the list ({exc})") from None
        dialect = ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
        for row in csv.DictReader(text.splitlines(), delimiter=dialect):
            file, line = (row.get("file") or "").strip(), (row.get("line") or "").strip()
            if file and line.isdigit():
                wanted[file].add(int(line))
        if not wanted:
            raise PlanError(f"--rows {spec}: the list has no rows with a file and a line")
    else:
        for part in filter(None, (p.strip() for p in spec.split(";"))):
            file, _, lines = part.rpartition(":")
            if not file:
                if len(names) != 1:
                    raise PlanError(f"--rows {part!r}: name the file (FILE:LINES) when planning several")
                [file] = names
            for piece in filter(None, (p.strip() for p in lines.split(","))):
                low, _, high = piece.partition("-")
                if not low.isdigit() or (high and not high.isdigit()):
                    raise PlanError(f"--rows {part!r}: {piece!r} is not a line number or a range")
                first, last = int(low), int(high or low)
                if last < first or last - first > 10_000_000:
                    raise PlanError(f"--rows {part!r}: {piece!r} is not a range of lines")
                wanted[file].update(range(first, last + 1))
        if not wanted:
            raise PlanError(f"--rows {spec!r}: no line named")
    unknown = sorted(set(wanted) - names)
    if unknown:
        raise PlanError(f"--rows names files that are not planned: {', '.join(unknown)}")
    return dict(wanted)


def make_plan(
    files: Sequence[Path],
    out: Path,
    *,
    mappings: Sequence[Path] = (),
    as_of: datetime | None = None,
    engine: Engine | None = None,
    batch_size: int = BATCH_SIZE,
    workers: int | None = None,
    rows: Mapping[str, set[int]] | None = None,
    lang: str = "ru",
    merge_limit: int = DEFAULT_LIMIT,
) -> PlanResult:
    """Write the plan folder ``out`` for ``files`` (see the module docs). Nothing is written to the
    database; ``engine`` (optional) is read for the hub's cards: those already there are left out,
    and all of them take part in the duplicate search. Programs are read by ``workers`` processes
    (default: up to 2, as many as CPUs); the plan is the same either way. ``rows``: plan only these
    lines of these files (by file name). ``lang``: ``ru`` (``issues.csv`` with ``;``) or ``en``."""
    if lang not in ("ru", "en"):
        raise PlanError(f"unknown language {lang!r}: ru or en")
    as_of = (as_of or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    pairs = pair_files(mappings, files)
    existing, hub_cards = _hub_cards(engine, [m.code for m, _ in pairs])
    tasks: dict[str, _ProgramTask] = {}
    sources: list[dict[str, Any]] = []
    for mapping, path in pairs:
        task = tasks.get(mapping.code)
        if task is None:
            task = tasks[mapping.code] = _ProgramTask(
                len(tasks), mapping, [], existing.get(mapping.code, set()), as_of, {} if rows else None
            )
        if rows is not None and task.only is not None and path.name in rows:
            task.only[len(sources)] = set(rows[path.name])
        task.files.append((len(sources), path))
        sources.append({"file": path.name, "program": mapping.code, "sha256": _sha256(path)})
    out.mkdir(parents=True, exist_ok=True)
    if workers is None:
        workers = min(2, os.cpu_count() or 1, len(tasks))

    # Compact per-card state for duplicate detection (a million cards stay well under 1 GiB).
    seq_number: list[str] = []
    seq_program = array("H")
    seq_line = array("I")
    seq_source = array("H")
    seq_name = array("q")
    seq_phone: list[str | None] = []
    phone_first: dict[str, int] = {}
    phone_groups: dict[str, list[int]] = {}
    number_first: dict[str, int] = {}
    number_groups: dict[str, list[int]] = {}
    person_first: dict[str, int] = {}
    person_groups: dict[str, list[int]] = {}
    programs: dict[str, ProgramStats] = {}
    batches: list[dict[str, int]] = []
    listed: list[tuple[str, str, str, int, str, str, str]] = []
    digest = hashlib.sha256()
    offset = 0
    issue_count = 0

    def add(seq: int, number: str, phone: str | None, name_key: str | None, person: str | None) -> None:
        seq_number.append(number)
        seq_phone.append(phone)
        seq_name.append(hash(name_key) or 1 if name_key else 0)
        if person is not None:
            other = person_first.setdefault(person, seq)
            if other != seq:
                person_groups.setdefault(person, [other]).append(seq)
        if phone is not None:
            other = phone_first.setdefault(phone, seq)
            if other != seq:
                phone_groups.setdefault(phone, [other]).append(seq)
        other = number_first.setdefault(number, seq)
        if other != seq:
            number_groups.setdefault(number, [other]).append(seq)

    with (
        (out / "cards.tsv").open("wb") as data,
        # UTF-8 with a BOM, and ";" for a Russian Excel: the file opens right with a double click.
        (out / "issues.csv").open("w", encoding="utf-8-sig", newline="") as ih,
    ):
        issue_writer = csv.writer(ih, delimiter=";" if lang == "ru" else ",")
        issue_writer.writerow(["severity", "program", "file", "line", "card_number", "reason"])
        pending: list[str] = []

        def flush() -> None:
            nonlocal offset, pending
            if not pending:
                return
            chunk = "".join(pending).encode("utf-8")
            data.write(chunk)
            digest.update(chunk)
            batches.append(
                {"no": len(batches), "offset": offset, "length": len(chunk), "cards": len(pending)}
            )
            offset += len(chunk)
            pending = []

        pool = None
        if workers > 1:
            import multiprocessing

            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            pool = multiprocessing.get_context(method).Pool(workers)
        try:
            results = pool.imap(_plan_program, tasks.values()) if pool else map(_plan_program, tasks.values())
            for task, result in zip(tasks.values(), results, strict=True):
                programs[task.mapping.code] = result.stats
                for source_index, reason in result.rejected_files.items():
                    sources[source_index]["rejected"] = reason
                issue_writer.writerows(result.issues)
                listed.extend(result.listed)
                issue_count += len(result.issues)
                prog = task.index
                for number, phone, name_key, person in zip(
                    result.numbers, result.phones, result.names, result.persons, strict=True
                ):
                    add(len(seq_number), number, phone, name_key, person)
                count = len(result.numbers)
                seq_program.extend([prog] * count)
                seq_line.extend(result.lines)
                seq_source.extend(result.sources)
                tsv = result.tsv
                at = 0
                while at < len(tsv):
                    take = min(batch_size - len(pending), len(tsv) - at)
                    pending.extend(tsv[at : at + take])
                    at += take
                    if len(pending) >= batch_size:
                        flush()
                del result
        finally:
            if pool is not None:
                pool.close()
                pool.join()
        flush()

    # The hub's cards join the duplicate search (a re-plan after a partial import finds the groups
    # the first plan found); they are not planned, only reported beside the file's cards.
    planned = len(seq_number)
    plan_codes = {code: index for index, code in enumerate(programs)}
    codes = list(programs)
    hub_details: dict[int, HubCard] = {}
    for card in hub_cards:
        index = plan_codes.get(card.code)
        if index is None:
            index = plan_codes[card.code] = len(codes)
            codes.append(card.code)
        seq = len(seq_number)
        hub_details[seq] = card
        name_key = None
        if card.last_name or card.first_name:
            name_key = f"{card.last_name or ''}|{card.first_name or ''}|{card.middle_name or ''}"
            name_key = name_key.casefold().replace("ё", "е")
        person = f"{name_key}|{card.birth_date.isoformat()}" if name_key and card.birth_date else None
        add(seq, card.number, card.phone, name_key, person)
        seq_program.append(index)
        seq_line.append(0)
        seq_source.append(HUB)
    del hub_cards

    rejected_files = [
        {"file": s["file"], "program": s["program"], "reason": s["rejected"]}
        for s in sources
        if "rejected" in s
    ]
    header_core: dict[str, Any] = {
        "version": PLAN_VERSION,
        "as_of": as_of.isoformat(),
        "programs": [{"code": s.code, "name": s.name, "kind": s.kind} for s in programs.values()],
        "sources": [{"file": s["file"], "program": s["program"], "sha256": s["sha256"]} for s in sources],
        "columns": list(COLUMNS),
        "batches": batches,
    }
    if rejected_files:
        # Part of the hash: a plan cannot be made to look complete by editing plan.json.
        header_core["rejected_files"] = rejected_files
    digest.update(json.dumps(header_core, sort_keys=True).encode())
    plan_hash = digest.hexdigest()

    def relevant(members: list[int]) -> bool:
        # A group of the hub's cards alone, none of this plan's programs, is not this plan's business.
        return any(seq < planned or seq_program[seq] < len(programs) for seq in members)

    groups = _groups(
        {k: v for k, v in phone_groups.items() if relevant(v)},
        {k: v for k, v in number_groups.items() if relevant(v)},
        {k: v for k, v in person_groups.items() if relevant(v)},
        seq_number,
        seq_program,
        seq_phone,
        seq_name,
        programs,
    )
    header = {
        **header_core,
        "plan_hash": plan_hash,
        "created_at": datetime.now(UTC).isoformat(),
        "sources": sources,
        "incomplete": bool(rejected_files),
        "rejected_files": rejected_files,
        "rows_only": {name: len(lines) for name, lines in rows.items()} if rows else None,
        "cards": planned,
        "hub_cards_compared": len(hub_details),
        "issues": issue_count,
        "lang": lang,
        "merge_limit": merge_limit,
        "stats": [s.as_json() for s in programs.values()],
        "duplicates": groups["summary"],
    }
    (out / "plan.json").write_text(json.dumps(header, ensure_ascii=False, indent=1), encoding="utf-8")
    from reconciliation.legacy.report import ReportData, write_reports

    details = _details(out / "cards.tsv", groups, planned)
    write_reports(
        out,
        ReportData(
            header=header,
            groups=groups,
            codes=codes,
            seq_number=seq_number,
            seq_program=seq_program,
            seq_line=seq_line,
            seq_source=seq_source,
            sources=sources,
            details=details,
            hub=hub_details,
            listed=listed,
            merge_limit=merge_limit,
        ),
    )
    return PlanResult(out, header)


@dataclass(frozen=True)
class CardDetail:
    """What the report shows of a planned card in a duplicate group."""

    phone: str | None
    status: str
    balance: Decimal
    last_name: str | None
    first_name: str | None
    middle_name: str | None
    birth_date: date | None


def _details(tsv: Path, groups: dict[str, Any], planned: int) -> dict[int, CardDetail]:
    """Names, birth dates and balances of the planned cards that are in a group (a second pass over
    ``cards.tsv``, whose n-th line is the card ``seq`` n, so nothing is kept for the others)."""
    wanted: set[int] = set()
    for _, members in groups["phone"]:
        wanted.update(members)
    for _, members in groups["number"]:
        wanted.update(members)
    for members in groups["suggestions"]:
        wanted.update(members)
    wanted = {seq for seq in wanted if seq < planned}
    found: dict[int, CardDetail] = {}
    if not wanted:
        return found
    from reconciliation.legacy.applier import unescape

    with tsv.open("rb") as handle:
        for seq, raw in enumerate(handle):
            if seq not in wanted:
                continue
            v = [unescape(part) for part in raw.decode("utf-8").rstrip("\n").split("\t")]
            found[seq] = CardDetail(
                phone=v[4],
                status=v[5] or "",
                balance=Decimal(v[6] or "0"),
                last_name=v[9],
                first_name=v[10],
                middle_name=v[11],
                birth_date=date.fromisoformat(v[12]) if v[12] else None,
            )
    return found


def _groups(
    phone_groups: dict[str, list[int]],
    number_groups: dict[str, list[int]],
    person_groups: dict[str, list[int]],
    seq_number: list[str],
    seq_program: array[int],
    seq_phone: list[str | None],
    seq_name: array[int],
    programs: dict[str, ProgramStats],
) -> dict[str, Any]:
    stats = list(programs.values())
    phone_list = []
    conflicts = []
    for phone, members in phone_groups.items():
        for seq in members:
            if seq_program[seq] < len(stats):
                stats[seq_program[seq]].in_phone_groups += 1
        names = {seq_name[seq] for seq in members} - {0}
        conflict = len(names) > 1
        phone_list.append((phone, members))
        if conflict:
            conflicts.append((phone, members))
    number_list = []
    for number, members in number_groups.items():
        for seq in members:
            if seq_program[seq] < len(stats):
                stats[seq_program[seq]].in_number_groups += 1
        number_list.append((number, members))
    suggestions = []
    for members in person_groups.values():
        phones = {seq_phone[seq] for seq in members}
        if len(phones) > 1 or None in phones:
            suggestions.append(members)
    summary = {
        "phone_groups": len(phone_list),
        "cards_in_phone_groups": sum(len(m) for _, m in phone_list),
        "number_groups": len(number_list),
        "cards_in_number_groups": sum(len(m) for _, m in number_list),
        "name_conflicts": len(conflicts),
        "person_suggestions": len(suggestions),
    }
    return {
        "summary": summary,
        "phone": phone_list,
        "number": number_list,
        "conflicts": conflicts,
        "suggestions": suggestions,
    }
