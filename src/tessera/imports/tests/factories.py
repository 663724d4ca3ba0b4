"""Import files built in the tests: .csv in any encoding and delimiter, .xlsx with real cell types."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Sequence
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook


def csv_upload(
    rows: Sequence[Sequence[Any]], *, name: str = "members.csv", encoding: str = "utf-8", delimiter: str = ","
) -> SimpleUploadedFile:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    content = buffer.getvalue()
    if encoding == "cp1258":  # the code page has no "ị": it stores "i" and a combining dot below
        content = "".join(_cp1258_safe(c) for c in content)
    return SimpleUploadedFile(name, content.encode(encoding), content_type="text/csv")


def _cp1258_safe(char: str) -> str:
    try:
        char.encode("cp1258")
    except UnicodeEncodeError:
        return unicodedata.normalize("NFD", char)
    return char


def xlsx_bytes(rows: Sequence[Sequence[Any]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def xlsx_upload(rows: Sequence[Sequence[Any]], *, name: str = "members.xlsx") -> SimpleUploadedFile:
    return SimpleUploadedFile(
        name,
        xlsx_bytes(rows),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
