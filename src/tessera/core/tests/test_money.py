"""Issue 14 ("Localised": amounts in the merchant's locale): typed money is read one way, by the
currency's minor digits and the screen's language; money, points and quantities are shown one way."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from babel.numbers import format_decimal
from django import forms
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from tessera.core.formatting import (
    currency_symbol,
    excel_money_format,
    format_datetime,
    format_money,
    format_points,
    format_quantity,
    locale_for,
)
from tessera.core.limits import MAX_AMOUNT
from tessera.core.money import AmountError, MoneyField, parse_money

NBSP = "\xa0"

# --- reading typed money -----------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["vi", "zh-hans", "en"])
@pytest.mark.parametrize(
    ("text", "minor"),
    [
        ("150.000", 150_000),  # the Vietnamese way: the scanner used to read this as 150 đồng
        ("150,000", 150_000),
        ("150000", 150_000),
        ("1.500.000", 1_500_000),
        ("1,500,000", 1_500_000),
        ("150 000", 150_000),
        ("150.000 ₫", 150_000),
        ("150.000đ", 150_000),
        ("VND 150,000", 150_000),
        ("１５０．０００", 150_000),  # full-width, from a Chinese input method
        ("0", 0),
    ],
)
def test_vnd_has_no_decimals_so_dot_and_comma_both_group_thousands(text, minor, language):
    assert parse_money(text, "VND", language) == minor


@pytest.mark.parametrize("language", ["vi", "zh-hans", "en"])
@pytest.mark.parametrize("text", ["150.5", "150,50", "1.500,00"])
def test_vnd_refuses_a_fraction(text, language):
    with pytest.raises(AmountError) as refused:
        parse_money(text, "VND", language)

    assert refused.value.code in ("too_many_decimals", "invalid_amount")


@pytest.mark.parametrize(
    ("text", "language", "minor"),
    [
        # The language's own way.
        ("5.352,00", "vi", 535_200),
        ("5,352.00", "en", 535_200),
        ("5,352.00", "zh-hans", 535_200),
        ("12,5", "vi", 1_250),
        ("12.5", "en", 1_250),
        ("12.5", "zh-hans", 1_250),
        ("1.234", "vi", 123_400),  # "." groups in Vietnamese
        ("1,234", "en", 123_400),  # "," groups in English and Chinese
        ("1,234", "zh-hans", 123_400),
        ("1 234,56", "vi", 123_456),
        # Text that reads only the other way is read that way: it can mean nothing else.
        ("5,352.00", "vi", 535_200),
        ("5.352,00", "en", 535_200),
        ("12.5", "vi", 1_250),  # also what a number box sends, whatever the language
        ("12,50", "en", 1_250),
        ("CN¥5,352.00", "en", 535_200),
        ("¥ 12.50", "zh-hans", 1_250),
        ("１２，５", "zh-hans", 1_250),
        ("0,01", "vi", 1),
    ],
)
def test_cny_reads_the_decimal_mark_of_the_language(text, language, minor):
    assert parse_money(text, "CNY", language) == minor


@pytest.mark.parametrize(
    ("text", "language", "readings"),
    [
        # Three digits after the language's decimal mark: one decimal too many, or a thousands group?
        ("1,234", "vi", ["1,234" + NBSP + "CN¥", "1.234,00" + NBSP + "CN¥"]),
        ("1.234", "en", ["CN¥1.234", "CN¥1,234.00"]),
        ("1.234", "zh-hans", ["¥1.234", "¥1,234.00"]),
    ],
)
def test_cny_text_that_could_mean_two_amounts_is_refused_with_both_readings(text, language, readings):
    with pytest.raises(AmountError) as refused:
        parse_money(text, "CNY", language)

    assert refused.value.code == "ambiguous_amount"
    assert refused.value.detail["readings"] == readings
    assert readings[0] in str(refused.value) and readings[1] in str(refused.value)


@pytest.mark.parametrize(
    ("text", "currency", "code"),
    [
        ("-5", "CNY", "negative_amount"),
        ("−150.000", "VND", "negative_amount"),
        ("12,3456", "USD", "too_many_decimals"),
        ("1234.567", "USD", "too_many_decimals"),
        ("10.000.000.000,01", "CNY", "amount_over_limit"),  # MAX_AMOUNT is 10 billion yuan
        ("1.000.000.000.001", "VND", "amount_over_limit"),
        ("9" * 41, "VND", "invalid_amount"),
        ("", "VND", "invalid_amount"),
        ("   ", "CNY", "invalid_amount"),
        ("abc", "CNY", "invalid_amount"),
        ("12a", "VND", "invalid_amount"),
        ("1e5", "CNY", "invalid_amount"),
        ("NaN", "CNY", "invalid_amount"),
        ("1.2.3", "CNY", "invalid_amount"),
        ("1,2345", "VND", "invalid_amount"),  # not groups of three
        ("1.500,000", "VND", "invalid_amount"),  # two different grouping marks
        ("$12.50", "CNY", "invalid_amount"),  # another currency's symbol
    ],
)
def test_what_cannot_be_an_amount_is_refused_with_a_stable_code(text, currency, code):
    with pytest.raises(AmountError) as refused:
        parse_money(text, currency, "vi")

    assert refused.value.code == code


def test_the_bounds_are_inclusive_and_the_limit_is_shown_formatted():
    assert parse_money("10.000.000.000,00", "CNY", "vi") == MAX_AMOUNT
    assert parse_money("1,000", "VND", "en", maximum=1_000) == 1_000

    with pytest.raises(AmountError) as refused:
        parse_money("1,001", "VND", "en", maximum=1_000)

    assert refused.value.detail == {"limit": 1_000}
    assert "₫1,000" in str(refused.value)


def test_the_active_language_is_used_when_none_is_given():
    with translation.override("vi"):
        assert parse_money("1.234", "CNY") == 123_400
    with translation.override("en"), pytest.raises(AmountError):
        parse_money("1.234", "CNY")


class _Form(forms.Form):
    amount = MoneyField(currency="VND", minimum=1, maximum=1_000_000)


@pytest.mark.parametrize(
    ("text", "cleaned", "error"),
    [
        ("150.000", 150_000, None),
        ("0", None, "The amount must be at least"),
        ("2.000.000", None, "cannot be more than"),
        ("150.5", None, "no decimals"),
    ],
)
def test_money_field_cleans_to_minor_units_or_says_why_not(text, cleaned, error):
    with translation.override("en"):
        form = _Form({"amount": text})
        valid = form.is_valid()

    assert valid is (error is None)
    if error is None:
        assert form.cleaned_data["amount"] == cleaned
    else:
        assert error in form.errors["amount"][0]


# --- showing money, points and quantities -----------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "minor", "currency", "shown"),
    [
        ("vi", 1_500_000, "VND", "1.500.000" + NBSP + "₫"),
        ("zh-hans", 1_500_000, "VND", "₫1,500,000"),
        ("en", 1_500_000, "VND", "₫1,500,000"),
        ("vi", 535_200, "CNY", "5.352,00" + NBSP + "CN¥"),
        ("zh-hans", 535_200, "CNY", "¥5,352.00"),
        ("en", 535_200, "CNY", "CN¥5,352.00"),
        ("vi", 1_250, "USD", "12,50" + NBSP + "US$"),
        ("zh-hans", 1_250, "USD", "US$12.50"),
        ("en", 1_250, "USD", "$12.50"),
        ("en", 0, "CNY", "CN¥0.00"),
        ("en", 5, "USD", "$0.05"),
    ],
)
def test_money_is_shown_with_the_languages_marks_and_the_currencys_symbol(language, minor, currency, shown):
    assert format_money(minor, currency, language) == shown
    with translation.override(language):
        assert format_money(minor, currency) == shown  # the active language by default


@pytest.mark.parametrize(
    ("language", "shown"), [("vi", "1.500.000"), ("zh-hans", "1,500,000"), ("en", "1,500,000")]
)
def test_points_and_quantities_are_grouped_per_language(language, shown):
    assert format_points(1_500_000, language) == shown
    assert format_quantity(1_500_000, language) == shown
    assert format_points(-200, language) == "-200"


def test_no_iso_code_beside_a_symbol():
    for language in ("vi", "zh-hans", "en"):
        for currency in ("VND", "CNY", "USD"):
            assert currency not in format_money(123_456, currency, language)
    assert currency_symbol("VND", "vi") == "₫" and currency_symbol("CNY", "zh-hans") == "¥"


def test_excel_money_formats_keep_numbers_and_show_the_symbol_where_the_language_puts_it():
    assert excel_money_format("VND", "vi") == '#,##0 "₫"'
    assert excel_money_format("CNY", "zh-hans") == '"¥"#,##0.00'
    assert excel_money_format("USD", "en") == '"$"#,##0.00'


def test_times_are_shown_in_the_zone_given_or_the_active_one():
    moment = datetime(2026, 3, 2, 3, 55, tzinfo=UTC)

    with translation.override("en"):
        assert "10:55" in format_datetime(moment, "Asia/Ho_Chi_Minh")
        assert "11:55" in format_datetime(moment, "Asia/Shanghai")


@given(
    points=st.integers(min_value=-(10**13), max_value=10**13),
    language=st.sampled_from(["vi", "zh-hans", "en"]),
)
def test_points_are_written_exactly_as_babel_writes_them(points, language):
    """`format_points` skips Babel for locales that group by threes; what it writes must not differ."""
    assert format_points(points, language) == format_decimal(points, locale=locale_for(language))
