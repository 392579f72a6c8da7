"""The members file's format (seed 001: "export des membres", put 1 in the column "Adhésion au
programme de fidélité", re-import): writing it, and reading back what staff saved from Excel.

Only the format lives here, without a database: which columns, how cells are written, and what a
row must hold to be read at all. Whether a customer exists and what joining or leaving means is
``bonusbridge.services.membership``'s.

Writing (decision): UTF-8 with a byte-order mark, because without it Excel reads UTF-8 as the
system's 8-bit code page and Cyrillic or accented names come out garbled; ``;`` between cells by
default, the list separator of French and Russian Excel (``,`` and a tab are the other choices);
CRLF line ends. Free text a customer typed (names, e-mail) that starts like a formula (``=``,
``+``, ``-``, ``@``) gets a leading ``'``, so opening the file cannot run it (CSV injection).

Reading is tolerant of what Excel does on saving: any column order, the BOM or none, ``;``, ``,``
or a tab (the one the header line uses most), UTF-16 ("Unicode text"), empty rows, cells
re-quoted. A file that is not UTF-8 (Excel's plain "CSV" in a Western or Cyrillic code page) is
still read, since the two columns that matter are digits, but its text cannot be compared. Only
``customer_id`` and ``member`` are read for changes; every problem is reported with its row
number (the header is row 1, as Excel numbers them), all at once, before anything is written.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO

from bonusbridge.errors import BonusBridgeError

#: The columns, in the order they are written. ``member`` is the one staff edit (1 or 0).
COLUMNS = ("customer_id", "phone", "last_name", "first_name", "email", "cards", "points", "member")
#: Columns compared with the hub to warn that a change there is not imported (phones are not:
#: Excel turns ``+79161234567`` into a number, which would warn on every row for nothing).
COMPARED = ("last_name", "first_name", "email")
SEPARATORS = (";", ",", "\t")
#: Other headings accepted for a column: the seed's label of the member column.
ALIASES = {
    "id": "customer_id",
    "adhésion au programme de fidélité": "member",
    "adhesion au programme de fidelite": "member",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CUSTOMER_ID = re.compile(r"[1-9][0-9]{0,9}")


def guarded(value: str | None) -> str:
    """A free-text cell as written: a leading ``'`` when it would start a spreadsheet formula."""
    text = value or ""
    return "'" + text if text.startswith(_FORMULA_START) else text


@dataclass(frozen=True)
class MemberRow:
    """One customer as the file shows them: the staff file carries the phone in full."""

    customer_id: int
    phone: str | None
    last_name: str | None
    first_name: str | None
    email: str | None
    cards: Sequence[str]
    points: Decimal
    member: bool


def write_members(rows: Iterable[MemberRow], out: IO[bytes], *, separator: str = ";") -> int:
    """Write the header and ``rows`` to ``out`` (bytes: the BOM and UTF-8 are this function's);
    the number of customers written."""
    if separator not in SEPARATORS:
        raise ValueError(f"the separator is one of {SEPARATORS!r}")
    out.write(codecs.BOM_UTF8)
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    writer = csv.writer(text, delimiter=separator, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    written = 0
    for row in rows:
        writer.writerow(
            [
                str(row.customer_id),
                row.phone or "",
                guarded(row.last_name),
                guarded(row.first_name),
                guarded(row.email),
                ", ".join(row.cards),
                f"{row.points:.2f}",
                "1" if row.member else "0",
            ]
        )
        written += 1
    text.flush()
    text.detach()  # ``out`` stays open: it is the caller's
    return written


# --- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """Why a row (or, on row 1, the header) cannot be imported. ``code`` is stable for callers:
    ``missing_column``, ``duplicate_column``, ``bad_customer_id``, ``unknown_customer``,
    ``bad_member_value``, ``duplicate_customer``, ``empty_file``."""

    row: int
    code: str
    detail: str


@dataclass(frozen=True)
class PlanWarning:
    """Something imported as staff may not expect; ``row`` None: the whole file."""

    row: int | None
    code: str  # ignored_change | not_utf8
    detail: str


class MembersFileInvalid(BonusBridgeError):
    """The members file has rows that cannot be imported: every one is listed, nothing is written."""

    code = "invalid_members_file"

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = tuple(sorted(errors, key=lambda error: (error.row, error.code)))
        shown = "; ".join(f"row {e.row}: {e.detail}" for e in self.errors[:5])
        more = f" (and {len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        super().__init__(f"{len(self.errors)} problem(s) in the members file: {shown}{more}")


@dataclass(frozen=True)
class FileRow:
    """A row read: the customer, the member value asked for, and the text columns as typed."""

    row: int
    customer_id: int
    member: bool
    texts: dict[str, str]


@dataclass
class ReadFile:
    sha256: str
    rows: list[FileRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[PlanWarning] = field(default_factory=list)
    utf8: bool = True


def _decode(data: bytes) -> tuple[str, bool]:
    """The file's text, and whether its text columns can be trusted (UTF-8 or UTF-16)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), True
    try:
        return data.decode("utf-8-sig"), True
    except UnicodeDecodeError:
        # An 8-bit code page: ids and 0/1 are ASCII and read right; names would be guesses.
        return data.decode("latin-1"), False


def _separator(header_line: str) -> str:
    return max(SEPARATORS, key=header_line.count)


def _heading(cell: str) -> str:
    name = cell.strip().strip("\ufeff").strip().strip('"').strip().lower()
    return ALIASES.get(name, name)


def read_members(data: bytes) -> ReadFile:
    """Parse and check a members file, row by row: the format's errors (a row the database need
    not be asked about), with the rows that passed. The caller checks the customers exist."""
    found = ReadFile(sha256=hashlib.sha256(data).hexdigest())
    text, found.utf8 = _decode(data)
    if not found.utf8:
        found.warnings.append(
            PlanWarning(
                None,
                "not_utf8",
                "the file is not UTF-8 (Excel's plain CSV?): ids and member values were read, "
                "names and e-mails not compared; save it as 'CSV UTF-8' to compare them",
            )
        )
    header_line = text.partition("\n")[0]
    if not header_line.strip():
        found.errors.append(RowError(1, "empty_file", "the file has no header line"))
        return found
    records = csv.reader(io.StringIO(text, newline=""), delimiter=_separator(header_line))
    header = [_heading(cell) for cell in next(records)]
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        if name in positions and name in COLUMNS:
            found.errors.append(RowError(1, "duplicate_column", f"the column {name!r} appears twice"))
        positions.setdefault(name, index)
    for needed in ("customer_id", "member"):
        if needed not in positions:
            found.errors.append(RowError(1, "missing_column", f"the header has no {needed!r} column"))
    if found.errors:
        return found
    first_row: dict[int, int] = {}
    for number, cells in enumerate(records, start=2):
        if not any(cell.strip() for cell in cells):
            continue  # Excel leaves empty rows (";;;;;;;") after the data

        def cell(name: str, cells: list[str] = cells) -> str:
            at = positions.get(name)
            return cells[at].strip() if at is not None and at < len(cells) else ""

        raw_id, raw_member = cell("customer_id"), cell("member")
        problems = len(found.errors)
        if not _CUSTOMER_ID.fullmatch(raw_id):
            found.errors.append(
                RowError(
                    number, "bad_customer_id", f"customer_id must be a customer's number, not {raw_id[:20]!r}"
                )
            )
        if raw_member not in ("0", "1"):
            found.errors.append(
                RowError(number, "bad_member_value", f"member must be 1 or 0, not {raw_member[:20]!r}")
            )
        if len(found.errors) > problems:
            continue
        customer_id = int(raw_id)
        if customer_id in first_row:
            found.errors.append(
                RowError(
                    number,
                    "duplicate_customer",
                    f"customer {customer_id} is already on row {first_row[customer_id]}",
                )
            )
            continue
        first_row[customer_id] = number
        texts = {name: cell(name) for name in COMPARED if name in positions} if found.utf8 else {}
        found.rows.append(FileRow(number, customer_id, raw_member == "1", texts))
    return found


def changed_columns(texts: dict[str, str], hub: dict[str, str | None]) -> list[str]:
    """The compared columns whose cell differs from the hub's value (as written, or as typed)."""
    changed = []
    for name, typed in texts.items():
        value = (hub.get(name) or "").strip()
        if typed not in (value, guarded(value)):
            changed.append(name)
    return changed
