"""The Vietnamese and Chinese lunisolar calendars, computed for a time zone (I3 holidays).

Hồ Ngọc Đức's published astronomical algorithm ("Âm lịch Việt Nam", after Jean Meeus): a month starts on
the local day of the new moon, month 11 holds the winter solstice, and in a year of 13 months the first
month without a principal solar term is the leap month. The two calendars are the same rules computed
at different meridians, UTC+7 for Vietnam and UTC+8 for China, which is why they occasionally differ
(Tết 1985 was 21 January in Vietnam, the Spring Festival 20 February in China). Accurate for 1900–2100.

The floats here are astronomy (angles and Julian days), never value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: date.toordinal() + this = the Julian day number of that (Gregorian) date.
_JD_OFFSET = 1721425
_SYNODIC_MONTH = 29.530588853
_K0 = 2415021.076998695  # the new moon of 1900-01-01


@dataclass(frozen=True)
class LunarDate:
    year: int
    month: int
    day: int
    leap: bool = False


def zone_hours(tz: ZoneInfo, on: date) -> float:
    """The zone's UTC offset in hours on that day (Asia/Ho_Chi_Minh: 7, Asia/Shanghai: 8)."""
    offset = datetime.combine(on, time(12), tzinfo=tz).utcoffset() or timedelta(0)
    return offset.total_seconds() / 3600


def _jd(day: date) -> int:
    return day.toordinal() + _JD_OFFSET


def _from_jd(jd: int) -> date:
    return date.fromordinal(jd - _JD_OFFSET)


def _new_moon(k: int) -> float:
    """The Julian day (UT) of the k-th new moon after 1900-01-01."""
    t = k / 1236.85
    t2, t3 = t * t, t * t * t
    dr = math.pi / 180
    jd1 = 2415020.75933 + 29.53058868 * k + 0.0001178 * t2 - 0.000000155 * t3
    jd1 += 0.00033 * math.sin((166.56 + 132.87 * t - 0.009173 * t2) * dr)
    m = 359.2242 + 29.10535608 * k - 0.0000333 * t2 - 0.00000347 * t3
    mpr = 306.0253 + 385.81691806 * k + 0.0107306 * t2 + 0.00001236 * t3
    f = 21.2964 + 390.67050646 * k - 0.0016528 * t2 - 0.00000239 * t3
    c1 = (0.1734 - 0.000393 * t) * math.sin(m * dr) + 0.0021 * math.sin(2 * dr * m)
    c1 = c1 - 0.4068 * math.sin(mpr * dr) + 0.0161 * math.sin(dr * 2 * mpr)
    c1 = c1 - 0.0004 * math.sin(dr * 3 * mpr)
    c1 = c1 + 0.0104 * math.sin(dr * 2 * f) - 0.0051 * math.sin(dr * (m + mpr))
    c1 = c1 - 0.0074 * math.sin(dr * (m - mpr)) + 0.0004 * math.sin(dr * (2 * f + m))
    c1 = c1 - 0.0004 * math.sin(dr * (2 * f - m)) - 0.0006 * math.sin(dr * (2 * f + mpr))
    c1 = c1 + 0.0010 * math.sin(dr * (2 * f - mpr)) + 0.0005 * math.sin(dr * (2 * mpr + m))
    if t < -11:
        deltat = 0.001 + 0.000839 * t + 0.0002261 * t2 - 0.00000845 * t3 - 0.000000081 * t * t3
    else:
        deltat = -0.000278 + 0.000265 * t + 0.000262 * t2
    return jd1 + c1 - deltat


def _sun_longitude(jdn: float) -> float:
    """The sun's apparent longitude in radians, 0 ≤ L < 2π, at Julian day `jdn` (UT)."""
    t = (jdn - 2451545.0) / 36525
    t2 = t * t
    dr = math.pi / 180
    m = 357.52910 + 35999.05030 * t - 0.0001559 * t2 - 0.00000048 * t * t2
    l0 = 280.46645 + 36000.76983 * t + 0.0003032 * t2
    dl = (1.914600 - 0.004817 * t - 0.000014 * t2) * math.sin(dr * m)
    dl += (0.019993 - 0.000101 * t) * math.sin(dr * 2 * m) + 0.000290 * math.sin(dr * 3 * m)
    longitude = (l0 + dl) * dr
    return longitude - math.pi * 2 * math.floor(longitude / (math.pi * 2))


def _sun_sector(day_number: int, zone: float) -> int:
    """Which of the 12 principal-term sectors the sun is in at the local midnight starting the day."""
    return math.floor(_sun_longitude(day_number - 0.5 - zone / 24) / math.pi * 6)


def _new_moon_day(k: int, zone: float) -> int:
    return math.floor(_new_moon(k) + 0.5 + zone / 24)


def _month_11(year: int, zone: float) -> int:
    """The day number on which lunar month 11 (the one holding the winter solstice) of `year` starts."""
    off = _jd(date(year, 12, 31)) - 2415021
    k = math.floor(off / _SYNODIC_MONTH)
    new_moon = _new_moon_day(k, zone)
    if _sun_sector(new_moon, zone) >= 9:
        new_moon = _new_moon_day(k - 1, zone)
    return new_moon


def _leap_month_offset(a11: int, zone: float) -> int:
    k = math.floor((a11 - _K0) / _SYNODIC_MONTH + 0.5)
    i = 1
    arc = _sun_sector(_new_moon_day(k + i, zone), zone)
    while True:
        last = arc
        i += 1
        arc = _sun_sector(_new_moon_day(k + i, zone), zone)
        if arc == last or i >= 14:
            break
    return i - 1


def to_lunar(day: date, zone: float) -> LunarDate:
    """The lunar date of a Gregorian day, in the calendar of UTC+`zone`."""
    day_number = _jd(day)
    k = math.floor((day_number - _K0) / _SYNODIC_MONTH)
    month_start = _new_moon_day(k + 1, zone)
    if month_start > day_number:
        month_start = _new_moon_day(k, zone)
    a11 = _month_11(day.year, zone)
    b11 = a11
    if a11 >= month_start:
        lunar_year = day.year
        a11 = _month_11(day.year - 1, zone)
    else:
        lunar_year = day.year + 1
        b11 = _month_11(day.year + 1, zone)
    lunar_day = day_number - month_start + 1
    diff = math.floor((month_start - a11) / 29)
    leap = False
    lunar_month = diff + 11
    if b11 - a11 > 365:
        leap_diff = _leap_month_offset(a11, zone)
        if diff >= leap_diff:
            lunar_month = diff + 10
            leap = diff == leap_diff
    if lunar_month > 12:
        lunar_month -= 12
    if lunar_month >= 11 and diff < 4:
        lunar_year -= 1
    return LunarDate(year=lunar_year, month=lunar_month, day=lunar_day, leap=leap)


def to_solar(lunar: LunarDate, zone: float) -> date | None:
    """The Gregorian day of a lunar date in the calendar of UTC+`zone`; None if that year has no such
    leap month."""
    if lunar.month < 11:
        a11 = _month_11(lunar.year - 1, zone)
        b11 = _month_11(lunar.year, zone)
    else:
        a11 = _month_11(lunar.year, zone)
        b11 = _month_11(lunar.year + 1, zone)
    k = math.floor(0.5 + (a11 - _K0) / _SYNODIC_MONTH)
    off = lunar.month - 11
    if off < 0:
        off += 12
    if b11 - a11 > 365:
        leap_off = _leap_month_offset(a11, zone)
        leap_month = leap_off - 2
        if leap_month < 0:
            leap_month += 12
        if lunar.leap and lunar.month != leap_month:
            return None
        if lunar.leap or off >= leap_off:
            off += 1
    elif lunar.leap:
        return None
    return _from_jd(_new_moon_day(k + off, zone) + lunar.day - 1)


def new_year(year: int, zone: float) -> date:
    """Tết Nguyên Đán / Spring Festival (lunar 1/1) in Gregorian `year`."""
    first = to_solar(LunarDate(year=year, month=1, day=1), zone)
    assert first is not None  # month 1 always exists
    return first


def is_lunar_day(day: date, *, month: int, lunar_day: int, leap: bool, zone: float) -> bool:
    """Is `day` the lunar (month, day)? A date on the 30th falls on the 29th in a month of 29 days (the
    last day of the year is "30 Tết" even when the twelfth month is short)."""
    today = to_lunar(day, zone)
    if (today.month, today.leap) != (month, leap):
        return False
    if today.day == lunar_day:
        return True
    return lunar_day == 30 and today.day == 29 and to_lunar(day + timedelta(days=1), zone).day == 1
