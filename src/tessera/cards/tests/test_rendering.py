"""Barcodes (D2, issue 14): the digits sit under the bars, with white between, and a quiet zone each side.

Coordinates are reportlab's (points, y upwards), read from the drawing the SVG, PNG and PDF sheet all
render; the PNG is checked pixel by pixel, as a phone would show it."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image
from reportlab.graphics.shapes import Rect, String
from reportlab.lib.units import mm

from tessera.cards import rendering

NUMBER = "8868000000010"


def _bars_and_digits(bar_height: float) -> tuple[Any, list[tuple[float, float, float, float]], String, float]:
    drawing = rendering.barcode_drawing(NUMBER, bar_height=bar_height)
    shapes: list[tuple[Any, tuple[float, ...]]] = []
    rendering._shapes(drawing, (1.0, 0.0, 0.0, 1.0, 0.0, 0.0), shapes)
    bars = [
        (m[4] + s.x, m[5] + s.y, m[4] + s.x + s.width, m[5] + s.y + s.height)
        for s, m in shapes
        if isinstance(s, Rect) and s.fillColor is not None and s.width > 0
    ]
    (digits,) = [s for s, _m in shapes if isinstance(s, String)]
    return drawing, bars, digits, rendering.BAR_WIDTH


@pytest.mark.parametrize("bar_height", [12 * mm, 10 * mm])  # the card page's and the PDF sheet's
def test_the_digits_sit_below_the_bars_with_white_between_and_quiet_zones_D2(bar_height):
    drawing, bars, digits, module = _bars_and_digits(bar_height)

    assert len(bars) > 20
    assert digits.text == NUMBER
    bars_bottom = min(y0 for _x0, y0, _x1, _y1 in bars)
    # A whole em above the baseline is more than any font's digits; then at least 1 mm of white.
    assert digits.y + digits.fontSize + 1 * mm <= bars_bottom
    assert digits.y >= 0  # not cut off under the drawing
    assert max(y1 for *_rest, y1 in bars) <= drawing.height
    # Code 128's quiet zone: at least 10 modules of white left and right of the bars.
    assert min(x0 for x0, *_rest in bars) >= 10 * module - 0.01
    assert drawing.width - max(x1 for _x0, _y0, x1, _y1 in bars) >= 10 * module - 0.01
    # The digits, in Courier (0.6 em each), fit the drawing's width.
    half = len(NUMBER) * 0.6 * digits.fontSize / 2
    assert digits.textAnchor == "middle" and half <= digits.x <= drawing.width - half


def test_the_png_has_a_white_band_between_the_bars_and_the_digits_D2():
    png = Image.open(io.BytesIO(rendering.to_png(rendering.barcode_drawing(NUMBER))))
    width, height = png.size
    pixels = png.load()
    dark_rows = [y for y in range(height) if any(pixels[x, y] < 128 for x in range(width))]
    # The bars run from the top down without a break; then white; then the digits.
    bar_rows_end = next(y for y in range(dark_rows[0], height) if y not in dark_rows)
    digit_rows = [y for y in dark_rows if y > bar_rows_end]
    assert dark_rows[0] <= 1
    assert digit_rows, "the digits are drawn"
    assert digit_rows[0] - bar_rows_end >= 8  # 4 px per point: 2 points of white at least
    assert digit_rows[-1] < height - 1
    dark_columns = [x for x in range(width) if pixels[x, 0] < 128]
    assert dark_columns[0] >= 10 * rendering.BAR_WIDTH * 4 - 1
    assert width - 1 - dark_columns[-1] >= 10 * rendering.BAR_WIDTH * 4 - 1
