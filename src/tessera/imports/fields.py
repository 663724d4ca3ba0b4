"""What an import file's columns can be, how their headers are recognised, and how a cell becomes a value.

Cells come from csv (always text) or openpyxl (text, int, float, bool, datetime, None). Every parser
takes what it is given and returns a clean value or raises CellError with a stable code; messages are
built lazily, in the language active when they are shown or stored.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import _match_national_number, _number_type_helper
from unidecode import unidecode

from tessera.core.formatting import format_points
from tessera.core.limits import MAX_POINTS

#: Excel's day 0 (its serials count from 1899-12-30, with the 1900 leap-year bug folded in).
EXCEL_EPOCH = date(1899, 12, 30)


class CellError(Exception):
    """A cell that cannot be imported. `code` is stable (docs/imports.md); `message` is lazy."""

    def __init__(self, code: str, message: str | Promise) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Field:
    name: str
    label: str | Promise
    #: Header spellings recognised for the auto-suggested mapping, in vi, en and zh.
    synonyms: tuple[str, ...]
    max_length: int | None = None


FIELDS: tuple[Field, ...] = (
    Field(
        "phone",
        _("Phone"),
        (
            "số điện thoại",
            "sđt",
            "điện thoại",
            "di động",
            "số di động",
            "phone",
            "phone number",
            "mobile",
            "tel",
            "telephone",
            "手机",
            "手机号",
            "手机号码",
            "电话",
            "联系电话",
        ),
    ),
    Field(
        "full_name",
        _("Full name"),
        (
            "họ tên",
            "họ và tên",
            "tên",
            "tên khách hàng",
            "khách hàng",
            "name",
            "full name",
            "customer name",
            "customer",
            "姓名",
            "名字",
            "客户姓名",
            "客户名称",
        ),
        200,
    ),
    Field("email", _("Email"), ("email", "e-mail", "thư điện tử", "邮箱", "电子邮件", "电子邮箱"), 254),
    Field(
        "birthday",
        _("Birthday"),
        ("ngày sinh", "sinh nhật", "birthday", "date of birth", "dob", "birth date", "生日", "出生日期"),
    ),
    Field("gender", _("Gender"), ("giới tính", "gender", "sex", "性别")),
    Field("address", _("Address"), ("địa chỉ", "address", "地址", "住址"), 300),
    Field(
        "region",
        _("Region"),
        (
            "tỉnh thành",
            "tỉnh/thành phố",
            "tỉnh",
            "thành phố",
            "khu vực",
            "region",
            "province",
            "city",
            "地区",
            "城市",
            "省份",
        ),
        100,
    ),
    Field("occupation", _("Occupation"), ("nghề nghiệp", "occupation", "job", "职业"), 100),
    Field(
        "id_number",
        _("ID-card number"),
        ("cmnd", "cccd", "số cmnd", "số cccd", "id number", "id card", "身份证", "身份证号", "身份证号码"),
        30,
    ),
    Field("notes", _("Notes"), ("ghi chú", "notes", "note", "remarks", "备注")),
    Field("tags", _("Tags"), ("nhãn", "thẻ phân loại", "tags", "tag", "标签")),
    Field(
        "home_store",
        _("Home store (code)"),
        (
            "cửa hàng",
            "mã cửa hàng",
            "chi nhánh",
            "store",
            "store code",
            "home store",
            "门店",
            "门店代码",
            "门店编号",
        ),
    ),
    Field("marketing_sms", _("Accepts marketing SMS"), ("nhận sms", "marketing sms", "sms", "接收短信")),
    Field(
        "marketing_email",
        _("Accepts marketing email"),
        ("nhận email", "marketing email", "接收邮件"),
    ),
    Field(
        "points",
        _("Opening points"),
        (
            "điểm",
            "số điểm",
            "điểm tích lũy",
            "điểm hiện có",
            "points",
            "point balance",
            "balance",
            "积分",
            "积分余额",
            "当前积分",
        ),
    ),
    Field(
        "points_earned_on",
        _("Points earned on"),
        (
            "ngày tích điểm",
            "ngày cộng điểm",
            "earned on",
            "earned date",
            "earning date",
            "积分日期",
            "获得日期",
            "积分获得日期",
        ),
    ),
    Field(
        "points_expire_on",
        _("Points expire on"),
        (
            "hạn điểm",
            "ngày hết hạn",
            "hạn sử dụng điểm",
            "expires on",
            "expiry",
            "expiry date",
            "积分到期",
            "到期日期",
            "过期日期",
            "积分有效期",
        ),
    ),
)
FIELDS_BY_NAME = {f.name: f for f in FIELDS}


def header_key(text: str) -> str:
    """A header as compared for suggestions: no case, diacritics, spaces or punctuation ("SĐT" → "sdt").

    Chinese is transliterated too ("手机" → "shouji"): both sides go through the same function."""
    return re.sub(r"[\W_]+", "", unidecode(unicodedata.normalize("NFKC", str(text))).lower())


#: The languages of the back office, whose field labels are headers too (the template file's).
TEMPLATE_LANGUAGES = ("vi", "zh-hans", "en")


@functools.cache
def _synonyms() -> dict[str, str]:
    labels = {}
    for language in TEMPLATE_LANGUAGES:
        with translation.override(language):
            labels.update({header_key(str(f.label)): f.name for f in FIELDS})
    return {**labels, **{header_key(s): f.name for f in FIELDS for s in (f.name, *f.synonyms)}}


def suggest_mapping(headers: list[str]) -> dict[str, str]:
    """{header: field} for the headers that look like a field; each field is suggested once."""
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for header in headers:
        name = _synonyms().get(header_key(header))
        if name and name not in used:
            mapping[header] = name
            used.add(name)
    return mapping


# --- cell parsers ---------------------------------------------------------------------------------------


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def text(value: Any, *, max_length: int | None) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel keeps every number as a float: 123456789.0 is "123456789"
    # Composed (NFC): legacy code pages and some keyboards send "i" + a combining dot for "ị".
    result = unicodedata.normalize("NFC", " ".join(str(value).split())) if value is not None else ""
    if max_length is not None and len(result) > max_length:
        raise CellError(
            "too_long",
            _("At most %(max)s characters, this has %(length)s.")
            % {"max": max_length, "length": len(result)},
        )
    return result


_SCIENTIFIC = re.compile(r"^[+]?\d+(\.\d+)?[eE]\+?\d+$")


def phone(value: Any, *, region: str) -> str:
    """E.164. Local formats are read as numbers of `region`; Excel's floats (912345678.0) and
    scientific notation (8.4912345678E+10) are turned back into digits."""
    if isinstance(value, bool):
        raise CellError("invalid_phone", _("This is not a valid phone number."))
    if isinstance(value, float):
        if not value.is_integer():
            raise CellError("invalid_phone", _("This is not a valid phone number."))
        value = int(value)
    raw = str(value).strip()
    if _SCIENTIFIC.match(raw):
        try:
            raw = str(int(Decimal(raw)))
        except InvalidOperation:
            raise CellError("invalid_phone", _("This is not a valid phone number.")) from None
    if not raw:
        raise CellError("missing_phone", _("The phone is required."))
    fast = _valid_common_shape(raw, region)
    if fast is not None:
        return fast
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise CellError("invalid_phone", _("This is not a valid phone number.")) from None
    if not phonenumbers.is_valid_number(number):
        raise CellError("invalid_phone", _("This is not a valid phone number."))
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


#: What people write between the digits of a phone, which phonenumbers ignores too.
_SEPARATORS = str.maketrans("", "", " -.()\u00a0")


@dataclass(frozen=True)
class _Region:
    code: str
    national_prefix: str
    metadata: Any


@functools.cache
def _region(region: str) -> _Region | None:
    """A region whose numbers the fast path may read: the only region of its country code, whose
    national prefix (Vietnam's "0", or none) is all that reading a number strips."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or not metadata.country_code:
        return None
    code = metadata.country_code
    prefix = metadata.national_prefix or ""
    if (
        len(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code, ())) != 1
        or metadata.national_prefix_transform_rule
    ):
        return None
    if metadata.national_prefix_for_parsing not in (None, prefix):
        prefix = ""  # parsing strips more than the prefix (China): local numbers take the slow path
    return _Region(str(code), prefix, metadata)


def _valid_common_shape(raw: str, region: str) -> str | None:
    """The E.164 of a valid number written in one of the common shapes — `+84 912 345 678`,
    `0912 345 678`, `84912345678` — as phonenumbers would read it, at a fraction of its cost (a million
    rows, issue 16); None for anything else, which phonenumbers reads (and refuses) itself.
    `test_fields` holds both ways to the same answers."""
    known = _region(region)
    if known is None:
        return None
    digits = raw.translate(_SEPARATORS)
    general = known.metadata.general_desc
    if digits.startswith("+"):
        national = digits[1:].removeprefix(known.code) if digits[1:].startswith(known.code) else ""
    elif known.national_prefix and digits.startswith(known.national_prefix):
        national = digits[len(known.national_prefix) :]
    elif digits.startswith(known.code) and not _match_national_number(digits, general, False):
        national = digits[len(known.code) :]  # the country code without "+", as phonenumbers reads it
    else:
        return None
    if not (national.isascii() and national.isdigit()) or national.startswith("0"):
        return None
    if _number_type_helper(national, known.metadata) == phonenumbers.PhoneNumberType.UNKNOWN:
        return None
    return f"+{known.code}{national}"


_DMY = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")
_YMD = re.compile(r"^(\d{4})[/.\-](\d{1,2})[/.\-](\d{1,2})$")
_CJK = re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?$")
_SERIAL = re.compile(r"^\d{5}(\.0+)?$")  # as text, only 5 digits (1927-2173): "1990" is a year
_TIME_SUFFIX = re.compile(r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")


def _invalid_date() -> CellError:
    return CellError("invalid_date", _("Not a date: write it as dd/mm/yyyy, yyyy-mm-dd or 1990年5月3日."))


def _serial(days: float) -> date:
    if days < 1 or days > 2_958_465:  # 9999-12-31
        raise _invalid_date()
    return EXCEL_EPOCH + timedelta(days=int(days))


def a_date(value: Any) -> date:
    """A calendar date from an Excel date cell, an Excel serial number (33000), or text in the
    Vietnamese order dd/mm/yyyy, ISO yyyy-mm-dd, dd-mm-yyyy, dd.mm.yyyy or Chinese 1990年5月3日.
    Month-first (US) dates are not accepted: 03/05/1990 is the 3rd of May."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        raise _invalid_date()
    if isinstance(value, int | float):
        return _serial(value)
    raw = _TIME_SUFFIX.sub("", unicodedata.normalize("NFKC", str(value)).strip())
    try:
        if match := _DMY.match(raw):
            day, month, year = (int(g) for g in match.groups())
        elif match := (_YMD.match(raw) or _CJK.match(raw)):
            year, month, day = (int(g) for g in match.groups())
        elif _SERIAL.match(raw):
            return _serial(float(raw))
        else:
            raise _invalid_date()
        return date(year, month, day)
    except ValueError:
        raise _invalid_date() from None


_GROUPED = re.compile(r"^\d{1,3}([.,\s\u00a0]\d{3})+$")
_DECIMAL = re.compile(r"^(\d+)[.,](\d+)$")


def points(value: Any) -> int:
    """A whole number of points >= 0. "1.000" and "1,000" are a thousand; 12.5 is refused, never
    rounded: points are integers (DESIGN "Money, points, time")."""
    not_whole = CellError(
        "points_not_whole", _("Points must be a whole number; %(value)s is not.") % {"value": value}
    )
    if isinstance(value, bool):
        raise CellError("invalid_points", _("Points must be a whole number."))
    if isinstance(value, float):
        if not value.is_integer():
            raise not_whole
        value = int(value)
    if isinstance(value, int):
        amount = value
    else:
        raw = unicodedata.normalize("NFKC", str(value)).strip().replace("\u00a0", " ")
        negative = raw.startswith("-")
        digits = raw.lstrip("+-").strip()
        if digits.isdecimal():  # what int() reads; isdigit() also passes "𐩀", which int() refuses
            amount = int(digits)
        elif _GROUPED.match(digits):
            amount = int(re.sub(r"\D", "", digits))
        elif match := _DECIMAL.match(digits):
            if int(match.group(2)) != 0:
                raise not_whole
            amount = int(match.group(1))
        else:
            raise CellError("invalid_points", _("Points must be a whole number."))
        amount = -amount if negative else amount
    if amount < 0:
        raise CellError("points_negative", _("Points cannot be negative."))
    if amount > MAX_POINTS:
        # An opening balance is one points operation: held to the API's limit (core.limits).
        raise CellError(
            "points_too_large",
            _("At most %(limit)s points can be imported for a member.")
            % {"limit": format_points(MAX_POINTS)},
        )
    return amount


_GENDERS = {
    **dict.fromkeys(("m", "male", "man", "nam", "trai", "ông", "男", "男性", "先生"), "male"),
    **dict.fromkeys(("f", "female", "woman", "nữ", "nu", "gái", "bà", "女", "女性", "女士"), "female"),
    **dict.fromkeys(("other", "khác", "khac", "其他"), "other"),
}


def gender(value: Any) -> str:
    key = unicodedata.normalize("NFC", str(value).strip().lower())
    if key in _GENDERS:
        return _GENDERS[key]
    raise CellError("invalid_gender", _("Unknown gender: use Nam/Nữ, M/F, male/female or 男/女."))


_YES = {"1", "x", "y", "yes", "true", "có", "co", "đồng ý", "dong y", "是", "有", "✓"}
_NO = {"0", "n", "no", "false", "không", "khong", "否", "无"}


def yes_no(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    key = unicodedata.normalize("NFC", str(value).strip().lower())
    if key in _YES:
        return True
    if key in _NO:
        return False
    raise CellError("invalid_yes_no", _("Write yes or no (có/không, 是/否, 1/0)."))


def email(value: Any) -> str:
    result = text(value, max_length=254)
    try:
        validate_email(result)
    except ValidationError:
        raise CellError("invalid_email", _("This is not a valid email address.")) from None
    return result


_LIST_SEPARATORS = re.compile(r"[,;|，；、]")


def names(value: Any) -> list[str]:
    """A list cell ("VIP, Sinh viên"): its non-empty items."""
    text = unicodedata.normalize("NFC", str(value))
    return [n for n in (" ".join(part.split()) for part in _LIST_SEPARATORS.split(text)) if n]
