"""Card media (D2, D6): Code 128 barcodes and QR codes as SVG or PNG, printable PDF sheets and CSV lists.

Everything is drawn with reportlab's own barcode and QR widgets. SVG comes from reportlab's SVG
renderer; PNG is rasterised here with Pillow from the same drawing (reportlab's bitmap renderer needs
the system cairo library, which an embedded install does not have). CSV lists stream line by line;
PDF sheets are made in parts of `SHEET_PART_SIZE` cards, since reportlab builds a document in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from django.utils.translation import gettext as _
from PIL import Image, ImageDraw, ImageFont
from reportlab.graphics import renderPDF, renderSVG
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.barcode.widgets import BarcodeCode128
from reportlab.graphics.shapes import Drawing, Group, Rect, String
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from tessera.cards.models import Card
from tessera.cards.selectors import qr_payload
from tessera.core.exports import FONTS_DIR, font_for, register_fonts

Format = Literal["svg", "png"]
CONTENT_TYPES: dict[str, str] = {"svg": "image/svg+xml", "png": "image/png"}


#: Code 128 bars: the narrowest bar, the quiet zone (white, at least 10 modules) each side of the bars, and
#: the digits under them in a band of their own.
BAR_WIDTH = 0.33 * mm
QUIET_MODULES = 10
DIGITS_SIZE = 9  # points
DIGITS_GAP = 1.5 * mm  # white between the bottom of the bars and the top of the tallest digit
DIGITS_BELOW = 1 * mm  # under the digits' baseline


def barcode_drawing(number: str, *, bar_height: float = 12 * mm, human_readable: bool = True) -> Drawing:
    """The bars with their quiet zones and, below, the digits with white between them and the bars.

    reportlab's own human-readable line sits half a point under the bars, sized for Courier: a viewer
    with another monospace font (DejaVu Sans Mono on Linux and Android has taller digits) printed the
    digits over the bars. The band reserved here holds a whole em, taller than any font's digits.
    """
    quiet = QUIET_MODULES * BAR_WIDTH
    band = DIGITS_BELOW + DIGITS_SIZE + DIGITS_GAP if human_readable else 0
    bars = BarcodeCode128(
        value=number, barHeight=bar_height, barWidth=BAR_WIDTH, humanReadable=False, quiet=False
    )
    bars.x, bars.y = quiet, band
    _x0, _y0, bars_right, _y1 = bars.getBounds()
    drawing = Drawing(bars_right + quiet, band + bar_height)
    drawing.add(bars)
    if human_readable:
        drawing.add(
            String(
                drawing.width / 2,
                DIGITS_BELOW,
                number,
                fontName="Courier",
                fontSize=DIGITS_SIZE,
                textAnchor="middle",
            )
        )
    return drawing


def qr_drawing(payload: str, *, size: float = 25 * mm) -> Drawing:
    drawing = Drawing(size, size)
    drawing.add(QrCodeWidget(payload, barLevel="M", barWidth=size, barHeight=size))
    return drawing


def _draw_qr_on(canvas: Canvas, payload: str, x: float, y: float, size: float) -> None:
    """The QR of `payload` as one filled path: the same modules as `qr_drawing`, far fewer PDF objects."""
    widget = QrCodeWidget(payload, barLevel="M")
    widget.qr.make()
    modules = widget.qr.modules
    border = widget.barBorder
    box = size / (len(modules) + 2 * border)
    path = canvas.beginPath()
    for r, row in enumerate(modules):
        for c, dark in enumerate(row):
            if dark:
                path.rect(x + (c + border) * box, y + size - (r + border + 1) * box, box, box)
    canvas.drawPath(path, stroke=0, fill=1)


def _shapes(node: Any, matrix: tuple[float, ...], out: list[tuple[Any, tuple[float, ...]]]) -> None:
    """Flatten a drawing into (Rect | String, transform) pairs, widgets expanded."""
    if isinstance(node, (Rect, String)):
        out.append((node, matrix))
        return
    if not isinstance(node, Group) and hasattr(node, "draw"):
        node = node.draw()
    if isinstance(node, Group):
        a, b, c, d, e, f = node.transform
        m0, m1, m2, m3, m4, m5 = matrix
        inner = (
            m0 * a + m2 * b,
            m1 * a + m3 * b,
            m0 * c + m2 * d,
            m1 * c + m3 * d,
            m0 * e + m2 * f + m4,
            m1 * e + m3 * f + m5,
        )
        for child in node.contents:
            _shapes(child, inner, out)


def to_png(drawing: Drawing, *, scale: float = 4.0) -> bytes:
    """Rasterise a barcode or QR drawing (rectangles and text, no rotation) at `scale` pixels per point."""
    width, height = round(drawing.width * scale), round(drawing.height * scale)
    image = Image.new("L", (max(width, 1), max(height, 1)), 255)
    canvas = ImageDraw.Draw(image)
    shapes: list[tuple[Any, tuple[float, ...]]] = []
    _shapes(drawing, (1.0, 0.0, 0.0, 1.0, 0.0, 0.0), shapes)
    for shape, (a, _b, _c, d, e, f) in shapes:
        if isinstance(shape, Rect):
            if shape.fillColor is None or shape.width <= 0 or shape.height <= 0:
                continue
            x0, y0 = (a * shape.x + e) * scale, (d * shape.y + f) * scale
            x1, y1 = (a * (shape.x + shape.width) + e) * scale, (d * (shape.y + shape.height) + f) * scale
            canvas.rectangle(
                (min(x0, x1), height - max(y0, y1), max(x0, x1) - 1, height - min(y0, y1) - 1), fill=0
            )
        else:
            font = ImageFont.truetype(
                str(FONTS_DIR / "DejaVuSansCondensed.ttf"), max(shape.fontSize * d * scale, 6)
            )
            x, y = (a * shape.x + e) * scale, height - (d * shape.y + f) * scale
            anchor = {"middle": "ms", "end": "rs"}.get(shape.textAnchor, "ls")
            canvas.text((x, y), shape.text, fill=0, font=font, anchor=anchor)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _render(drawing: Drawing, fmt: Format) -> bytes:
    if fmt == "png":
        return to_png(drawing)
    return renderSVG.drawToString(drawing).encode()


def barcode_image(card: Card, fmt: Format = "svg") -> bytes:
    """The card number as a Code 128 barcode, with the digits printed under it."""
    return _render(barcode_drawing(card.number), fmt)


def qr_svg(payload: str) -> bytes:
    """Any short text as a QR code in SVG: the portal shows a member's promo code this way."""
    return _render(qr_drawing(payload), "svg")


def qr_image(card: Card, fmt: Format = "svg") -> bytes:
    """The card's QR code (payload `TSR1:<number>`, see `tessera.cards.selectors`)."""
    return _render(qr_drawing(qr_payload(card)), fmt)


# ------------------------------------------------------------------------------------------------ sheets

#: An A4 sheet holds 2 × 5 cards of ID-1 size (85.6 × 54 mm), cut marks at the card edges.
CARD_W, CARD_H = 85.6 * mm, 54 * mm
COLUMNS, ROWS = 2, 5
MARGIN_X = (A4[0] - COLUMNS * CARD_W) / 2
MARGIN_Y = (A4[1] - ROWS * CARD_H) / 2


def _draw_card(canvas: Canvas, card: Card, merchant_name: str, x: float, y: float) -> None:
    canvas.setStrokeGray(0.75)
    canvas.setLineWidth(0.3)
    canvas.roundRect(x, y, CARD_W, CARD_H, 3 * mm)
    canvas.setFillGray(0)
    # Vietnamese and Chinese names need fonts with their glyphs (Helvetica has neither).
    canvas.setFont(font_for(merchant_name, bold=True), 10)
    canvas.drawString(x + 5 * mm, y + CARD_H - 9 * mm, merchant_name)
    canvas.setFont(font_for(card.type.name), 8)
    canvas.drawString(x + 5 * mm, y + CARD_H - 14 * mm, card.type.name)
    canvas.setFont("Courier-Bold", 11)
    canvas.drawString(
        x + 5 * mm,
        y + CARD_H - 21 * mm,
        " ".join(card.number[i : i + 4] for i in range(0, len(card.number), 4)),
    )
    renderPDF.draw(barcode_drawing(card.number, bar_height=10 * mm), canvas, x + 4 * mm, y + 4 * mm)
    qr_size = 24 * mm
    _draw_qr_on(
        canvas, qr_payload(card), x + CARD_W - qr_size - 3 * mm, y + CARD_H - qr_size - 3 * mm, qr_size
    )


#: Cards per PDF file: a sheet file of a bigger batch is split in parts (≈ 8 s and 1.5 MB each).
SHEET_PART_SIZE = 1000


def card_sheet_pdf(cards: Iterable[Card], *, merchant_name: str) -> bytes:
    """A4 pages of 10 cards each: merchant name, type, number, Code 128 barcode and QR code.

    Pass at most `SHEET_PART_SIZE` cards with `type` selected; callers split big batches in parts.
    Names are printed with the bundled Unicode fonts of `tessera.core.exports` (Vietnamese, Chinese).
    """
    register_fonts()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1)
    canvas.setTitle(_("Card sheet"))
    per_page = COLUMNS * ROWS
    for index, card in enumerate(cards):
        slot = index % per_page
        if slot == 0 and index:
            canvas.showPage()
        column, row = slot % COLUMNS, slot // COLUMNS
        _draw_card(
            canvas, card, merchant_name, MARGIN_X + column * CARD_W, A4[1] - MARGIN_Y - (row + 1) * CARD_H
        )
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


class _Echo:
    def write(self, value: str) -> str:
        return value


def cards_csv(cards: Iterable[Card]) -> Iterator[bytes]:
    """One line per card: number, QR payload, type, status, store, batch. UTF-8 with BOM for spreadsheets."""
    writer = csv.writer(_Echo())
    yield "\ufeff".encode()
    yield writer.writerow(
        [_("Number"), _("QR payload"), _("Card type"), _("Status"), _("Store"), _("Batch")]
    ).encode()
    for card in cards:
        yield writer.writerow(
            [
                card.number,
                qr_payload(card),
                card.type.name,
                card.get_status_display(),
                card.store.name if card.store else "",
                card.batch.number if card.batch else "",
            ]
        ).encode()
