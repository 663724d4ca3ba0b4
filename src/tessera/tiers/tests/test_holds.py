"""Tier qualification and holds (issue 15 §2): the hold after reaching a tier, independent of the
ranking window; downgrades to the earned tier or one tier at a time; reviews monthly, yearly on a date
or continuously; the "will drop on …" notice; spend of sales that earned no points. Run at chosen
instants across month ends, year ends and 29 February, in Asia/Ho_Chi_Minh and Asia/Shanghai, with
the ledger verified after each."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone
from tests.factories import MemberFactory, MerchantFactory, StoreFactory

from tessera.ledger.selectors import verify_ledger
from tessera.members.models import Member
from tessera.sales import services as sales
from tessera.sales.services import SaleLine
from tessera.sales.tests.conftest import Pos
from tessera.tenancy.models import Merchant
from tessera.tenancy.services import create_api_key
from tessera.tiers import services
from tessera.tiers.models import (
    ChangeReason,
    DowngradeNotice,
    MemberTier,
    RankingSpend,
    Review,
    Tier,
    TierChange,
    TierProgram,
    Window,
)
from tessera.tiers.selectors import tier_status
from tessera.tiers.tasks import run_tier_jobs
from tessera.tiers.tests.factories import DIAMOND, GOLD, program, spend

pytestmark = pytest.mark.django_db

HCM, SHANGHAI = "Asia/Ho_Chi_Minh", "Asia/Shanghai"


def local(zone: str, text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def shop(zone: str) -> Merchant:
    return MerchantFactory(
        name=f"Shop {zone}", slug=zone.lower().replace("/", "-").replace("_", "-"), time_zone=zone
    )


def tier_code(member: Member) -> str | None:
    state = MemberTier.objects.filter(member=member).select_related("tier").first()
    return state.tier.code if state and state.tier else None


def reach(member: Member, amount: int, when: datetime) -> None:
    """A purchase of `amount` at `when`, and the upgrade it brings at once."""
    spend(member, amount, when)
    services.evaluate_upgrade(member=member, now=when)


def assert_ledger_sound(merchant: Merchant) -> None:
    assert verify_ledger(merchant) == []


# --- the hold, independent of the ranking window -------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "fields", "reached", "runs"),
    [
        # A one-month window empties fast; the 12-month hold keeps Gold. Reached on 29 February: held
        # until 28 February 2025 at the same local time, so the review of 1 March 2025 lowers it.
        (
            HCM,
            {"window_months": 1, "hold_months": 12, "review": Review.MONTHLY},
            "2024-02-29 10:00",
            [("2024-04-01 00:20", "gold"), ("2025-02-01 00:20", "gold"), ("2025-03-01 00:20", None)],
        ),
        # Reached at 23:30 on 31 January in Shanghai (15:30 UTC): a one-month hold ends on 29 February
        # at 23:30 local; the 1 February review leaves Gold, the 1 March one lowers it.
        (
            SHANGHAI,
            {"window_months": 1, "hold_months": 1, "review": Review.MONTHLY},
            "2024-01-31 23:30",
            [("2024-02-01 00:20", "gold"), ("2024-03-01 00:20", None)],
        ),
        # Reached at 00:30 on 1 March 2023 in Hồ Chí Minh City (28 February 17:30 UTC): 12 months on
        # the local calendar end on 1 March 2024 at 00:30, not on 29 February (which UTC months give).
        (
            HCM,
            {"window_months": 1, "hold_months": 12, "review": Review.DAILY},
            "2023-03-01 00:30",
            [("2024-02-29 00:20", "gold"), ("2024-03-01 00:20", "gold"), ("2024-03-02 00:20", None)],
        ),
        # No hold: the same member loses Gold at the first review after the window empties.
        (
            HCM,
            {"window_months": 1, "hold_months": 0, "review": Review.MONTHLY},
            "2024-02-29 10:00",
            [("2024-03-01 00:20", "gold"), ("2024-04-01 00:20", None)],
        ),
        # Continuous review: a two-month hold from 31 December 22:00 ends on 28 February 22:00; the
        # hourly run at 21:20 keeps Gold, the one at 22:20 lowers it. Across the year end in Shanghai.
        (
            SHANGHAI,
            {"window_months": 1, "hold_months": 2, "review": Review.CONTINUOUS},
            "2024-12-31 22:00",
            [("2025-01-15 12:20", "gold"), ("2025-02-28 21:20", "gold"), ("2025-02-28 22:20", None)],
        ),
    ],
)
def test_hold_keeps_the_tier_reached_whatever_the_window(zone, fields, reached, runs):
    merchant = shop(zone)
    program(merchant, **fields)
    member = MemberFactory(merchant=merchant)

    reach(member, GOLD, local(zone, reached))

    state = MemberTier.objects.get(member=member)
    assert state.tier.code == "gold"
    months = fields["hold_months"]
    assert (state.held_until is None) == (months == 0)
    for moment, expected in runs:
        run_tier_jobs(local(zone, moment))
        assert (moment, tier_code(member)) == (moment, expected)
    assert_ledger_sound(merchant)


def test_hold_ends_on_the_local_calendar_from_29_february():
    merchant = shop(HCM)
    program(merchant, hold_months=12)
    member = MemberFactory(merchant=merchant)

    reach(member, GOLD, local(HCM, "2024-02-29 10:00"))

    held_until = MemberTier.objects.get(member=member).held_until
    assert held_until == local(HCM, "2025-02-28 10:00")
    status = tier_status(member, now=local(HCM, "2024-06-01 12:00"))
    assert (status.hold_months, status.held_until) == (12, local(HCM, "2025-02-28 10:00"))
    # The first review that may lower Gold is the first after the hold: 1 March 2025.
    assert status.drop_review_at == local(HCM, "2025-03-01 00:00")


def test_a_higher_tier_restarts_the_hold_and_the_window_keeps_counting():
    """The hold does not restart the ranking: spend before the upgrade still counts."""
    merchant = shop(SHANGHAI)
    program(merchant, hold_months=6)
    member = MemberFactory(merchant=merchant)

    reach(member, GOLD, local(SHANGHAI, "2024-01-10 12:00"))
    reach(member, DIAMOND - GOLD, local(SHANGHAI, "2024-03-31 23:59"))

    state = MemberTier.objects.get(member=member)
    assert (state.tier.code, state.held_until) == ("diamond", local(SHANGHAI, "2024-09-30 23:59"))
    assert tier_status(member, now=local(SHANGHAI, "2024-04-01 00:00")).ranking == DIAMOND


# --- downgrade policy ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("downgrade", "expected"),
    [
        # Diamond with nothing spent in the window: straight to no tier, or a tier a month.
        ("earned", [None, None, None]),
        ("one_tier", ["gold", "silver", None]),
    ],
)
def test_downgrade_to_the_earned_tier_or_one_tier_at_a_time_across_the_year_end(downgrade, expected):
    merchant = shop(SHANGHAI)
    program(merchant, window_months=1, review=Review.MONTHLY, downgrade=downgrade)
    member = MemberFactory(merchant=merchant)
    reach(member, DIAMOND, local(SHANGHAI, "2024-10-15 12:00"))

    seen = []
    for moment in ("2024-12-01 00:20", "2025-01-01 00:20", "2025-02-01 00:20"):
        run_tier_jobs(local(SHANGHAI, moment))
        seen.append(tier_code(member))

    assert seen == expected
    changes = TierChange.objects.filter(member=member, reason=ChangeReason.DOWNGRADE).order_by("at")
    assert [c.at for c in changes] == [
        local(SHANGHAI, m) for m in ("2024-12-01 00:20", "2025-01-01 00:20", "2025-02-01 00:20")
    ][: len(changes)]
    assert_ledger_sound(merchant)


def test_one_tier_at_a_time_stops_at_the_tier_the_ranking_supports():
    merchant = shop(HCM)
    program(merchant, window_months=12, downgrade="one_tier")
    member = MemberFactory(merchant=merchant)
    reach(member, DIAMOND, local(HCM, "2023-12-15 12:00"))
    spend(member, 1_200_000, local(HCM, "2024-11-30 23:59"))  # Silver's worth in the window

    run_tier_jobs(local(HCM, "2025-01-01 00:20"))
    assert tier_code(member) == "gold"
    run_tier_jobs(local(HCM, "2025-02-01 00:20"))
    assert tier_code(member) == "silver"
    run_tier_jobs(local(HCM, "2025-03-01 00:20"))
    assert tier_code(member) == "silver"


# --- review schedules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "month", "day", "runs"),
    [
        # Yearly on 29 February: in 2025 the review falls on the 28th, local midnight.
        (
            HCM,
            2,
            29,
            [("2024-03-10 12:00", "gold"), ("2025-02-27 23:20", "gold"), ("2025-02-28 00:20", None)],
        ),
        # Yearly on 1 July in Shanghai: 30 June 23:59 local is still last year's period.
        (
            SHANGHAI,
            7,
            1,
            [
                ("2024-03-10 12:00", "gold"),
                ("2024-07-01 00:20", "gold"),
                ("2025-06-30 23:59", "gold"),
                ("2025-07-01 00:01", None),
            ],
        ),
    ],
)
def test_yearly_review_on_the_programs_date(zone, month, day, runs):
    merchant = shop(zone)
    program(merchant, review=Review.YEARLY, review_month=month, review_day=day)
    member = MemberFactory(merchant=merchant)
    reach(member, GOLD, local(zone, "2024-01-15 12:00"))

    for moment, expected in runs:
        run_tier_jobs(local(zone, moment))
        assert (moment, tier_code(member)) == (moment, expected)


def test_review_date_must_exist(merchant):
    with pytest.raises(services.ValidationFailed) as refused:
        services.save_program(
            program=TierProgram(merchant=merchant, review=Review.YEARLY, review_month=2, review_day=30)
        )
    assert refused.value.code == "invalid_review_date"


def test_review_tiers_command_runs_as_of_an_instant_and_refuses_a_naive_one(capsys):
    merchant = shop(HCM)
    program(merchant, window_months=1)
    member = MemberFactory(merchant=merchant)
    reach(member, GOLD, local(HCM, "2024-01-31 12:00"))

    call_command("review_tiers", "--as-of", "2024-02-01T00:20+07:00")
    assert tier_code(member) == "gold"
    call_command("review_tiers", "--as-of", "2024-03-01T00:20+07:00")
    assert tier_code(member) is None
    assert "downgraded 1" in capsys.readouterr().out
    with pytest.raises(Exception, match="UTC offset"):
        call_command("review_tiers", "--as-of", "2024-03-01T00:20")


def test_user_guide_worked_example():
    """docs/user-guide.md, *Tier holds and downgrades*: the table, row by row."""
    merchant = shop(HCM)
    program(merchant, window_months=12, hold_months=12, downgrade_notice_days=7)
    member = MemberFactory(merchant=merchant)

    reach(member, GOLD, local(HCM, "2024-02-29 10:00"))
    assert MemberTier.objects.get(member=member).held_until == local(HCM, "2025-02-28 10:00")
    for moment in ("2024-03-01 00:20", "2024-12-01 00:20", "2025-02-01 00:20"):
        run_tier_jobs(local(HCM, moment))
        assert tier_code(member) == "gold"
    assert run_tier_jobs(local(HCM, "2025-02-21 00:20"))[merchant.pk].notices == 0
    assert run_tier_jobs(local(HCM, "2025-02-22 00:20"))[merchant.pk].notices == 1
    assert DowngradeNotice.objects.get(member=member).review_at == local(HCM, "2025-03-01 00:00")
    run_tier_jobs(local(HCM, "2025-03-01 00:20"))
    assert tier_code(member) is None
    assert_ledger_sound(merchant)


# --- the "will drop on …" notice -----------------------------------------------------------------------


def test_downgrade_notice_is_recorded_the_configured_days_before_the_review_once():
    merchant = shop(HCM)
    program(merchant, window_months=1, downgrade_notice_days=7)
    dropping = MemberFactory(merchant=merchant)
    keeping = MemberFactory(merchant=merchant)
    reach(dropping, GOLD, local(HCM, "2024-01-25 12:00"))
    reach(keeping, GOLD, local(HCM, "2024-02-10 12:00"))

    assert run_tier_jobs(local(HCM, "2024-02-21 00:20"))[merchant.pk].notices == 0  # 1 March is 9 days off
    assert run_tier_jobs(local(HCM, "2024-02-23 00:20"))[merchant.pk].notices == 1
    assert run_tier_jobs(local(HCM, "2024-02-24 00:20"))[merchant.pk].notices == 0  # recorded once

    notice = DowngradeNotice.objects.get()
    assert (notice.member_id, notice.tier.code, notice.to_tier, notice.review_at) == (
        dropping.pk,
        "gold",
        None,
        local(HCM, "2024-03-01 00:00"),
    )
    status = tier_status(dropping, now=local(HCM, "2024-02-24 00:20"))
    assert (status.will_drop, status.drops_to, status.drop_review_at) == (True, None, notice.review_at)
    run_tier_jobs(local(HCM, "2024-03-01 00:20"))
    assert (tier_code(dropping), tier_code(keeping)) == (None, "gold")


def test_downgrade_notice_before_a_hold_ends_under_continuous_review():
    merchant = shop(SHANGHAI)
    program(
        merchant,
        window_months=1,
        hold_months=2,
        review=Review.CONTINUOUS,
        downgrade="one_tier",
        downgrade_notice_days=3,
    )
    member = MemberFactory(merchant=merchant)
    reach(member, DIAMOND, local(SHANGHAI, "2024-01-29 09:00"))  # held until 29 March 09:00

    assert run_tier_jobs(local(SHANGHAI, "2024-02-29 09:20"))[merchant.pk].notices == 0
    assert run_tier_jobs(local(SHANGHAI, "2024-03-25 09:20"))[merchant.pk].notices == 0
    assert run_tier_jobs(local(SHANGHAI, "2024-03-26 09:20"))[merchant.pk].notices == 1
    assert run_tier_jobs(local(SHANGHAI, "2024-03-27 09:20"))[merchant.pk].notices == 0

    notice = DowngradeNotice.objects.get()
    assert (notice.to_tier.code, notice.review_at) == ("gold", local(SHANGHAI, "2024-03-29 09:00"))
    run_tier_jobs(local(SHANGHAI, "2024-03-29 08:20"))
    assert tier_code(member) == "diamond"
    run_tier_jobs(local(SHANGHAI, "2024-03-29 09:20"))
    assert tier_code(member) == "gold"


def test_downgrade_notice_is_messaged_with_its_date_and_tier():
    from tessera.marketing.models import Message, NoticeKind, NoticeRule, Trigger
    from tessera.marketing.notices import send_downgrade_notices
    from tessera.marketing.tests.factories import TemplateFactory

    merchant = shop(HCM)
    program(merchant, window_months=1, downgrade="one_tier", downgrade_notice_days=7)
    member = MemberFactory(merchant=merchant, phone="+84903000111")
    reach(member, GOLD, local(HCM, "2024-11-28 12:00"))  # in the window on 25 December, not on 1 January
    template = TemplateFactory(
        merchant=merchant, body_vi="Hạng {{ tier }} sẽ xuống {{ downgrade_tier }} ngày {{ downgrade_date }}."
    )
    NoticeRule.objects.create(merchant=merchant, kind=NoticeKind.TIER_DROPPING, template=template)
    run_tier_jobs(local(HCM, "2024-12-25 00:20"))

    assert send_downgrade_notices(now=local(HCM, "2024-12-25 00:30")) == 1
    assert send_downgrade_notices(now=local(HCM, "2024-12-25 01:30")) == 0
    message = Message.objects.get(trigger=Trigger.TIER_DROPPING)
    assert message.body == "Hạng Gold sẽ xuống Silver ngày 01-01-2025."


# --- spend of sales that earned no points --------------------------------------------------------------


def small_program(merchant: Merchant) -> None:
    """Silver at 15,000 đồng: two sales of 9,000 (each below the 10,000 that earns a point) reach it."""
    services.save_program(
        program=TierProgram(merchant=merchant, window=Window.ROLLING_MONTHS, window_months=12)
    )
    services.save_tier(tier=Tier(merchant=merchant, code="silver", name="Silver", rank=1, threshold=15_000))


@pytest.fixture
def till(merchant):
    store = StoreFactory(merchant=merchant, code="q1", name="Quận 1")
    return Pos(create_api_key(merchant=merchant, name="POS", store=store).raw_key)


def sell(till: Pos, member: Member, unit_price: int, quantity: int = 1) -> dict:
    created = till.post(
        "/transactions",
        {
            "member_id": member.pk,
            "lines": [{"name": "Trà đá", "quantity": quantity, "unit_price": unit_price}],
        },
    )
    assert created.status_code == 201, created.content
    confirmed = till.post(f"/transactions/{created.json()['id']}/confirm", {"method": "none"})
    assert confirmed.status_code == 200, confirmed.content
    return confirmed.json()


@pytest.fixture
def unconfirmed(merchant):
    from tessera.sales.models import SalesSettings

    SalesSettings.objects.update_or_create(
        merchant=merchant,
        defaults={"confirm_with_pin": False, "confirm_with_otp": False, "confirm_with_staff": False},
    )


def test_spend_of_sales_that_earned_no_points_counts_toward_the_ranking(merchant, till, unconfirmed):
    small_program(merchant)
    member = MemberFactory(merchant=merchant)

    first = sell(till, member, 9_000)
    assert first["points_earned"] == 0
    assert till.get(f"/tiers/members/{member.pk}").json()["ranking"] == 9_000
    sell(till, member, 9_000)

    body = till.get(f"/tiers/members/{member.pk}").json()
    assert (body["ranking"], body["tier"]["code"]) == (18_000, "silver")
    assert list(RankingSpend.objects.filter(member=member).values_list("amount", flat=True)) == [9_000, 9_000]
    assert_ledger_sound(merchant)


def test_void_and_returns_of_a_sale_without_points_take_its_spend_back(merchant, till, unconfirmed):
    small_program(merchant)
    member = MemberFactory(merchant=merchant)
    voided = sell(till, member, 9_000)
    returned = sell(till, member, 3_000, quantity=3)  # 9,000 in three lines' worth of one line

    assert till.post(f"/transactions/{voided['id']}/void", {"reason": "wrong member"}).status_code == 200
    line = returned["lines"][0]["id"]
    assert (
        till.post(
            f"/transactions/{returned['id']}/refunds", {"lines": [{"line_id": line, "quantity": 1}]}
        ).status_code
        == 201
    )
    assert till.get(f"/tiers/members/{member.pk}").json()["ranking"] == 6_000
    assert till.post(f"/transactions/{returned['id']}/refunds", {}).status_code == 201
    assert till.get(f"/tiers/members/{member.pk}").json()["ranking"] == 0
    causes = list(RankingSpend.objects.filter(member=member).order_by("pk").values_list("cause", "amount"))
    refunds = [cause for cause, _amount in causes if cause.startswith("refund:")]
    assert causes == [
        (f"sale:{voided['id']}", 9_000),
        (f"sale:{returned['id']}", 9_000),
        (f"void:{voided['id']}", -9_000),
        (refunds[0], -3_000),
        (refunds[1], -6_000),
    ]
    assert_ledger_sound(merchant)


def test_no_tier_program_no_ranking_spend_rows(merchant, till, unconfirmed):
    member = MemberFactory(merchant=merchant)
    sell(till, member, 9_000)
    assert not RankingSpend.objects.exists()


def test_a_return_keeps_the_window_of_the_sale(merchant, unconfirmed):
    """A sale without points made in one window and returned in the next lowers only the first."""
    small_program(merchant)
    store = StoreFactory(merchant=merchant)
    member = MemberFactory(merchant=merchant)
    made = local(HCM, "2024-12-31 23:50")
    sale = sales.create_transaction(
        merchant=merchant, store=store, member=member, lines=[SaleLine("Trà", 1, 9_000)], occurred_at=made
    )
    sales.confirm_transaction(transaction=sale, method="none", now=made)
    sales.refund_transaction(transaction=sale, now=local(HCM, "2025-01-02 10:00"))

    row = RankingSpend.objects.get(amount__lt=0)
    assert row.occurred_at == made


def test_points_added_by_hand_for_an_amount_spent_upgrade_at_once(merchant):
    program(merchant, hold_months=12)
    store = StoreFactory(merchant=merchant)
    member = MemberFactory(merchant=merchant)

    sales.add_points(member=member, store=store, actor=None, amount_spent=GOLD, note="paper receipt")

    state = MemberTier.objects.get(member=member)
    assert state.tier.code == "gold"
    assert state.held_until is not None and state.held_until > timezone.now()


# --- the "why": API, back office and portal ------------------------------------------------------------


def test_why_shows_the_ranking_window_hold_and_the_review_that_would_lower_the_tier(client, monkeypatch):
    """At 22 February 2025 (local), Gold reached on 29 February 2024 is held until 28 February 10:00;
    the 1 March review's window no longer holds the sale, so the tier would drop then."""
    from tests.factories import staff_user

    from tessera.portal.tests.test_portal import sign_in, url

    merchant = shop(HCM)
    program(merchant, window_months=12, hold_months=12)
    member = MemberFactory(merchant=merchant)
    reach(member, GOLD, local(HCM, "2024-02-29 10:00"))
    now = local(HCM, "2025-02-22 12:00")
    monkeypatch.setattr(timezone, "now", lambda: now)
    till = Pos(create_api_key(merchant=merchant, name="POS", store=StoreFactory(merchant=merchant)).raw_key)

    body = till.get(f"/tiers/members/{member.pk}").json()

    assert (body["ranking"], body["hold_months"], body["review"], body["downgrade"]) == (
        GOLD,
        12,
        "monthly",
        "earned",
    )
    assert datetime.fromisoformat(body["window_start"]) == local(HCM, "2024-02-22 12:00")
    assert datetime.fromisoformat(body["held_until"]) == local(HCM, "2025-02-28 10:00")
    assert datetime.fromisoformat(body["drop_review_at"]) == local(HCM, "2025-03-01 00:00")
    assert (body["drop_ranking"], body["will_drop"], body["drops_to"]) == (0, True, None)

    client.force_login(staff_user(merchant, "store_manager").user)
    html = client.get(f"/admin/tiers/membertier/{member.pk}/why/").content.decode()
    assert 'data-field="held_until"' in html and 'data-will-drop="true"' in html
    client.logout()

    sign_in(client, member)
    shown = client.get(url("home", merchant)).context["tier"]
    assert (shown.kept_until, shown.drops_on, shown.drops_to) == (
        "28-02-2025",
        "01-03-2025",
        "không còn hạng",
    )  # in Vietnamese
