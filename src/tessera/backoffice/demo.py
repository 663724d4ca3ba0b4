"""Demo data for the back-office pages (`tessera seed_demo`): cards, a month of sales, points added,
deducted and expired, stored value — so the dashboard, member 360 and cashier screen have something to show.

Built with the services staff use. Left alone when the merchant already has sales.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from tessera.cards import services as cards
from tessera.cards.balances import balances_of
from tessera.cards.models import Card, CardKind, CardType
from tessera.core.errors import DomainError
from tessera.ledger import services as ledger
from tessera.ledger.models import AccountKind, EntryKind
from tessera.members.models import Member, MemberStatus
from tessera.members.services import set_member_pin
from tessera.sales import services as sales
from tessera.sales.models import ConfirmMethod, Transaction
from tessera.sales.services import SaleLine

if TYPE_CHECKING:
    from tessera.tenancy.management.commands.seed_demo import Demo, DemoMerchant

#: What a paper bill entered by hand was for (E4), per currency.
PAPER_BILL = {"VND": 200_000, "CNY": 12_000}
#: The member PIN of the first demo member (Nguyễn Văn An), to confirm a sale on the cashier screen.
DEMO_MEMBER_PIN = "1234"

# merchant key → card type name, number prefix, cards, sales, menu of (item, unit price in minor units)
PLANS: dict[str, dict[str, Any]] = {
    "pho": {
        "card_type": "Thẻ thành viên",
        "prefix": "8868",
        "cards": 40,
        "sales": 90,
        "menu": [
            ("Phở bò tái", 55_000),
            ("Phở gà", 45_000),
            ("Bún chả", 50_000),
            ("Quẩy", 10_000),
            ("Trà đá", 5_000),
            ("Cà phê sữa đá", 29_000),
        ],
        "top_up": 500_000,
    },
    "tea": {
        "card_type": "会员卡",
        "prefix": "6601",
        "cards": 12,
        "sales": 30,
        "menu": [("龙井茶", 3_800), ("普洱茶", 4_500), ("桂花糕", 1_800), ("茶点拼盘", 6_800)],
        "top_up": 20_000,
    },
}


def _card_type(entry: DemoMerchant, name: str, prefix: str) -> CardType:
    """Card types are configuration, typed in by a merchant admin on the card type page; as there."""
    found = CardType.objects.of(entry.merchant).filter(name=name).first()
    if found is not None:
        return found
    card_type = CardType(merchant=entry.merchant, name=name, kind=CardKind.POINTS, number_prefix=prefix)
    card_type.stamp(entry.admin)
    card_type.save()
    return card_type


def _issue_cards(entry: DemoMerchant, plan: dict[str, Any]) -> list[Card]:
    card_type = _card_type(entry, plan["card_type"], plan["prefix"])
    batch = cards.generate_batch(
        merchant=entry.merchant, card_type=card_type, quantity=plan["cards"], actor=entry.admin
    )
    members = list(
        Member.objects.of(entry.merchant)
        .filter(status=MemberStatus.ACTIVE, superseded_by__isnull=True, erased_at__isnull=True)
        .order_by("pk")[: plan["cards"] - 5]  # a few cards stay in stock, anonymous (D3)
    )
    stock = list(Card.objects.filter(batch=batch).order_by("number"))
    issued = []
    for index, (card, member) in enumerate(zip(stock, members, strict=False)):
        store = entry.stores[index % len(entry.stores)]
        issued.append(cards.activate_card(card=card, phone=str(member.phone), actor=entry.admin, store=store))
    return issued


def _at(day: int, rng: random.Random, entry: DemoMerchant, now: datetime) -> datetime:
    local = (now - timedelta(days=day)).astimezone(entry.merchant.tz).date()
    moment = datetime.combine(local, time(rng.randint(8, 20), rng.randint(0, 59)), tzinfo=entry.merchant.tz)
    return min(moment, now - timedelta(minutes=5))


def _sales(entry: DemoMerchant, plan: dict[str, Any], carded: list[Card], rng: random.Random) -> int:
    """A month of sales, oldest first; confirmed by the merchant admin as the second person (E2)."""
    now = timezone.now()
    moments = sorted(_at(rng.randrange(30), rng, entry, now) for _ in range(plan["sales"]))
    made = 0
    for at in moments:
        card = rng.choice(carded)
        member = card.member
        assert member is not None
        lines = [
            SaleLine(name=name, quantity=rng.randint(1, 3), unit_price=price)
            for name, price in rng.sample(plan["menu"], k=rng.randint(1, 3))
        ]
        available = balances_of(member, card).points_available
        spend = min(available, rng.choice([10, 20, 30])) if available >= 10 and rng.random() < 0.3 else 0
        store = card.store or entry.stores[0]
        try:
            with transaction.atomic():
                sale = sales.create_transaction(
                    merchant=entry.merchant,
                    store=store,
                    member=member,
                    card=card,
                    lines=lines,
                    points_to_spend=spend,
                    occurred_at=at,
                )
                sales.confirm_transaction(
                    transaction=sale,
                    method=ConfirmMethod.STAFF,
                    staff_user=entry.admin,
                    actor=entry.admin,
                    now=at,
                )
        except DomainError:
            continue  # e.g. a basket the points could not pay: the demo does without it
        made += 1
    return made


def _points_by_hand(entry: DemoMerchant, carded: list[Card]) -> None:
    """E4 and E10: a few paper bills entered by hand, one deduction, and old points that expired."""
    today = timezone.localdate(timezone=entry.merchant.tz)
    for index, card in enumerate(carded[:6]):
        assert card.member is not None
        store = card.store or entry.stores[0]
        sales.add_points(
            member=card.member,
            store=store,
            actor=entry.admin,
            amount_spent=PAPER_BILL.get(entry.merchant.currency, 200_000),
            note="Hóa đơn giấy" if entry.merchant.currency == "VND" else "纸质小票",
            occurred_on=today - timedelta(days=3 + index),
        )
        # Points earned a year and a few days ago: recorded as earned and expired last week (E10).
        sales.add_points(
            member=card.member,
            store=store,
            actor=entry.admin,
            points=15 + index,
            note="2024",
            occurred_on=today - timedelta(days=370 + index),
            record_expired=True,
        )
    first = carded[0]
    assert first.member is not None
    sales.deduct_points(
        member=first.member,
        points=5,
        reason="Nhập nhầm" if entry.merchant.currency == "VND" else "录入错误",
        store=first.store or entry.stores[0],
        actor=entry.admin,
    )


def _stored_value(entry: DemoMerchant, plan: dict[str, Any], carded: list[Card]) -> None:
    """E6: a few members prepaid at the counter."""
    for card in carded[1:5]:
        assert card.member is not None
        wallet = ledger.open_account(
            merchant=entry.merchant, kind=AccountKind.STORED_VALUE, member=card.member, actor=entry.admin
        )
        ledger.credit(
            account=wallet,
            amount=plan["top_up"],
            kind=EntryKind.TOP_UP,
            store=card.store or entry.stores[0],
            actor=entry.admin,
            source="demo:top-up",
            reason="Nạp tiền" if entry.merchant.currency == "VND" else "充值",
        )


def seed_cards_and_sales(demo: Demo) -> None:
    for key, plan in PLANS.items():
        entry = demo.merchants.get(key)
        if entry is None or Transaction.objects.of(entry.merchant).exists():
            continue
        rng = random.Random(f"tessera-{key}")  # noqa: S311 (made-up sales, the same every run)
        carded = _issue_cards(entry, plan)
        if not carded:
            continue
        first = carded[0].member
        if key == "pho" and first is not None:
            set_member_pin(member=first, pin=DEMO_MEMBER_PIN, actor=entry.admin)
            demo.logins.append((f"PIN {DEMO_MEMBER_PIN}", f"member PIN of {first}, card {carded[0].number}"))
        demo.counts[f"cards of {entry.merchant.name}"] = len(carded)
        demo.counts[f"sales of {entry.merchant.name}"] = _sales(entry, plan, carded, rng)
        _points_by_hand(entry, carded)
        _stored_value(entry, plan, carded)
