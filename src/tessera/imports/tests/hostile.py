"""Hostile .xlsx files built in the test (issue 12): entity expansion, too much shared text, zip bombs."""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Callable
from xml.sax.saxutils import escape

ROWS = [["SĐT", "Họ và tên"], ["0912345678", "Nguyễn Văn An"], ["0903123456", "王小明"]]

BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol1 "lol">'
    + "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(2, 10))
    + "]>"
)


_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'


def xlsx_bytes(rows: list[list[str]] = ROWS) -> bytes:
    """A workbook as Excel writes one: every text in the shared strings, cells pointing at them
    (openpyxl writes inline strings instead, which would not exercise the shared strings)."""
    strings: dict[str, int] = {}
    cells = []
    for number, row in enumerate(rows, start=1):
        refs = "".join(
            f'<c r="{chr(65 + column)}{number}" t="s"><v>{strings.setdefault(value, len(strings))}</v></c>'
            for column, value in enumerate(row)
        )
        cells.append(f'<row r="{number}">{refs}</row>')
    shared = "".join(f"<si><t>{escape(text)}</t></si>" for text in strings)
    parts = {
        "[Content_Types].xml": (
            f"{_DECL}"
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPE}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_TYPE}.worksheet+xml"/>'
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_TYPE}.sharedStrings+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            f'{_DECL}<Relationships xmlns="{_PKG_RELS}">'
            f'<Relationship Id="rId1" Type="{_RELS}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            f'{_DECL}<workbook xmlns="{_MAIN}" xmlns:r="{_RELS}">'
            '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'{_DECL}<Relationships xmlns="{_PKG_RELS}">'
            f'<Relationship Id="rId1" Type="{_RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{_RELS}/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>"
        ),
        "xl/worksheets/sheet1.xml": (
            f'{_DECL}<worksheet xmlns="{_MAIN}"><sheetData>{"".join(cells)}</sheetData></worksheet>'
        ),
        "xl/sharedStrings.xml": (
            f'{_DECL}<sst xmlns="{_MAIN}" count="{len(strings)}" uniqueCount="{len(strings)}">{shared}</sst>'
        ),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def rewrite(data: bytes, part: str, change: Callable[[bytes], bytes]) -> bytes:
    """The same workbook with one part's bytes changed."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            content = source.read(info.filename)
            target.writestr(info.filename, change(content) if info.filename == part else content)
    return out.getvalue()


def with_entities(part: str = "xl/sharedStrings.xml") -> bytes:
    """A "billion laughs": ten to the ninth "lol"s declared at the top of one XML part (and used, in
    the shared strings)."""

    def declare(content: bytes) -> bytes:
        text = content.decode()
        end = text.index("?>") + 2 if text.startswith("<?xml") else 0
        text = text[:end] + BILLION_LAUGHS + text[end:]
        if part.endswith("sharedStrings.xml"):
            text = text.replace("<t>", "<t>&lol9;", 1)
        return text.encode()

    return rewrite(xlsx_bytes(), part, declare)


def with_shared_text(count: int, size: int) -> bytes:
    """A small file whose shared strings hold `count` more strings of `size` characters (that no cell
    uses: openpyxl reads them all anyway). Deflate packs them about a thousand to one."""
    filler = b"<si><t>" + b"x" * size + b"</t></si>"
    return rewrite(
        xlsx_bytes(), "xl/sharedStrings.xml", lambda c: c.replace(b"</sst>", filler * count + b"</sst>")
    )


def with_declared_size(part: str, size: int) -> bytes:
    """The workbook with its zip directory declaring `size` unpacked bytes for one part (a zip bomb's
    signature, without making the test unpack one)."""
    data = bytearray(xlsx_bytes())
    name = part.encode()
    position = data.find(b"PK\x01\x02")
    while position != -1:
        name_length = struct.unpack_from("<H", data, position + 28)[0]
        if data[position + 46 : position + 46 + name_length] == name:
            struct.pack_into("<I", data, position + 24, size)
            return bytes(data)
        position = data.find(b"PK\x01\x02", position + 4)
    raise AssertionError(f"{part} is not in the workbook")


def with_padding(part: str, size: int) -> bytes:
    """A real (small) zip bomb: `size` bytes of blanks inside one part, packed to a few kilobytes."""
    return rewrite(xlsx_bytes(), part, lambda c: c.replace(b"<sheetData>", b"<sheetData>" + b" " * size, 1))


def with_big_part(part: str, size: int) -> bytes:
    """The workbook with one more part (or a part replaced) of `size` bytes of blanks."""
    data = xlsx_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        names = source.namelist()
    if part in names:
        return rewrite(data, part, lambda c: c.replace(b"?>", b"?>" + b" " * size, 1))
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(part, b" " * size)
    return out.getvalue()
