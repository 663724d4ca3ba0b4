"""Export tabular data to CSV, Excel and PDF (C4, J6), streamed so a million rows keep memory flat.

A caller describes its columns and hands over an iterable of rows (a generator over
`.iterator(chunk_size=…)` is the intended use); this module formats every cell per format and per
merchant:

- **money**: an integer in the merchant currency's minor unit (VND 0 decimals, CNY 2). CSV: a plain
  number in major units with a dot (1234 fen → 12.34); Excel: a numeric cell with a number format;
  PDF: `format_money` in the merchant's language.
- **points**, **int**: integers. **percent**: a number of percent (`Decimal("12.5")` is 12.5 %).
- **date**: a `date`. **datetime**: an aware `datetime`, shown in the merchant's time zone.
- **text**: anything else, shown with `str()`; `True`/`False` become a translated yes/no.

CSV streams as the rows come (UTF-8 with a BOM, so Excel reads Vietnamese and Chinese). Excel's sheet XML
is streamed into the zip row by row (`write_xlsx`), so memory stays flat; PDF is for printing and is
built in memory, so it refuses more than `PDF_MAX_ROWS` rows with `ExportTooLarge`: catch it (it is a
`DomainError`) and show its message; left uncaught it is a 400, not a 500.

Text that a spreadsheet would run as a formula (= + - @ at the start) is neutralised: a leading
apostrophe in CSV, a plain string cell in Excel.
"""

from __future__ import annotations

import csv
import itertools
import logging
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from xml.sax.saxutils import escape

import django.core.exceptions
from django.http import FileResponse, HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone, translation
from django.utils.formats import number_format
from django.utils.text import get_valid_filename
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tessera.core import errors
from tessera.core.formatting import excel_money_format, format_money, format_points, format_quantity
from tessera.core.money import to_major

if TYPE_CHECKING:
    from tessera.tenancy.models import Merchant

logger = logging.getLogger(__name__)

ExportFormat = Literal["csv", "xlsx", "pdf"]
ColumnKind = Literal["text", "int", "money", "points", "date", "datetime", "percent"]

#: A PDF is for printing and reportlab builds it in memory: past this, export to Excel or CSV.
PDF_MAX_ROWS = 20_000

CONTENT_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


@dataclass(frozen=True)
class Column:
    title: str
    kind: ColumnKind = "text"


class ExportNotAllowed(errors.PermissionDenied, django.core.exceptions.PermissionDenied):
    """A DomainError for services and the API, and Django's PermissionDenied, so a view answers 403."""

    code = "export_not_allowed"


class ExportTooLarge(errors.ValidationFailed, django.core.exceptions.BadRequest):
    """Too many rows for a PDF. A DomainError to show as a message; uncaught, Django answers 400."""

    code = "export_too_large"


def require_export_permission(request: HttpRequest, perm: str) -> None:
    """Raise `ExportNotAllowed` unless the signed-in user holds `perm` (e.g. "members.export_member")."""
    user = request.user
    if not getattr(user, "is_authenticated", False) or not user.has_perm(perm):
        raise ExportNotAllowed(_("You are not allowed to print or export this."))


def too_large_message(limit: int = PDF_MAX_ROWS) -> str:
    return gettext(
        "A PDF holds at most %(limit)s rows, for printing. Narrow the filters, or export to Excel or CSV."
    ) % {"limit": format_quantity(limit)}


def export_response(
    *,
    fmt: ExportFormat,
    filename: str,
    title: str,
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    merchant: Merchant,
    filters: Sequence[tuple[str, str]] = (),
    row_count: int | None = None,
    request: HttpRequest | None = None,
) -> HttpResponseBase:
    """The rows as a download.

    `row_count`, when the caller knows it, lets a PDF be refused before any row is read. `request`, when
    given, puts who exported what in the log (user, merchant, title, format, rows, filter labels; no
    filter values, which may be personal data such as a searched phone).
    """
    name = get_valid_filename(filename) or "export"
    counted = _Counted(
        rows, on_done=_audit(request, merchant=merchant, title=title, fmt=fmt, filters=filters)
    )
    if fmt == "csv":
        response: HttpResponseBase = StreamingHttpResponse(
            csv_stream(columns=columns, rows=counted, merchant=merchant), content_type=CONTENT_TYPES["csv"]
        )
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response
    if fmt == "xlsx":
        file = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 - FileResponse closes it
        try:
            write_xlsx(file, title=title, columns=columns, rows=counted, merchant=merchant, filters=filters)
        except BaseException:
            file.close()
            raise
        file.seek(0)
        return FileResponse(
            file, as_attachment=True, filename=f"{name}.xlsx", content_type=CONTENT_TYPES["xlsx"]
        )
    if fmt == "pdf":
        if row_count is not None and row_count > PDF_MAX_ROWS:
            raise ExportTooLarge(too_large_message())
        content = build_pdf(
            title=title,
            columns=columns,
            rows=counted,
            merchant=merchant,
            filters=filters,
            max_rows=PDF_MAX_ROWS,
        )
        return FileResponse(
            BytesIO(content), as_attachment=True, filename=f"{name}.pdf", content_type=CONTENT_TYPES["pdf"]
        )
    raise ValueError(f"unknown export format {fmt!r}")


class _Counted:
    """Iterates `rows`, counting them, and calls `on_done(count)` once they are exhausted."""

    def __init__(self, rows: Iterable[Sequence[Any]], *, on_done: Callable[[int], None]) -> None:
        self.rows = rows
        self.on_done = on_done

    def __iter__(self) -> Iterator[Sequence[Any]]:
        count = 0
        for row in self.rows:
            count += 1
            yield row
        self.on_done(count)


def _audit(
    request: HttpRequest | None,
    *,
    merchant: Merchant,
    title: str,
    fmt: str,
    filters: Sequence[tuple[str, str]],
) -> Callable[[int], None]:
    def done(count: int) -> None:
        if request is None:
            return
        logger.info(
            "export user=%s merchant=%s title=%r format=%s rows=%d filters=%s",
            getattr(request.user, "pk", None),
            merchant.pk,
            title,
            fmt,
            count,
            [label for label, _value in filters],
        )

    return done


# --- values -----------------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _yes_no(value: bool) -> str:
    return gettext("Yes") if value else gettext("No")


def _local(value: datetime, merchant: Merchant) -> datetime:
    return timezone.localtime(value, merchant.tz) if timezone.is_aware(value) else value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return _yes_no(value)
    return str(value)


# --- CSV --------------------------------------------------------------------------------------------


def csv_cell(value: Any, column: Column, merchant: Merchant) -> str:
    if value is None:
        return ""
    kind = column.kind
    if kind == "money":
        return str(to_major(int(value), merchant.currency))
    if isinstance(value, datetime):
        return _local(value, merchant).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if (
        kind in ("int", "points", "percent")
        and isinstance(value, int | Decimal)
        and not isinstance(value, bool)
    ):
        return str(value)
    text = _text(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


class _Echo:
    """csv.writer writes into this and gets the line back, so lines can be yielded."""

    def write(self, value: str) -> str:
        return value


def csv_stream(
    *, columns: Sequence[Column], rows: Iterable[Sequence[Any]], merchant: Merchant
) -> Iterator[bytes]:
    writer = csv.writer(_Echo())
    yield ("\ufeff" + writer.writerow([c.title for c in columns])).encode()
    lines: list[str] = []
    for row in rows:
        lines.append(writer.writerow([csv_cell(v, c, merchant) for v, c in zip(row, columns, strict=True)]))
        if len(lines) == 1000:
            yield "".join(lines).encode()
            lines = []
    if lines:
        yield "".join(lines).encode()


# --- Excel ------------------------------------------------------------------------------------------


_NUMBER_FORMATS: dict[str, str] = {
    "int": "0",
    "points": "#,##0",
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm",
    "percent": "0.00%",
}


#: Excel's limit is 1,048,576 rows a sheet (header included): past it the rows go on to a new sheet.
XLSX_SHEET_ROWS = 1_048_576


@dataclass(frozen=True)
class XlsxWritten:
    rows: int
    sheets: int


_XLSX_WIDTHS: dict[str, float] = {
    "text": 24,
    "int": 10,
    "money": 18,
    "points": 12,
    "date": 12,
    "datetime": 17,
    "percent": 10,
}


#: Characters XML 1.0 cannot hold (openpyxl's ILLEGAL_CHARACTERS_RE): dropped from text cells.
_ILLEGAL_XML = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")


def write_xlsx(
    file: Any,
    *,
    title: str,
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    merchant: Merchant,
    filters: Sequence[tuple[str, str]] = (),
) -> XlsxWritten:
    """Write a workbook into `file`: one sheet, or more when the rows pass a sheet's limit of
    `XLSX_SHEET_ROWS` (each further sheet "Title (2)", … repeats the header row).

    The sheet's XML is streamed into the zip as the rows come, so memory stays flat at a million rows
    and each cell costs one formatted string (issue 16: with xlsxwriter's general cell code a row took
    240 µs of Python, where a million rows in 90 s leave 90 µs; see docs/performance.md). What is
    written is the part of SpreadsheetML an export needs: inline strings, numbers, booleans, dates as
    serial numbers, one number format per column kind, a bold header kept in view. Text is always a
    string cell, never a formula, whatever it starts with."""
    styles = _XlsxStyles()
    currency = merchant.currency
    date_style = styles.of(_NUMBER_FORMATS["date"])
    datetime_style = styles.of(_NUMBER_FORMATS["datetime"])
    letters = [_column_letter(index) for index in range(len(columns))]

    def cell_for(column: Column, letter: str) -> Callable[[Any, str], str]:
        """The XML of one cell of this column, from its value and its row number."""
        if column.kind == "money":
            money_style = styles.of(excel_money_format(currency, merchant.default_language))

            def money(value: Any, line: str) -> str:
                return f'<c r="{letter}{line}"{money_style}><v>{to_major(int(value), currency):f}</v></c>'

            return money
        style = styles.of(_NUMBER_FORMATS.get(column.kind))
        percent = column.kind == "percent"

        def any_value(value: Any, line: str) -> str:
            kind = value.__class__
            if kind is str:
                return _xlsx_text(f"{letter}{line}", value)
            if percent and isinstance(value, int | Decimal) and kind is not bool:
                return f'<c r="{letter}{line}"{style}><v>{Decimal(value) / 100:f}</v></c>'
            if kind is bool:
                return f'<c r="{letter}{line}" t="b"><v>{int(value)}</v></c>'
            if isinstance(value, int):
                return f'<c r="{letter}{line}"{style}><v>{int(value)}</v></c>'
            if isinstance(value, Decimal):
                return f'<c r="{letter}{line}"{style}><v>{value:f}</v></c>'
            if isinstance(value, datetime):
                serial = _excel_serial(_local(value, merchant))
                if serial is not None:
                    return f'<c r="{letter}{line}"{datetime_style}><v>{serial!r}</v></c>'
            elif isinstance(value, date):
                serial = _excel_serial(value)
                if serial is not None:
                    return f'<c r="{letter}{line}"{date_style}><v>{serial}</v></c>'
            return _xlsx_text(f"{letter}{line}", str(value))

        return any_value

    cells = [cell_for(column, letter) for column, letter in zip(columns, letters, strict=True)]
    sheet_names: list[str] = []
    count = 0
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=_XLSX_ZIP_LEVEL) as book:
        source = iter(rows)
        exhausted = False
        while not exhausted:
            number = len(sheet_names) + 1
            sheet_names.append(_sheet_title(title, number))
            heading = filters if number == 1 else ()
            header_row = len(heading) + 3 if heading else 1
            with book.open(f"xl/worksheets/sheet{number}.xml", "w", force_zip64=True) as sheet:
                sheet.write(_sheet_start(title, heading, header_row, columns, letters).encode())
                line = header_row
                last = XLSX_SHEET_ROWS
                batch: list[str] = []
                for row in source:
                    line += 1
                    number_text = str(line)
                    batch.append(
                        f'<row r="{number_text}">'
                        + "".join(
                            [
                                cell(value, number_text)
                                for value, cell in zip(row, cells, strict=True)
                                if value is not None
                            ]
                        )
                        + "</row>"
                    )
                    count += 1
                    if len(batch) == 1000:
                        sheet.write("".join(batch).encode())
                        batch = []
                    if line == last:
                        break
                else:
                    exhausted = True
                sheet.write(("".join(batch) + "</sheetData>" + _PAGE_MARGINS + "</worksheet>").encode())
            if not exhausted:
                # A full sheet: a further one only if another row comes.
                following = next(source, None)
                if following is None:
                    break
                source = itertools.chain([following], source)
        _write_xlsx_package(book, sheet_names, styles.xml())
    return XlsxWritten(rows=count, sheets=len(sheet_names))


#: The zip's deflate level: zlib's default, 6, costs about 4.5 s more CPU a million rows than 1 for a
#: file 23 % smaller (a 14-column member list of 200,000 rows: 3.8 against 2.9 s, 10.2 against 13.3 MB).
_XLSX_ZIP_LEVEL = 6
#: Excel keeps at most this many characters in a cell; longer text is cut, as xlsxwriter cut it.
_XLSX_TEXT_MAX = 32_767
#: What Excel adds to a width in characters for the cell's margins (Calibri 11, as xlsxwriter wrote it).
_XLSX_WIDTH_PADDING = 0.7109375
_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_PAGE_MARGINS = '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
#: Day 1 of Excel's calendar is 1 January 1900.
_EXCEL_DAY_ZERO = date(1899, 12, 31).toordinal()


def _column_letter(index: int) -> str:
    """0 → "A", 25 → "Z", 26 → "AA"."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _excel_serial(value: date) -> int | float | None:
    """A date (or a naive-looking local time) as Excel's serial day number; None before 1900, which
    Excel cannot show as a date (the cell is then written as text)."""
    days = value.toordinal() - _EXCEL_DAY_ZERO
    if days < 1:
        return None
    if days >= 60:  # Excel counts a 29 February 1900 that never was (Lotus 1-2-3's leap-year bug)
        days += 1
    if isinstance(value, datetime):
        seconds = value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1_000_000
        return days + seconds / 86_400
    return days


def _xml_attribute(text: str) -> str:
    return escape(text, {'"': "&quot;"})


def _xlsx_text(ref: str, text: str, style: str = "") -> str:
    """A string cell (an inline string: no shared-string table to hold in memory); "" for no text."""
    text = _ILLEGAL_XML.sub("", text)[:_XLSX_TEXT_MAX]
    if not text:
        return ""
    space = ' xml:space="preserve"' if text[0].isspace() or text[-1].isspace() else ""
    return f'<c r="{ref}"{style} t="inlineStr"><is><t{space}>{escape(text)}</t></is></c>'


def _sheet_start(
    title: str,
    heading: Sequence[tuple[str, str]],
    header_row: int,
    columns: Sequence[Column],
    letters: Sequence[str],
) -> str:
    """A sheet's XML up to its first data row: the frozen pane under the header, the column widths, the
    title and filters (when `heading`) and the bold header row."""
    bold = _XlsxStyles.BOLD
    top: list[str] = []
    if heading:
        top.append(_xlsx_row(1, [_xlsx_text("A1", title, bold)]))
        for offset, (label, value) in enumerate(heading, start=2):
            top.append(_xlsx_row(offset, [_xlsx_text(f"A{offset}", f"{label}: {value}")]))
    header = [
        _xlsx_text(f"{letter}{header_row}", column.title, bold)
        for column, letter in zip(columns, letters, strict=True)
    ]
    top.append(_xlsx_row(header_row, header))
    widths = "".join(
        f'<col min="{index}" max="{index}" width="{_XLSX_WIDTHS[column.kind] + _XLSX_WIDTH_PADDING}"'
        ' customWidth="1"/>'
        for index, column in enumerate(columns, start=1)
    )
    pane = f'ySplit="{header_row}" topLeftCell="A{header_row + 1}" activePane="bottomLeft" state="frozen"'
    return (
        f'{_XML_DECLARATION}<worksheet xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
        f'<sheetViews><sheetView workbookViewId="0"><pane {pane}/><selection pane="bottomLeft"/>'
        f'</sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/><cols>{widths}</cols>'
        f"<sheetData>{''.join(top)}"
    )


def _xlsx_row(number: int, cells: Iterable[str]) -> str:
    return f'<row r="{number}">{"".join(cells)}</row>'


class _XlsxStyles:
    """The workbook's cell formats: 0 plain, 1 bold, then one per number format in order of first use.
    `of` gives the cell's style attribute (' s="2"'), "" for the plain format."""

    BOLD = ' s="1"'

    def __init__(self) -> None:
        self.number_formats: dict[str, int] = {}

    def of(self, number_format: str | None) -> str:
        if number_format is None:
            return ""
        index = self.number_formats.setdefault(number_format, len(self.number_formats))
        return f' s="{index + 2}"'

    def xml(self) -> str:
        codes = "".join(
            f'<numFmt numFmtId="{164 + index}" formatCode="{_xml_attribute(code)}"/>'
            for code, index in self.number_formats.items()
        )
        numbered = "".join(
            f'<xf numFmtId="{164 + index}" fontId="0" fillId="0" borderId="0" xfId="0"'
            ' applyNumberFormat="1"/>'
            for index in self.number_formats.values()
        )
        font = '<sz val="11"/><name val="Calibri"/><family val="2"/>'
        return (
            f'{_XML_DECLARATION}<styleSheet xmlns="{_MAIN_NS}">'
            + (f'<numFmts count="{len(self.number_formats)}">{codes}</numFmts>' if codes else "")
            + f'<fonts count="2"><font>{font}</font><font><b/>{font}</font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            f'<cellXfs count="{len(self.number_formats) + 2}">'
            '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
            '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
            f"{numbered}</cellXfs>"
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            "</styleSheet>"
        )


def _write_xlsx_package(book: zipfile.ZipFile, sheet_names: Sequence[str], styles: str) -> None:
    """The parts around the sheets: content types, relationships, the workbook and its styles."""
    numbers = range(1, len(sheet_names) + 1)
    spreadsheet = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    book.writestr(
        "[Content_Types].xml",
        f'{_XML_DECLARATION}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{spreadsheet}.sheet.main+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{spreadsheet}.styles+xml"/>'
        + "".join(
            f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="{spreadsheet}.worksheet+xml"/>'
            for n in numbers
        )
        + "</Types>",
    )
    book.writestr(
        "_rels/.rels",
        f'{_XML_DECLARATION}<Relationships xmlns="{_PACKAGE_RELS_NS}">'
        f'<Relationship Id="rId1" Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    )
    book.writestr(
        "xl/workbook.xml",
        f'{_XML_DECLARATION}<workbook xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
        "<bookViews><workbookView/></bookViews><sheets>"
        + "".join(
            f'<sheet name="{_xml_attribute(name)}" sheetId="{n}" r:id="rId{n}"/>'
            for n, name in zip(numbers, sheet_names, strict=True)
        )
        + "</sheets></workbook>",
    )
    book.writestr(
        "xl/_rels/workbook.xml.rels",
        f'{_XML_DECLARATION}<Relationships xmlns="{_PACKAGE_RELS_NS}">'
        + "".join(
            f'<Relationship Id="rId{n}" Type="{_REL_NS}/worksheet" Target="worksheets/sheet{n}.xml"/>'
            for n in numbers
        )
        + f'<Relationship Id="rId{len(sheet_names) + 1}" Type="{_REL_NS}/styles" Target="styles.xml"/>'
        "</Relationships>",
    )
    book.writestr("xl/styles.xml", styles)


def _sheet_title(title: str, number: int = 1) -> str:
    """Excel sheet names: at most 31 characters, none of []:*?/\\; "Title (2)" from the second on."""
    suffix = f" ({number})" if number > 1 else ""
    cleaned = re.sub(r"[\[\]:*?/\\]", " ", title).strip()[: 31 - len(suffix)]
    return (cleaned or "Export") + suffix


# --- PDF --------------------------------------------------------------------------------------------

FONTS_DIR = Path(__file__).resolve().parent / "fonts"
#: DejaVu Sans (Bitstream Vera licence, free to redistribute) covers Latin with every Vietnamese mark.
SANS, SANS_BOLD = "TesseraSans", "TesseraSans-Bold"
#: Reportlab's built-in Adobe CID font for Simplified Chinese: nothing to ship, the reader supplies it.
CJK = "STSong-Light"


@cache
def register_fonts() -> None:
    """Register the Unicode fonts with reportlab once per process."""
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.ttfonts import TTFont

    pdfmetrics.registerFont(TTFont(SANS, str(FONTS_DIR / "DejaVuSansCondensed.ttf")))
    pdfmetrics.registerFont(TTFont(SANS_BOLD, str(FONTS_DIR / "DejaVuSansCondensed-Bold.ttf")))
    pdfmetrics.registerFont(UnicodeCIDFont(CJK))
    addMapping(SANS, 0, 0, SANS)
    addMapping(SANS, 1, 0, SANS_BOLD)
    addMapping(SANS, 0, 1, SANS)
    addMapping(SANS, 1, 1, SANS_BOLD)


def is_cjk(char: str) -> bool:
    """Han, kana, hangul, CJK punctuation and full-width forms: characters DejaVu Sans does not draw."""
    code = ord(char)
    return (
        0x2E80 <= code <= 0x9FFF
        or 0xAC00 <= code <= 0xD7AF
        or 0xF900 <= code <= 0xFAFF
        or 0xFE30 <= code <= 0xFE4F
        or 0xFF00 <= code <= 0xFFEF
        or 0x20000 <= code <= 0x2FA1F
    )


def font_for(text: str, *, bold: bool = False) -> str:
    """One font for a short text: the CJK font when it has any Chinese character (it has Latin too)."""
    if any(is_cjk(ch) for ch in text):
        return CJK
    return SANS_BOLD if bold else SANS


def font_runs(text: str) -> list[tuple[str, bool]]:
    """`text` cut into runs of (text, is CJK), so mixed text gets each glyph from a font that has it."""
    runs: list[tuple[str, bool]] = []
    for char in text:
        cjk = is_cjk(char)
        if runs and (runs[-1][1] == cjk or unicodedata.category(char).startswith("Z")):
            runs[-1] = (runs[-1][0] + char, runs[-1][1])
        else:
            runs.append((char, cjk))
    return runs


def markup(text: str) -> str:
    """Paragraph markup of `text` with the CJK runs in the CJK font."""
    return "".join(
        f'<font face="{CJK}">{escape(t)}</font>' if cjk else escape(t) for t, cjk in font_runs(text)
    )


def pdf_cell(value: Any, column: Column, merchant: Merchant) -> str:
    """The printed text of a cell, in the active language's number format."""
    if value is None:
        return ""
    kind = column.kind
    if kind == "money":
        return format_money(int(value), merchant.currency)
    if kind == "percent" and isinstance(value, int | Decimal):
        return f"{number_format(value, use_l10n=True)} %"
    if isinstance(value, datetime):
        return _local(value, merchant).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if kind in ("int", "points") and isinstance(value, int) and not isinstance(value, bool):
        return format_points(value)
    return _text(value)


_NUMERIC_KINDS = frozenset({"int", "money", "points", "percent"})
_FONT_SIZE = 8
_PADDING = 3
_ROW_HEIGHT = _FONT_SIZE + 2 + 3  # leading and top and bottom padding: one line per row


def _column_widths(columns: Sequence[Column], total: float) -> list[float]:
    weights = {
        "text": 3.0,
        "int": 1.2,
        "money": 2.0,
        "points": 1.5,
        "date": 1.6,
        "datetime": 2.4,
        "percent": 1.2,
    }
    sum_weights = sum(weights[c.kind] for c in columns) or 1.0
    return [total * weights[c.kind] / sum_weights for c in columns]


def _fit(text: str, font: str, width: float) -> str:
    """`text` cut with an ellipsis to fit in `width` points: one line per row keeps long lists printable."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    available = width - 2 * _PADDING
    if stringWidth(text, font, _FONT_SIZE) <= available:
        return text
    while text and stringWidth(text + "…", font, _FONT_SIZE) > available:
        text = text[: max(len(text) - max(len(text) // 8, 1), 0)]
    return text + "…"


def build_pdf(
    *,
    title: str,
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    merchant: Merchant,
    filters: Sequence[tuple[str, str]] = (),
    max_rows: int = PDF_MAX_ROWS,
) -> bytes:
    """A printable landscape A4 table: heading, filters, generated-at time, header row on every page,
    page numbers. Raises `ExportTooLarge` past `max_rows` rows."""
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_RIGHT
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    register_fonts()
    page_size = landscape(A4)
    margin = 12 * mm
    width = page_size[0] - 2 * margin
    widths = _column_widths(columns, width)

    body: list[list[Any]] = []
    cjk_cells: list[tuple[int, int]] = []
    too_large = False
    with translation.override(merchant.default_language):  # numbers in the merchant's format
        for row in rows:
            if len(body) >= max_rows:
                too_large = True
                break
            line = []
            for index, (value, column) in enumerate(zip(row, columns, strict=True)):
                text = pdf_cell(value, column, merchant)
                font = font_for(text)
                if font == CJK:
                    cjk_cells.append((index, len(body) + 1))
                line.append(_fit(text, font, widths[index]))
            body.append(line)
    if too_large:
        raise ExportTooLarge(too_large_message(max_rows))

    heading = ParagraphStyle("heading", fontName=SANS_BOLD, fontSize=14, leading=18, spaceAfter=4)
    small = ParagraphStyle("small", fontName=SANS, fontSize=9, leading=12)
    header_style = ParagraphStyle("th", fontName=SANS_BOLD, fontSize=_FONT_SIZE, leading=_FONT_SIZE + 2)
    generated = timezone.localtime(timezone.now(), merchant.tz).strftime("%Y-%m-%d %H:%M")
    story: list[Any] = [
        Paragraph(markup(title), heading),
        Paragraph(markup(merchant.name), small),
    ]
    for label, value in filters:
        story.append(Paragraph(markup(f"{label}: {value}"), small))
    story.append(
        Paragraph(
            markup(
                gettext("Generated at %(time)s (%(zone)s)") % {"time": generated, "zone": merchant.time_zone}
            ),
            small,
        )
    )
    story.append(Spacer(1, 4 * mm))
    header_right = ParagraphStyle("th-right", parent=header_style, alignment=TA_RIGHT)
    header = [
        Paragraph(markup(c.title), header_right if c.kind in _NUMERIC_KINDS else header_style)
        for c in columns
    ]
    commands: list[tuple[Any, ...]] = [
        ("FONTNAME", (0, 1), (-1, -1), SANS),
        ("FONTSIZE", (0, 0), (-1, -1), _FONT_SIZE),
        ("LEADING", (0, 0), (-1, -1), _FONT_SIZE + 2),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e5e7eb")),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.HexColor("#6b7280")),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#d1d5db")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LEFTPADDING", (0, 0), (-1, -1), _PADDING),
        ("RIGHTPADDING", (0, 0), (-1, -1), _PADDING),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]
    commands += [
        ("ALIGN", (i, 0), (i, -1), "RIGHT") for i, c in enumerate(columns) if c.kind in _NUMERIC_KINDS
    ]
    if not body:
        story.append(Paragraph(escape(gettext("No rows match.")), small))

    buffer = BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=page_size,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin,
        bottomMargin=margin + 4 * mm,
        title=title,
        author=merchant.name,
        creator="Tessera",
    )
    if body:
        # One table per page: reportlab re-measures every remaining row at each page break of a long
        # table, which makes 20,000 rows take minutes. Rows are one line each, so a page's share is known.
        frame_height = document.height - 12  # the frame's own padding
        header_height = (
            max(p.wrap(w - 2 * _PADDING, frame_height)[1] for p, w in zip(header, widths, strict=True)) + 3
        )
        intro_height = sum(_flowable_height(f, width) for f in story)
        per_page = max(int((frame_height - header_height) // _ROW_HEIGHT) - 1, 1)
        first = max(int((frame_height - intro_height - header_height) // _ROW_HEIGHT) - 1, 0)
        bounds = [0, *range(first, len(body), per_page)] if first else list(range(0, len(body), per_page))
        for start, end in zip(bounds, [*bounds[1:], len(body)], strict=True):
            if start == end:
                continue
            chunk_commands = [
                *commands,
                *[
                    ("FONTNAME", (c, r - start), (c, r - start), CJK)
                    for c, r in cjk_cells
                    if start < r <= end
                ],
            ]
            table = Table([header, *body[start:end]], colWidths=widths, repeatRows=1)
            table.setStyle(TableStyle(chunk_commands))
            story.append(table)

    footer = _footer(merchant_name=merchant.name, title=title)
    document.build(story, canvasmaker=_numbered_canvas(footer))
    return buffer.getvalue()


def _flowable_height(flowable: Any, width: float) -> float:
    height: float = flowable.wrap(width, 10_000)[1]
    return height + flowable.getSpaceBefore() + flowable.getSpaceAfter()


def _footer(*, merchant_name: str, title: str) -> Callable[[Any, int, int], None]:
    from reportlab.lib.units import mm

    left = f"{merchant_name} · {title}"

    def draw(canvas: Any, page: int, pages: int) -> None:
        canvas.saveState()
        canvas.setFont(font_for(left), 7)
        canvas.drawString(12 * mm, 8 * mm, left)
        label = gettext("Page %(page)s of %(pages)s") % {"page": page, "pages": pages}
        canvas.setFont(font_for(label), 7)
        canvas.drawRightString(canvas._pagesize[0] - 12 * mm, 8 * mm, label)
        canvas.restoreState()

    return draw


def _numbered_canvas(footer: Callable[[Any, int, int], None]) -> Any:
    """A canvas that holds its pages back until the end, to print "page X of Y" on each."""
    from reportlab.pdfgen.canvas import Canvas

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # reportlab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                footer(self, number, total)
                super().showPage()
            super().save()

    return NumberedCanvas
