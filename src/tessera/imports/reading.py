"""Reading an import file row by row, without ever holding the whole file in memory.

CSV goes through the csv module over a text wrapper: the encoding is found from the byte-order mark
(UTF-8, UTF-16 from Excel's "Unicode text"), else UTF-8 if the start of the file decodes as UTF-8, else
the legacy code page of the merchant's country (cp1258 for Vietnam, GB18030 for Chinese-speaking
countries); the delimiter (, ; tab |) is sniffed. Excel files are read with openpyxl in read-only
mode, first sheet only. Row numbers are the ones a spreadsheet shows: the header is row 1.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import openpyxl
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from tessera.imports.fields import is_blank
from tessera.imports.models import FileFormat

#: How much of a CSV file is looked at to find its encoding and delimiter.
SNIFF_BYTES = 64 * 1024
_CHINESE_COUNTRIES = {"CN", "TW", "HK", "MO", "SG"}


class FileProblem(Exception):
    """The file as a whole cannot be read. `code` is stable (docs/imports.md)."""

    def __init__(self, code: str, message: str | Promise, *, row: int | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.row = row


def file_format(name: str, head: bytes) -> str:
    """The format of an upload from its name and first bytes; FileProblem if it is not one we read."""
    suffix = Path(name).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        if not head.startswith(b"PK"):
            raise FileProblem("unreadable_file", _("This is not a valid .xlsx file."))
        return FileFormat.XLSX
    if suffix == ".xls":
        raise FileProblem(
            "old_excel_format",
            _("The old Excel format (.xls) is not supported: save the file as .xlsx or .csv."),
        )
    if suffix in (".csv", ".txt", ".tsv"):
        return FileFormat.CSV
    raise FileProblem("unsupported_format", _("Upload an Excel (.xlsx) or CSV (.csv) file."))


def csv_encoding(head: bytes, *, country: str) -> str:
    """The codec of a CSV file, judged from its first bytes."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    candidates = ["utf-8"]
    if country.upper() in _CHINESE_COUNTRIES:
        candidates += ["gb18030", "cp1258"]
    else:
        candidates += ["cp1258", "gb18030"]
    for encoding in candidates:
        try:
            # Not final: the sample may end in the middle of a multi-byte character.
            codecs.getincrementaldecoder(encoding)("strict").decode(head, final=False)
        except UnicodeDecodeError:
            continue
        return encoding
    raise FileProblem(
        "unreadable_encoding", _("The file's text encoding is not recognised: save it as CSV UTF-8.")
    )


def csv_dialect(sample: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        delimiter = max(",;\t|", key=first.count)

        class Guessed(csv.excel):
            pass

        Guessed.delimiter = delimiter if first.count(delimiter) else ","
        return Guessed


@dataclass
class Table:
    """The header and an iterator of (row number, cells) of an open file. Blank rows are left out."""

    headers: list[str]
    rows: Iterator[tuple[int, list[Any]]]
    #: The part of the file read so far, 0..1, when it can be told; for progress before the count is known.
    progress: Any = field(default=lambda: None)


def _headers(cells: list[Any]) -> list[str]:
    """Header names, made unique; an empty header is named after its column letter."""
    seen: dict[str, int] = {}
    names: list[str] = []
    for index, cell in enumerate(cells):
        name = " ".join(str(cell).split()) if not is_blank(cell) else get_column_letter(index + 1)
        if name in seen:
            seen[name] += 1
            name = f"{name} ({seen[name]})"
        else:
            seen[name] = 1
        names.append(name)
    while names and is_blank(cells[len(names) - 1]):  # trailing empty header cells are not columns
        names.pop()
    return names


def _csv_rows(reader: Any) -> Iterator[tuple[int, list[Any]]]:
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError:
            raise FileProblem(
                "unreadable_encoding",
                _("The file's text encoding changes after row %(row)s: save it as CSV UTF-8.")
                % {"row": number},
                row=number + 1,
            ) from None
        except csv.Error as exc:
            raise FileProblem(
                "malformed_csv",
                _("The CSV file is broken after row %(row)s (%(detail)s).") % {"row": number, "detail": exc},
                row=number + 1,
            ) from None
        number += 1
        if any(not is_blank(c) for c in cells):
            yield number, cells


@contextmanager
def _open_csv(path: Path, *, country: str) -> Iterator[Table]:
    with open(path, "rb") as raw:
        head = raw.read(SNIFF_BYTES)
        encoding = csv_encoding(head, country=country)
        raw.seek(0)
        size = max(path.stat().st_size, 1)
        text: IO[str] = io.TextIOWrapper(raw, encoding=encoding, newline="")
        try:
            sample = text.read(SNIFF_BYTES // 2)
        except UnicodeDecodeError:
            raise FileProblem(
                "unreadable_encoding", _("The file's text encoding is not recognised: save it as CSV UTF-8.")
            ) from None
        text.seek(0)
        reader = csv.reader(text, csv_dialect(sample))
        rows = _csv_rows(reader)
        first = next(rows, None)
        if first is None:
            raise FileProblem("empty_file", _("The file has no rows."))
        yield Table(headers=_headers(first[1]), rows=rows, progress=lambda: min(raw.tell() / size, 1.0))


@contextmanager
def _open_xlsx(path: Path) -> Iterator[Table]:
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError):
        raise FileProblem("unreadable_file", _("This is not a valid .xlsx file.")) from None
    try:
        sheet = workbook.worksheets[0]
        last = sheet.max_row or 0

        def rows() -> Iterator[tuple[int, list[Any]]]:
            for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
                if any(not is_blank(c) for c in cells):
                    yield number, list(cells)

        iterator = rows()
        first = next(iterator, None)
        if first is None:
            raise FileProblem("empty_file", _("The file has no rows."))
        current = {"row": first[0]}

        def tracked() -> Iterator[tuple[int, list[Any]]]:
            for number, cells in iterator:
                current["row"] = number
                yield number, cells

        yield Table(
            headers=_headers(first[1]),
            rows=tracked(),
            progress=lambda: min(current["row"] / last, 1.0) if last else None,
        )
    finally:
        workbook.close()


@contextmanager
def open_table(path: Path, *, file_format: str, country: str) -> Iterator[Table]:
    """The file's header and rows; FileProblem when it cannot be read."""
    if file_format == FileFormat.XLSX:
        with _open_xlsx(path) as table:
            yield table
    else:
        with _open_csv(path, country=country) as table:
            yield table
