"""I3: the lunar calendar in the merchant's time zone (Vietnam UTC+7, China UTC+8) and holidays."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from tessera.marketing import lunar

VIETNAM, CHINA = 7.0, 8.0


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        (2024, date(2024, 2, 10)),
        (2025, date(2025, 1, 29)),
        (2026, date(2026, 2, 17)),
        (2027, date(2027, 2, 6)),
    ],
)
def test_i3_tet_and_the_spring_festival(year, expected):
    assert lunar.new_year(year, VIETNAM) == expected
    assert lunar.new_year(year, CHINA) == expected
    assert lunar.to_lunar(expected, VIETNAM) == lunar.LunarDate(year, 1, 1)


def test_i3_tet_1985_is_a_month_apart_in_vietnam_and_china():
    assert lunar.new_year(1985, VIETNAM) == date(1985, 1, 21)
    assert lunar.new_year(1985, CHINA) == date(1985, 2, 20)


def test_i3_mid_autumn_2025_is_6_october():
    assert lunar.to_solar(lunar.LunarDate(2025, 8, 15), VIETNAM) == date(2025, 10, 6)
    assert lunar.to_lunar(date(2025, 10, 6), CHINA) == lunar.LunarDate(2025, 8, 15)


def test_i3_leap_months_are_known_and_only_in_their_years():
    # 2025 has a leap sixth month (from 25 July); 2023 a leap second month (from 22 March).
    assert lunar.to_lunar(date(2025, 7, 25), VIETNAM) == lunar.LunarDate(2025, 6, 1, leap=True)
    assert lunar.to_lunar(date(2025, 8, 23), VIETNAM) == lunar.LunarDate(2025, 7, 1)
    assert lunar.to_solar(lunar.LunarDate(2023, 2, 1, leap=True), VIETNAM) == date(2023, 3, 22)
    assert lunar.to_solar(lunar.LunarDate(2024, 6, 1, leap=True), VIETNAM) is None


def test_i3_the_zone_comes_from_the_merchants_time_zone():
    assert lunar.zone_hours(ZoneInfo("Asia/Ho_Chi_Minh"), date(2025, 1, 1)) == 7
    assert lunar.zone_hours(ZoneInfo("Asia/Shanghai"), date(2025, 1, 1)) == 8


def test_i3_new_years_eve_on_the_30th_falls_on_the_29th_in_a_short_twelfth_month():
    # Lunar year 2024 (Giáp Thìn) ends with a 29-day twelfth month: its last day is 28 January 2025.
    eve = date(2025, 1, 28)
    assert lunar.to_lunar(eve, VIETNAM) == lunar.LunarDate(2024, 12, 29)
    assert lunar.is_lunar_day(eve, month=12, lunar_day=30, leap=False, zone=VIETNAM)
    assert not lunar.is_lunar_day(date(2025, 1, 27), month=12, lunar_day=30, leap=False, zone=VIETNAM)


def test_i3_every_day_of_a_century_converts_to_lunar_and_back():
    day = date(2000, 1, 1)
    while day < date(2031, 1, 1):
        for zone in (VIETNAM, CHINA):
            assert lunar.to_solar(lunar.to_lunar(day, zone), zone) == day
        day = date.fromordinal(day.toordinal() + 7)
