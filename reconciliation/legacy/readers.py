"""Streaming readers of legacy exports (CSV in the mapping's encoding and delimiter, or XLSX).

A reader checks the file before handing out a single row: the bytes must decode in the declared
encoding (the first bad byte is reported with its line), a file declared cp1251 that is really
UTF-8 is refused (cp1251 decodes anything, so mojibake would otherwise slip through), and every
required column must be in the header. Rows come out as ``(line number, values by hub field)``;
the line number is the physical line (CSV) or sheet row (XLSX) where the record starts.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from mapping.legacy.spec import ProgramMapping

CHUNK = 1 << 20


class FileRejected(Exception):
    """The whole file cannot be read: wrong encoding, missing column, not a spreadsheet."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


@dataclass
class Source:
    """An opened export: which position of a row holds which hub field, and the rows."""

    fields: tuple[str, ...]
    positions: tuple[int, ...]
    rows: Iterator[tuple[int, list[str]]]


def open_source(mapping: ProgramMapping, path: Path) -> Source:
    if mapping.format == "xlsx":
        return _open_xlsx(mapping, path)
    return _open_csv(mapping, path)


def check_encoding(path: Path, encoding: str) -> None:
    """Decode the whole file in chunks; refuse it at the first undecodable byte (with its line)."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="strict")
    maybe_utf8 = encoding == "cp1251"
    non_ascii = False
    lines = 1
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                if maybe_utf8 and _is_utf8(chunk):
                    raise FileRejected(_LOOKS_UTF8) from None
                line = lines + chunk.count(b"\n", 0, exc.start)
                raise FileRejected(
                    f"not valid {encoding}: byte 0x{chunk[exc.start]:02x} cannot be decoded"
                    + (" (is the file cp1251?)" if encoding.startswith("utf-8") else ""),
                    line,
                ) from None
            if maybe_utf8:
                non_ascii = non_ascii or not chunk.isascii()
                try:
                    utf8.decode(chunk)
                except UnicodeDecodeError:
                    maybe_utf8 = False
            lines += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise FileRejected(f"not valid {encoding}: the file ends inside a character", lines) from None
    if maybe_utf8 and non_ascii:
        raise FileRejected(_LOOKS_UTF8)


_LOOKS_UTF8 = "the mapping says cp1251 but the file is UTF-8: fix file.encoding"


def _is_utf8(chunk: bytes) -> bool:
    try:
        codecs.getincrementaldecoder("utf-8")(errors="strict").decode(chunk)
    except UnicodeDecodeError:
        return False
    return True


def _positions(
    mapping: ProgramMapping, header: list[str], line: int
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    index = {name.strip().lstrip("\ufeff"): at for at, name in enumerate(header) if name is not None}
    missing = [f"{field} ({column!r})" for field, column in mapping.columns.items() if column not in index]
    required_missing = [
        f"{field} ({mapping.columns[field]!r})"
        for field in mapping.required
        if mapping.columns[field] not in index
    ]
    if required_missing:
        raise FileRejected("missing required column(s): " + ", ".join(required_missing), line)
    if missing:
        optional = [f for f in mapping.columns if mapping.columns[f] not in index]
        raise FileRejected(
            "missing mapped column(s): "
            + ", ".join(missing)
            + f" — remove {', '.join(optional)} from the mapping"
            " or fix the export",
            line,
        )
    fields = tuple(mapping.columns)
    return fields, tuple(index[mapping.columns[field]] for field in fields)


def _open_csv(mapping: ProgramMapping, path: Path) -> Source:
    check_encoding(path, mapping.encoding)
    handle = path.open(encoding=mapping.encoding, newline="")
    reader = csv.reader(handle, delimiter=mapping.delimiter)
    header: list[str] | None = None
    try:
        for _ in range(mapping.header_row):
            header = next(reader, None)
    except csv.Error as exc:
        handle.close()
        raise FileRejected(f"unreadable CSV header: {exc}", reader.line_num) from None
    if header is None:
        handle.close()
        raise FileRejected("the file has no header row", mapping.header_row)
    try:
        fields, positions = _positions(mapping, header, reader.line_num)
    except FileRejected:
        handle.close()
        raise

    def rows() -> Iterator[tuple[int, list[str]]]:
        with handle:
            start = reader.line_num + 1
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield start, [f"\x00csv error: {exc}"]
                    start = reader.line_num + 1
                    continue
                yield start, row
                start = reader.line_num + 1

    return Source(fields, positions, rows())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _open_xlsx(mapping: ProgramMapping, path: Path) -> Source:
    from openpyxl import load_workbook  # type: ignore[import-untyped]
    from openpyxl.utils.exceptions import InvalidFileException  # type: ignore[import-untyped]

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError) as exc:
        raise FileRejected(f"not a readable XLSX workbook: {exc}") from None
    except Exception as exc:  # zipfile.BadZipFile and friends
        raise FileRejected(f"not a readable XLSX workbook: {type(exc).__name__}") from None
    if mapping.sheet is not None and mapping.sheet not in workbook.sheetnames:
        workbook.close()
        raise FileRejected(f"no sheet {mapping.sheet!r} (sheets: {', '.join(workbook.sheetnames)})")
    sheet = workbook[mapping.sheet] if mapping.sheet is not None else workbook.worksheets[0]
    iterator = sheet.iter_rows(min_row=mapping.header_row, values_only=True)
    first = next(iterator, None)
    if first is None:
        workbook.close()
        raise FileRejected("the sheet has no header row", mapping.header_row)
    header = [_cell(value) for value in first]
    try:
        fields, positions = _positions(mapping, header, mapping.header_row)
    except FileRejected:
        workbook.close()
        raise

    def rows() -> Iterator[tuple[int, list[str]]]:
        line = mapping.header_row
        try:
            for values in iterator:
                line += 1
                yield line, [_cell(value) for value in values]
        finally:
            workbook.close()

    return Source(fields, positions, rows())


def sniff_text(data: bytes) -> str:
    """For error messages: the first line of a file as text, whatever it is."""
    return io.BytesIO(data).readline().decode("utf-8", "replace").strip()
