"""Each report's numbers against a hand-computed world (world.py), on both sides of a local midnight."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from tests.factories import MemberFactory, staff_user

from tessera.cards import services as cards
from tessera.cards.models import Card
from tessera.cards.tests.factories import CardTypeFactory
from tessera.ledger.models import Account, AccountKind
from tessera.reports.aggregates import compact
from tessera.reports.selectors import (
    Filters,
    ReportScope,
    card_audit_report,
    crm_report,
    liability_report,
    sales_report,
    settlement_report,
    staff_report,
    tier_report,
)
from tessera.sales import services as sales
from tessera.tenancy.models import Merchant
from tessera.tiers import services as tiers
from tessera.tiers.tests.factories import program, tier

from .world import rows, since_march, world

pytestmark = pytest.mark.django_db


def everything(merchant: Merchant, **extra: object) -> Filters:
    return Filters(*since_march(merchant), **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize("fold", [True, False], ids=["folded", "deltas-only"])
def test_transactions_by_store_day_card_type_and_frequency(merchant: Merchant, fold: bool) -> None:
    w = world(merchant, fold=fold)
    report = sales_report(ReportScope(merchant), everything(merchant))
    # (sales, amount, discount, refunds, refunded, net): the voided sale counts nowhere; the refund
    # counts in store B, where the item came back.
    assert rows(report, "stores") == {
        "Hoàn Kiếm": (1, 200_000, 0, 0, 0, 200_000),
        "Quận 1": (1, 100_000, 0, 1, 100_000, 0),
        "Total": (2, 300_000, 0, 1, 100_000, 200_000),
    }
    card_type = w.shop.card.type.name
    assert rows(report, "card_types") == {
        card_type: (1, 200_000, 0, 1, 100_000, 100_000),
        "No card": (1, 100_000, 0, 0, 0, 100_000),
        "Total": (2, 300_000, 0, 1, 100_000, 200_000),
    }
    days = rows(report, "days")
    assert days[date(2026, 3, 10)] == (1, 200_000, 0, 0, 0, 200_000)  # 23:30 local
    assert days[date(2026, 3, 11)][:2] == (1, 100_000)  # 00:30 local, an hour later
    # The member bought twice (2–3 visits); the other member's only sale was voided.
    assert rows(report, "frequency") == {"1": (0, 0), "2–3": (1, 2), "4–10": (0, 0), "> 10": (0, 0)}
    only_card = sales_report(ReportScope(merchant), everything(merchant, card_type_id=w.shop.card.type_id))
    assert rows(only_card, "stores")["Total"] == (1, 200_000, 0, 1, 100_000, 100_000)


def test_customer_type_is_the_tier_before_the_sale(merchant: Merchant) -> None:
    w = world(merchant)
    program(merchant)
    tiers.set_tier_manually(member=w.shop.member, tier=tier(merchant, "gold"), now=w.s2.occurred_at)
    later = w.s2.occurred_at + timedelta(days=1)
    from tessera.backoffice.tests.shop import confirmed_sale

    confirmed_sale(member=w.shop.member, store=w.shop.store_a, amount=30_000, at=later)
    report = sales_report(ReportScope(merchant), everything(merchant))
    assert rows(report, "customer_types")["Gold"] == (1, 30_000, 1_500, 0, 0, 30_000)  # Gold: 5 % off
    assert rows(report, "customer_types")["No tier"][:2] == (2, 300_000)


def test_staff_daily_totals_per_user(merchant: Merchant) -> None:
    w = world(merchant)
    cashier = staff_user(merchant, "store_manager", username="thu-ngan").user
    on_12th = date(2026, 3, 12)
    at = w.s2.occurred_at + timedelta(days=1)
    sales.add_points(
        member=w.shop.member, store=w.shop.store_a, actor=cashier, points=50, occurred_on=on_12th, now=at
    )
    sales.deduct_points(
        member=w.shop.member, store=w.shop.store_a, actor=cashier, points=7, reason="gift", now=at
    )
    compact()
    report = staff_report(ReportScope(merchant), everything(merchant))
    by_user = rows(report, "users")
    assert by_user["thu-ngan"] == (50, 7, 2)
    # The POS and system: 20 + 9 + 5 earned; 10 spent, 10 taken back by the refund, 5 by the void.
    assert by_user["System and POS"] == (34, 25, 6)


def test_liability_per_issuing_store_adds_up_to_the_balances(merchant: Merchant) -> None:
    w = world(merchant)
    report = liability_report(ReportScope(merchant), everything(merchant))
    # Points: A issued 20 + 5 (the voided sale's); 10 were spent (in B), 10 taken back by the refund and
    # 5 by the void → 0 left. B issued 9.
    stores = rows(report, "stores")
    assert stores["Hoàn Kiếm"][:3] == (25, 25, 0)
    assert stores["Quận 1"][:3] == (9, 0, 9)
    balances = Account.objects.of(merchant).filter(kind=AccountKind.POINTS).aggregate(t=Sum("balance"))["t"]
    assert stores["Total"][2] == balances == 9
    before = liability_report(ReportScope(merchant), Filters(date(2026, 3, 1), date(2026, 3, 10)))
    assert rows(before, "stores")["Total"][2] == 20  # at the end of the 10th: only s1's points
    assert w.refund.points_reversed == 10


def test_settlement_says_the_issuing_store_owes_the_spending_store(merchant: Merchant) -> None:
    world(merchant)
    report = settlement_report(ReportScope(merchant), everything(merchant))
    # 10 points issued in A were spent in B; a point is worth 100 đ.
    assert report.table("net").rows == [("Hoàn Kiếm", "Quận 1", 10, 0, 1_000)]
    assert report.table("matrix").rows == [("Hoàn Kiếm", "Quận 1", 10, 0, 1_000)]


def test_settlement_nets_both_directions_and_refunds(merchant: Merchant) -> None:
    w = world(merchant)
    from tessera.backoffice.tests.shop import confirmed_sale

    later = w.s2.occurred_at + timedelta(days=2)
    # 4 of the 9 points issued in B spent back in A: B owes A 400 đ; net A owes B 600 đ.
    back = confirmed_sale(
        member=w.shop.member, store=w.shop.store_a, amount=10_000, points_to_spend=4, at=later
    )
    compact()
    assert settlement_report(ReportScope(merchant), everything(merchant)).table("net").rows == [
        ("Hoàn Kiếm", "Quận 1", 6, 0, 600)
    ]
    # Voiding that sale gives the 4 points back: the spend no longer counts.
    sales.void_transaction(transaction=back, now=later)
    assert settlement_report(ReportScope(merchant), everything(merchant)).table("net").rows == [
        ("Hoàn Kiếm", "Quận 1", 10, 0, 1_000)
    ]


def test_card_audit_counts_each_operation_per_day(merchant: Merchant) -> None:
    card_type = CardTypeFactory(merchant=merchant, number_prefix="77")
    batch = cards.generate_batch(merchant=merchant, card_type=card_type, quantity=3)
    first, second, _third = Card.objects.filter(batch=batch).order_by("number")
    first = cards.activate_card(card=first, phone="+84911111111")
    second = cards.activate_card(card=second, phone="+84922222222")
    cards.report_lost(card=first, note="lost at the beach")
    cards.replace_card(card=first)
    cards.report_lost(card=second)
    cards.cancel_loss_report(card=second)
    cards.recycle_card(card=first)
    today = ReportScope(merchant).today()
    report = card_audit_report(ReportScope(merchant), Filters(today - timedelta(days=1), today))
    issued, lost, cancelled, replaced, recycled, top_ups, topped_up = report.table("days").rows[-1][2:]
    assert (issued, lost, cancelled, replaced, recycled, top_ups, topped_up) == (2, 2, 1, 1, 1, 0, 0)
    assert any(row[6] == "lost at the beach" for row in report.table("operations").rows)


def test_crm_birthdays_age_bands_regions_and_occupations(merchant: Merchant) -> None:
    today = ReportScope(merchant).today()

    def born(years: int, *, day_shift: int = 0) -> date:
        return today.replace(year=today.year - years, day=1) + timedelta(days=day_shift)

    MemberFactory(
        merchant=merchant, full_name="An", birthday=born(30), region="Hà Nội", occupation="Giáo viên"
    )
    MemberFactory(merchant=merchant, full_name="Bình", birthday=born(20), region="Hà Nội")
    MemberFactory(merchant=merchant, full_name="Chi", birthday=born(70, day_shift=40), region="Huế")
    MemberFactory(merchant=merchant, full_name="Dũng")
    report = crm_report(ReportScope(merchant), Filters(today.replace(day=1), today))
    assert [row[0] for row in report.table("birthdays").rows] == ["An", "Bình"]
    ages = {label: n for label, n, _share in report.table("age_bands").rows}
    assert (ages["18–24"], ages["25–34"], ages["65+"], ages["Unknown"]) == (1, 1, 1, 1)
    assert report.table("regions").rows[0] == ("Hà Nội", 2, Decimal(50))
    assert ("Giáo viên", 1, Decimal(25)) in report.table("occupations").rows


def test_tier_movement_per_month(merchant: Merchant) -> None:
    program(merchant)
    member = MemberFactory(merchant=merchant)
    march_10 = world_time = None
    del world_time
    from datetime import UTC, datetime

    march_10 = datetime(2026, 3, 10, 3, tzinfo=UTC)
    tiers.set_tier_manually(member=member, tier=tier(merchant, "gold"), now=march_10)
    tiers.set_tier_manually(member=member, tier=tier(merchant, "silver"), now=march_10 + timedelta(days=25))
    report = tier_report(ReportScope(merchant), Filters(date(2026, 3, 1), date(2026, 4, 30)))
    assert report.table("months").rows == [("March 2026", 1, 0), ("April 2026", 0, 1)]
    assert report.table("tiers").rows == [("March 2026", "Gold", 1, 0), ("April 2026", "Silver", 0, 1)]
