"""Reading an import file row by row, without ever holding the whole file in memory.

CSV goes through the csv module over a text wrapper: the encoding is found from the byte-order mark
(UTF-8, UTF-16 from Excel's "Unicode text"), else UTF-8 if the start of the file decodes as UTF-8, else
the legacy code page of the merchant's country (cp1258 for Vietnam, GB18030 for Chinese-speaking
countries); the delimiter (, ; tab |) is sniffed. Excel files are read with openpyxl in read-only
mode, first sheet only. Row numbers are the ones a spreadsheet shows: the header is row 1.

An .xlsx is a zip of XML parts, so a small upload can stand for a huge amount of work (issue 12). Before
openpyxl opens one, the zip's directory is checked: the unpacked size of all parts
(`IMPORT_MAX_UNPACKED_BYTES`) and of the shared strings (`IMPORT_MAX_SHARED_STRINGS_BYTES`), which
openpyxl holds in memory whole. XML with entity declarations (the "billion laughs") is refused: with
defusedxml installed, openpyxl parses through it. An upload request only reads the head of a file
(`read_head`): for an .xlsx, without loading the shared strings, only the few the first rows use.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse
from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from openpyxl.cell.text import Text
from openpyxl.reader.excel import SHARED_STRINGS, ExcelReader
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.xml.constants import SHEET_MAIN_NS

from tessera.core.textguard import printable
from tessera.imports.fields import is_blank
from tessera.imports.models import FileFormat

#: How much of a CSV file is looked at to find its encoding and delimiter.
SNIFF_BYTES = 64 * 1024
#: The most that a part of an .xlsx which openpyxl reads whole may unpack to: the workbook, styles,
#: theme, relationships and properties (a few kilobytes to a few megabytes in real files). Worksheets are
#: streamed; the shared strings have their own limit (`IMPORT_MAX_SHARED_STRINGS_BYTES`).
MAX_WHOLE_PART_BYTES = 32 * 2**20
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


@dataclass
class Head:
    """The header and the first rows of a file."""

    headers: list[str]
    rows: list[tuple[int, list[Any]]]


def _headers(cells: list[Any]) -> list[str]:
    """Header names, made unique; an empty header is named after its column letter. Control characters
    are shown as U+XXXX: the names are stored (PostgreSQL stores no NUL) and shown in the mapping."""
    seen: dict[str, int] = {}
    names: list[str] = []
    for index, cell in enumerate(cells):
        name = printable(" ".join(str(cell).split())) if not is_blank(cell) else get_column_letter(index + 1)
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


def _megabytes(size: int) -> str:
    return f"{size / 2**20:,.0f}"


def check_xlsx_archive(source: Path | IO[bytes]) -> None:
    """Refuse, from the zip's directory alone, a workbook that would unpack to too much to read.

    The sizes are the ones the directory declares; Python's zipfile never unpacks more than that."""
    try:
        with zipfile.ZipFile(source) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise FileProblem("unreadable_file", _("This is not a valid .xlsx file.")) from None
    unpacked = sum(part.file_size for part in parts)
    if unpacked > settings.IMPORT_MAX_UNPACKED_BYTES:
        raise FileProblem(
            "file_too_large_unpacked",
            _(
                "Unpacked, this workbook holds %(size)s MB; at most %(max)s MB can be imported: "
                "split it, or save it as CSV."
            )
            % {"size": _megabytes(unpacked), "max": _megabytes(settings.IMPORT_MAX_UNPACKED_BYTES)},
        )


@contextmanager
def _xlsx_errors() -> Iterator[None]:
    """What openpyxl or the XML parser raise on a broken or hostile workbook, as a FileProblem."""
    try:
        yield
    except (
        zipfile.BadZipFile,
        InvalidFileException,
        ParseError,
        KeyError,
        IndexError,
        OSError,
        ValueError,
    ) as exc:
        # openpyxl re-raises its parser's errors as a plain ValueError "from" the original.
        if isinstance(exc, DefusedXmlException) or isinstance(exc.__cause__, DefusedXmlException):
            raise FileProblem(
                "unsafe_file",
                _(
                    "This workbook contains XML entity declarations, which are refused for safety: "
                    "open it in Excel and save it again, or save it as CSV."
                ),
            ) from None
        raise FileProblem("unreadable_file", _("This is not a valid .xlsx file.")) from None


class _SharedString(int):
    """The index of a shared string, standing in a cell for its text until `_shared_strings` reads it."""


class _DeferredStrings:
    def __getitem__(self, index: int) -> _SharedString:
        return _SharedString(index)


class _CappedZipFile(zipfile.ZipFile):
    """A zip whose parts are read whole only up to MAX_WHOLE_PART_BYTES (openpyxl's `archive.read`)."""

    def read(self, name: str | zipfile.ZipInfo, pwd: bytes | None = None) -> bytes:
        info = name if isinstance(name, zipfile.ZipInfo) else self.getinfo(name)
        if info.file_size > MAX_WHOLE_PART_BYTES:
            raise FileProblem(
                "file_too_large_unpacked",
                _("A part of this workbook (%(part)s) unpacks to %(size)s MB; at most %(max)s MB are read.")
                % {
                    "part": info.filename,
                    "size": _megabytes(info.file_size),
                    "max": _megabytes(MAX_WHOLE_PART_BYTES),
                },
            )
        return super().read(name, pwd)


class _WorkbookReader(ExcelReader):
    """openpyxl's read-only reader with the size of every part it reads whole checked before it is read,
    and the shared strings' too. With `defer_strings` those are not read at all: cells hold
    `_SharedString` indexes instead. Chart sheets (read whole, and never imported) are skipped."""

    def __init__(self, path: Path, *, defer_strings: bool) -> None:
        super().__init__(path, read_only=True, data_only=True)
        self.archive.close()
        self.archive: zipfile.ZipFile = _CappedZipFile(path)
        self.defer_strings = defer_strings
        self.strings_path: str | None = None

    def read_chartsheet(self, sheet: Any, rel: Any) -> None:
        return None

    def read_strings(self) -> None:
        part = self.package.find(SHARED_STRINGS)
        if part is None:
            return
        self.strings_path = part.PartName[1:]
        size = self.archive.getinfo(self.strings_path).file_size
        limit = settings.IMPORT_MAX_SHARED_STRINGS_BYTES
        if size > limit:
            raise FileProblem(
                "too_much_text",
                _(
                    "This workbook holds %(size)s MB of text; at most %(max)s MB can be imported: "
                    "split it, or save it as CSV."
                )
                % {"size": _megabytes(size), "max": _megabytes(limit)},
            )
        if self.defer_strings:
            self.shared_strings = _DeferredStrings()
        else:
            super().read_strings()


def _shared_strings(archive: zipfile.ZipFile, path: str, wanted: set[int]) -> dict[int, str]:
    """The texts of the wanted shared strings, streaming the part and keeping nothing else."""
    found: dict[int, str] = {}
    last = max(wanted)
    tag = f"{{{SHEET_MAIN_NS}}}si"
    root = None
    index = -1
    with archive.open(path) as source:
        for event, node in iterparse(source, events=("start", "end")):
            if root is None:
                root = node
            if event != "end" or node.tag != tag:
                continue
            index += 1
            if index in wanted:
                found[index] = Text.from_tree(node).content.replace("x005F_", "")  # as openpyxl reads it
            root.clear()  # the strings already passed are dropped, not kept as empty elements
            if index >= last:
                break
    if len(found) < len(wanted):
        raise FileProblem("unreadable_file", _("This is not a valid .xlsx file."))
    return found


def _xlsx_head(path: Path, *, rows: int) -> Head:
    check_xlsx_archive(path)
    with _xlsx_errors():
        reader = _WorkbookReader(path, defer_strings=True)
        try:
            reader.read()
            sheet = reader.wb.worksheets[0]
            head: list[tuple[int, list[Any]]] = []
            for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
                if any(not is_blank(c) for c in cells):
                    head.append((number, list(cells)))
                    if len(head) > rows:
                        break
            wanted: set[int] = {
                cell for _n, cells in head for cell in cells if isinstance(cell, _SharedString)
            }
            texts = _shared_strings(reader.archive, reader.strings_path or "", wanted) if wanted else {}
        finally:
            reader.archive.close()
    resolved = [
        (number, [texts[c] if isinstance(c, _SharedString) else c for c in cells]) for number, cells in head
    ]
    resolved = [(number, cells) for number, cells in resolved if any(not is_blank(c) for c in cells)]
    if not resolved:
        raise FileProblem("empty_file", _("The file has no rows."))
    return Head(headers=_headers(resolved[0][1]), rows=resolved[1 : rows + 1])


@contextmanager
def _open_xlsx(path: Path) -> Iterator[Table]:
    check_xlsx_archive(path)
    with _xlsx_errors():
        reader = _WorkbookReader(path, defer_strings=False)
        try:
            reader.read()
        except BaseException:
            reader.archive.close()
            raise
    workbook = reader.wb
    try:
        sheet = workbook.worksheets[0]
        last = sheet.max_row or 0

        def rows() -> Iterator[tuple[int, list[Any]]]:
            with _xlsx_errors():
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


def read_head(path: Path, *, file_format: str, country: str, rows: int = 3) -> Head:
    """The header and up to `rows` rows after it, reading no more of the file than that: what a web
    request may do with an upload (the whole file is read by the worker). FileProblem when unreadable."""
    if file_format == FileFormat.XLSX:
        return _xlsx_head(path, rows=rows)
    with _open_csv(path, country=country) as table:
        return Head(headers=table.headers, rows=list(islice(table.rows, rows)))


@contextmanager
def open_table(path: Path, *, file_format: str, country: str) -> Iterator[Table]:
    """The file's header and rows; FileProblem when it cannot be read."""
    if file_format == FileFormat.XLSX:
        with _open_xlsx(path) as table:
            yield table
    else:
        with _open_csv(path, country=country) as table:
            yield table
