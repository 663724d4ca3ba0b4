"""The cell parsers behind C4 imports: phones in local formats, dates as text or Excel serials,
whole points only, and the header suggestions in vi, en and zh."""

from __future__ import annotations

from datetime import date, datetime

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.imports import fields
from tessera.imports.fields import CellError
from tessera.imports.reading import csv_encoding


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("0912 345 678", "VN", "+84912345678"),
        ("+84 912345678", "VN", "+84912345678"),
        ("84912345678", "VN", "+84912345678"),
        ("(028) 3823 4567", "VN", "+842838234567"),
        (912345678.0, "VN", "+84912345678"),
        (912345678, "VN", "+84912345678"),
        ("8.4912345678E+10", "VN", "+84912345678"),
        ("138 0013 8000", "CN", "+8613800138000"),
        ("+86 138-0013-8000", "VN", "+8613800138000"),
    ],
)
def test_c4_phones_in_local_formats_become_e164(raw, region, e164):
    assert fields.phone(raw, region=region) == e164


def _by_phonenumbers(raw, region):
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@settings(max_examples=600)
@given(
    region=st.sampled_from(["VN", "CN", "TH", "SG", "US", "GB", "JP"]),
    lead=st.sampled_from(["", "0", "+84", "84", "+86", "86", "+66", "00", "+840", "840", "+1", "+65"]),
    digits=st.text(alphabet="0123456789", min_size=5, max_size=12),
    separator=st.sampled_from(["", " ", "-", ".", "\u00a0"]),
)
def test_c4_the_fast_path_for_common_phone_shapes_reads_as_phonenumbers_does(region, lead, digits, separator):
    """Issue 16: the fast path answers only for valid numbers, and with phonenumbers' own answer."""
    raw = lead + separator + separator.join([digits[:3], digits[3:6], digits[6:]])
    fast = fields._valid_common_shape(raw, region)
    if fast is not None:
        assert fast == _by_phonenumbers(raw, region)


def test_c4_the_fast_path_reads_the_common_vietnamese_shapes():
    for raw in ("0912 345 678", "+84 912345678", "84912345678", "(028) 3823 4567"):
        assert fields._valid_common_shape(raw, "VN") == _by_phonenumbers(raw, "VN") is not None


@pytest.mark.parametrize("raw", ["12345", "abc", "0912", 912345678.5, True, "+84 000 000 000"])
def test_c4_invalid_phones_are_refused(raw):
    with pytest.raises(CellError) as refused:
        fields.phone(raw, region="VN")
    assert refused.value.code == "invalid_phone"


@given(st.integers(min_value=0, max_value=9_999_999))
def test_c4_any_local_vietnamese_mobile_in_any_spelling_gives_one_number(n):
    digits = f"{n:07d}"
    spellings = [
        f"090{digits}",
        f"090 {digits[:3]} {digits[3:]}",
        f"+84 90{digits}",
        f"8490{digits}",
        float(f"90{digits}"),
    ]
    assert {fields.phone(s, region="VN") for s in spellings} == {f"+8490{digits}"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("03/05/1990", date(1990, 5, 3)),
        ("3/5/1990", date(1990, 5, 3)),
        ("03-05-1990", date(1990, 5, 3)),
        ("03.05.1990", date(1990, 5, 3)),
        ("1990-05-03", date(1990, 5, 3)),
        ("1990/05/03", date(1990, 5, 3)),
        ("1990年5月3日", date(1990, 5, 3)),
        ("1990 年 05 月 03 日", date(1990, 5, 3)),
        ("03/05/1990 00:00:00", date(1990, 5, 3)),
        ("32996", date(1990, 5, 3)),
        (32996, date(1990, 5, 3)),
        (32996.0, date(1990, 5, 3)),
        (datetime(1990, 5, 3, 0, 0), date(1990, 5, 3)),
        (date(1990, 5, 3), date(1990, 5, 3)),
    ],
)
def test_c4_dates_as_text_or_excel_serials(raw, expected):
    assert fields.a_date(raw) == expected


@pytest.mark.parametrize("raw", ["31/02/1990", "1990", "May 3, 1990", "13/13/2000", "", 0, -5, True])
def test_c4_non_dates_are_refused(raw):
    with pytest.raises(CellError) as refused:
        fields.a_date(raw)
    assert refused.value.code == "invalid_date"


@given(st.dates(min_value=date(1900, 3, 1), max_value=date(2100, 12, 31)))
def test_c4_a_date_reads_the_same_in_every_accepted_spelling(day):
    serial = (day - date(1899, 12, 30)).days
    spellings = [
        day.strftime("%d/%m/%Y"),
        day.isoformat(),
        day.strftime("%d-%m-%Y"),
        f"{day.year}年{day.month}月{day.day}日",
        serial,
        float(serial),
    ]
    if len(str(serial)) == 5:  # as text, only five-digit serials are dates: "1990" is a year
        spellings.append(str(serial))
    assert {fields.a_date(s) for s in spellings} == {day}


@pytest.mark.parametrize(
    ("raw", "points"),
    [
        ("1500", 1500),
        (1500, 1500),
        (1500.0, 1500),
        ("1.500", 1500),
        ("1,500", 1500),
        ("1 500 000", 1_500_000),
        ("12.0", 12),
        ("12,00", 12),
        ("0", 0),
        ("+7", 7),
    ],
)
def test_c4_points_are_whole_numbers(raw, points):
    assert fields.points(raw) == points


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("12.5", "points_not_whole"),
        (12.5, "points_not_whole"),
        ("12,5", "points_not_whole"),
        ("-3", "points_negative"),
        (-3, "points_negative"),
        ("abc", "invalid_points"),
        (True, "invalid_points"),
        ("10" * 10, "points_too_large"),
    ],
)
def test_c4_points_that_are_not_whole_or_negative_are_refused_never_rounded(raw, code):
    with pytest.raises(CellError) as refused:
        fields.points(raw)
    assert refused.value.code == code


@given(st.integers(min_value=0, max_value=fields.MAX_POINTS))
def test_c4_points_survive_every_spelling(n):
    grouped = f"{n:,}"
    assert fields.points(str(n)) == fields.points(n) == fields.points(float(n) if n < 2**52 else n) == n
    assert fields.points(grouped) == n
    assert fields.points(grouped.replace(",", ".")) == n


@given(st.decimals(min_value=0, max_value=10_000, places=2).filter(lambda d: d != d.to_integral_value()))
def test_c4_fractional_points_are_always_refused(d):
    with pytest.raises(CellError):
        fields.points(float(d))
    with pytest.raises(CellError):
        fields.points(str(d))


@pytest.mark.parametrize(
    ("raw", "gender"),
    [
        ("Nam", "male"),
        ("nữ", "female"),
        ("Nữ", "female"),
        ("男", "male"),
        ("女", "female"),
        ("M", "male"),
        ("F", "female"),
        ("female", "female"),
        ("Khác", "other"),
    ],
)
def test_c4_gender_vocabulary(raw, gender):
    assert fields.gender(raw) == gender


def test_c4_headers_in_three_languages_are_recognised():
    headers = ["Số điện thoại", "Họ tên", "Ngày sinh", "积分", "Hạn điểm", "E-mail", "生日", "Unknown column"]
    assert fields.suggest_mapping(headers) == {
        "Số điện thoại": "phone",
        "Họ tên": "full_name",
        "Ngày sinh": "birthday",
        "积分": "points",
        "Hạn điểm": "points_expire_on",
        "E-mail": "email",
    }
    assert fields.suggest_mapping(["SĐT", "手机", "姓名"]) == {"SĐT": "phone", "姓名": "full_name"}


@pytest.mark.parametrize(
    ("head", "country", "encoding"),
    [
        ("\ufeffSố".encode(), "VN", "utf-8-sig"),
        ("Số điện thoại".encode(), "VN", "utf-8"),
        ("Số".encode("utf-16"), "VN", "utf-16"),
        ("Đào Văn".encode("cp1258"), "VN", "cp1258"),
        ("手机号,姓名".encode("gb18030"), "CN", "gb18030"),
    ],
)
def test_c4_csv_encodings_are_recognised(head, country, encoding):
    assert csv_encoding(head, country=country) == encoding


def test_c4_too_long_text_is_refused():
    assert fields.text("  Nguyễn   Văn  An ", max_length=200) == "Nguyễn Văn An"
    with pytest.raises(CellError) as refused:
        fields.text("x" * 201, max_length=200)
    assert refused.value.code == "too_long"
