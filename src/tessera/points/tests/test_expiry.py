"""Issue 15 §1: the expiry policies, on the merchant's calendar, through the API and the nightly jobs.

One table of calendar boundaries (month ends, year ends, 29 February, 23:30 local on a month's last
day, the instant after local midnight that is still yesterday in UTC) in Asia/Ho_Chi_Minh (UTC+7) and
Asia/Shanghai (UTC+8), for each kind of expiry. Each case is checked three ways: `lot_dates` alone;
points added through `POST /points/add` and a sale confirmed through `POST /transactions/…/confirm`,
asserting the lot's `expires_at`; then `tessera run_nightly --as-of` a minute before that instant (the
portal lists the points as expiring) and a minute after (they are gone, and the liability report stops
counting them that day), and verify-ledger.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from tessera.ledger.models import Account, AccountKind, EntryKind, ExpiryNotice, Lot
from tessera.ledger.selectors import verify_ledger
from tessera.members.models import Member
from tessera.members.services import register_member
from tessera.points.models import ExpiryKind
from tessera.points.policy import PointsPolicy, lot_dates
from tessera.points.services import save_policy
from tessera.portal.selectors import points_of
from tessera.reports.selectors import Filters, ReportScope, liability_report
from tessera.sales.models import SalesSettings
from tessera.tenancy.models import Merchant
from tessera.tenancy.services import create_api_key, create_merchant, create_store

HCM = ZoneInfo("Asia/Ho_Chi_Minh")  # UTC+7
SHANGHAI = ZoneInfo("Asia/Shanghai")  # UTC+8


@dataclass(frozen=True)
class Case:
    zone: ZoneInfo
    policy: dict[str, Any]
    earned: datetime  # local
    expires: datetime | None  # local


def at(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone)  # type: ignore[misc]


def months(n: int, month_end: bool = False) -> dict[str, Any]:
    return {"expiry": ExpiryKind.MONTHS, "expiry_period": n, "round_to_month_end": month_end}


def reset_on(month: int, day: int) -> dict[str, Any]:
    return {"expiry": ExpiryKind.YEARLY_RESET, "reset_month": month, "reset_day": day}


def days(n: int) -> dict[str, Any]:
    return {"expiry": ExpiryKind.DAYS, "expiry_period": n}


def years(n: int) -> dict[str, Any]:
    return {"expiry": ExpiryKind.CALENDAR_YEARS, "expiry_period": n}


NEVER = {"expiry": ExpiryKind.NEVER}


def case(name: str, zone: ZoneInfo, policy: dict[str, Any], earned: tuple[int, ...], expires: Any) -> Any:
    """Earned and expiry as local date-and-time tuples; `expires` None: never."""
    return pytest.param(Case(zone, policy, at(zone, *earned), expires and at(zone, *expires)), id=name)


MONTH_END = months(1, month_end=True)

CASES = [
    # N months, the same local time; a day the month lacks is its last day.
    case("HCM 1 month from 31 Jan", HCM, months(1), (2027, 1, 31, 23, 30), (2027, 2, 28, 23, 30)),
    case("HCM 12 months from 29 Feb", HCM, months(12), (2028, 2, 29, 23, 30), (2029, 2, 28, 23, 30)),
    # Rounded up to the month's end: early and late in January end together, on 1 March 00:00.
    case("HCM month end, late", HCM, MONTH_END, (2027, 1, 31, 23, 30), (2027, 3, 1)),
    case("HCM month end, early (17:05 UTC 31 Dec)", HCM, MONTH_END, (2027, 1, 1, 0, 5), (2027, 3, 1)),
    case("HCM month of earning", HCM, months(0, month_end=True), (2027, 1, 31, 23, 30), (2027, 2, 1)),
    case("SH to leap Feb", SHANGHAI, months(3, True), (2027, 11, 30, 23, 30), (2028, 3, 1)),
    case("SH month end from 30 Apr", SHANGHAI, MONTH_END, (2027, 4, 30, 23, 30), (2027, 6, 1)),
    # N days, the same local time.
    case("HCM 30 days over Feb", HCM, days(30), (2027, 1, 31, 23, 30), (2027, 3, 2, 23, 30)),
    case("HCM 1 day onto 29 Feb", HCM, days(1), (2028, 2, 28, 23, 30), (2028, 2, 29, 23, 30)),
    case("SH 1 day over the year end", SHANGHAI, days(1), (2026, 12, 31, 23, 30), (2027, 1, 1, 23, 30)),
    # The end of the Nth calendar year after the (local) year of earning.
    case("HCM 1 calendar year from 31 Dec", HCM, years(1), (2026, 12, 31, 23, 30), (2028, 1, 1)),
    case("HCM year of earning (2026 in UTC)", HCM, years(0), (2027, 1, 1, 0, 5), (2028, 1, 1)),
    case("SH 2 calendar years", SHANGHAI, years(2), (2027, 12, 31, 23, 30), (2030, 1, 1)),
    # A yearly reset: every point goes when the reset day begins; earned on that day, the next year's.
    case("HCM reset 1 Jan, the eve", HCM, reset_on(1, 1), (2026, 12, 31, 23, 30), (2027, 1, 1)),
    case("HCM reset 1 Jan, on the day", HCM, reset_on(1, 1), (2027, 1, 1, 0, 5), (2028, 1, 1)),
    case("HCM reset 29 Feb is 28 Feb 2027", HCM, reset_on(2, 29), (2027, 2, 27, 23, 30), (2027, 2, 28)),
    case("HCM reset 29 Feb, on 28 Feb 2027", HCM, reset_on(2, 29), (2027, 2, 28, 10), (2028, 2, 29)),
    case("HCM reset 29 Feb, leap year", HCM, reset_on(2, 29), (2028, 2, 28, 23, 30), (2028, 2, 29)),
    case("SH reset 29 Feb, after it", SHANGHAI, reset_on(2, 29), (2028, 3, 1, 0, 30), (2029, 2, 28)),
    case("SH reset 30 Jun, on the day", SHANGHAI, reset_on(6, 30), (2027, 6, 30, 23, 30), (2028, 6, 30)),
    case("SH reset 31 Dec", SHANGHAI, reset_on(12, 31), (2027, 12, 30, 23, 30), (2027, 12, 31)),
    case("HCM never", HCM, NEVER, (2027, 1, 31, 23, 30), None),
]


@dataclass
class Clock:
    """`timezone.now()` for the services, the API and the jobs, set by the test."""

    now: datetime = field(default_factory=lambda: datetime(2027, 1, 1, tzinfo=HCM))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("django.utils.timezone.now", lambda: clock.now)
    return clock


@dataclass
class Till:
    merchant: Merchant
    client: Client
    phone: str

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = self.client.post(
            f"/api/v1{path}",
            body,
            content_type="application/json",
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert response.status_code in (200, 201), response.content
        return response.json()

    @property
    def account(self) -> Account:
        return Account.objects.of(self.merchant).get(member__phone=self.phone, kind=AccountKind.POINTS)


def a_till(zone: ZoneInfo, **policy: Any) -> Till:
    currency = "CNY" if zone is SHANGHAI else "VND"
    merchant = create_merchant(
        name="Expiry", slug=f"expiry-{uuid.uuid4().hex[:8]}", currency=currency, time_zone=str(zone)
    )
    store = create_store(merchant=merchant, code="main", name="Main")
    SalesSettings.objects.update_or_create(
        merchant=merchant,
        defaults={"confirm_with_pin": False, "confirm_with_otp": False, "confirm_with_staff": False},
    )
    save_policy(merchant=merchant, pending_days=0, **policy)
    phone = "+84901234567" if zone is HCM else "+8613800138000"
    register_member(merchant=merchant, full_name="Expiry", phone=phone)
    key = create_api_key(merchant=merchant, name="till", store=store).raw_key
    return Till(merchant, Client(HTTP_AUTHORIZATION=f"Bearer {key}"), phone)


def earn_by_hand(till: Till) -> None:
    till.post("/points/add", {"phone": till.phone, "points": 100})


def earn_by_sale(till: Till) -> None:
    line = {"sku": "X", "name": "X", "quantity": 1, "unit_price": 1000000}  # 100 points either currency
    sale = till.post("/transactions", {"phone": till.phone, "lines": [line]})
    till.post(f"/transactions/{sale['id']}/confirm", {"method": "none"})


def nightly(clock: Clock, as_of: datetime) -> str:
    clock.now = as_of
    out = StringIO()
    call_command("run_nightly", "--as-of", as_of.isoformat(), stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("case", CASES)
def test_issue_15_each_expiry_kind_dates_a_lot_on_the_local_calendar(case):
    policy = PointsPolicy(
        earn_points=Decimal(1), earn_per_amount=10000, point_value=Decimal(100), pending_days=0, **case.policy
    )
    dates = lot_dates(policy, earned_at=case.earned.astimezone(UTC), tz=case.zone)

    assert dates.expires_at == case.expires
    assert dates.available_at == case.earned


@pytest.mark.django_db
@pytest.mark.parametrize("earn", [earn_by_hand, earn_by_sale], ids=["points/add", "sale confirm"])
@pytest.mark.parametrize("case", CASES)
def test_issue_15_points_earned_through_the_api_expire_as_the_policy_says_and_the_nightly_job_follows(
    case, earn, clock
):
    till = a_till(case.zone, **case.policy)
    clock.now = case.earned
    earn(till)

    lot = Lot.objects.get(account=till.account)
    assert lot.expires_at == case.expires
    amount = lot.amount

    if case.expires is None:
        assert "expired 0 points" in nightly(clock, case.earned + timedelta(days=3700))
        assert till.account.balance == amount
    else:
        just_before = case.expires - timedelta(minutes=1)
        assert "expired 0 points" in nightly(clock, just_before)
        assert till.account.balance == amount
        member = Member.objects.of(till.merchant).get(phone=till.phone)
        expiring = points_of(member, now=just_before).expiring_soon  # the portal's "Expiring"
        assert [(e.expires_at, e.amount) for e in expiring] == [(case.expires, amount)]

        assert f"expired {amount} points" in nightly(clock, case.expires + timedelta(minutes=1))
        account = till.account
        assert (account.balance, account.entries.filter(kind=EntryKind.EXPIRE).count()) == (0, 1)
        assert "expired 0 points" in nightly(clock, case.expires + timedelta(days=1))  # a re-run: nothing
        day = case.expires.date()  # the local day they expired: the liability report stops counting them
        assert (outstanding(till, day - timedelta(days=1)), outstanding(till, day)) == (amount, 0)
    assert verify_ledger(till.merchant) == []


def outstanding(till: Till, day: date) -> int:
    """The liability report's points outstanding at the end of `day` (its total row)."""
    report = liability_report(ReportScope(till.merchant), Filters(day - timedelta(days=31), day))
    return int(report.tables[0].rows[-1][3])


@pytest.mark.django_db
def test_issue_15_a_policy_change_applies_to_points_earned_afterwards(clock):
    till = a_till(HCM, **months(12))
    clock.now = at(HCM, 2027, 1, 31, 23, 30)
    earn_by_hand(till)
    save_policy(merchant=till.merchant, **reset_on(1, 1))
    earn_by_hand(till)

    assert sorted(Lot.objects.filter(account=till.account).values_list("expires_at", flat=True)) == [
        at(HCM, 2028, 1, 1),
        at(HCM, 2028, 1, 31, 23, 30),
    ]


@pytest.mark.django_db
def test_issue_15_expiry_notices_come_the_policys_notice_days_before_a_yearly_reset(clock):
    till = a_till(HCM, notice_days=30, **reset_on(1, 1))
    other = a_till(HCM, notice_days=7, **reset_on(1, 1))
    clock.now = at(HCM, 2027, 6, 15, 12)
    earn_by_hand(till)
    earn_by_hand(other)
    reset = at(HCM, 2028, 1, 1)

    nightly(clock, reset - timedelta(days=31))
    assert not ExpiryNotice.objects.exists()
    assert "1 expiry notices" in nightly(clock, reset - timedelta(days=29))
    notice = ExpiryNotice.objects.get()
    assert (notice.account_id, notice.amount, notice.expires_at) == (till.account.pk, 100, reset)
    nightly(clock, reset - timedelta(days=6))  # now within the other merchant's 7 days
    assert ExpiryNotice.objects.filter(account=other.account).count() == 1
    assert ExpiryNotice.objects.count() == 2


@pytest.mark.django_db
def test_issue_15_the_portal_lists_points_expiring_within_the_notice_days(clock):
    till = a_till(SHANGHAI, notice_days=10, **months(1, month_end=True))
    clock.now = at(SHANGHAI, 2027, 1, 31, 23, 30)
    earn_by_hand(till)
    member = Member.objects.of(till.merchant).get(phone=till.phone)
    ends = at(SHANGHAI, 2027, 3, 1)

    assert points_of(member, now=ends - timedelta(days=11)).expiring_soon == []
    soon = points_of(member, now=ends - timedelta(days=9)).expiring_soon
    assert [(e.expires_at, e.amount) for e in soon] == [(ends, 100)]


def test_issue_15_run_nightly_wants_an_offset():
    with pytest.raises(CommandError, match="offset"):
        call_command("run_nightly", "--as-of", "2027-01-01T00:05")
