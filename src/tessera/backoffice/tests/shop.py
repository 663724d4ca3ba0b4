"""Builders for the back-office page tests: a shop with two stores, members, a card, sales and points.

Everything goes through the services staff use; only `created_at` of a member is moved back in time
(a test shortcut to have someone who joined before this week).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from tests.factories import MemberFactory, StoreFactory

from tessera.cards import services as cards
from tessera.cards.models import Card
from tessera.cards.tests.factories import CardTypeFactory
from tessera.members.models import Member
from tessera.members.services import set_member_pin
from tessera.points.services import save_policy
from tessera.sales import services as sales
from tessera.sales.models import Transaction
from tessera.sales.services import SaleLine
from tessera.tenancy.models import Merchant, Store

PIN = "2468"


@dataclass
class Shop:
    merchant: Merchant
    store_a: Store
    store_b: Store
    member: Member
    card: Card


def shop(
    merchant: Merchant, *, phone: str = "+84912345678", name: str = "Trần Thị Bình", prefix: str = "8868"
) -> Shop:
    """Two stores; a member with a PIN and an active points card. Earned points are available at once."""
    save_policy(merchant=merchant, pending_days=0)
    store_a = StoreFactory(merchant=merchant, code=f"a-{merchant.slug}", name="Hoàn Kiếm")
    store_b = StoreFactory(merchant=merchant, code=f"b-{merchant.slug}", name="Quận 1")
    member = MemberFactory(
        merchant=merchant, phone=phone, full_name=name, preferences="Không ăn hành", notes="Khách quen"
    )
    set_member_pin(member=member, pin=PIN)
    batch = cards.generate_batch(
        merchant=merchant, card_type=CardTypeFactory(merchant=merchant, number_prefix=prefix), quantity=1
    )
    card = cards.activate_card(card=Card.objects.get(batch=batch), phone=phone)
    return Shop(merchant=merchant, store_a=store_a, store_b=store_b, member=member, card=card)


def confirmed_sale(
    *,
    member: Member,
    store: Store,
    amount: int,
    points_to_spend: int = 0,
    at: datetime | None = None,
    **extra: Any,
) -> Transaction:
    """A one-line sale of `amount`, created by the system and confirmed with the member's PIN."""
    sale = sales.create_transaction(
        merchant=member.merchant,
        store=store,
        member=member,
        lines=[SaleLine(name="Phở bò", quantity=1, unit_price=amount)],
        points_to_spend=points_to_spend,
        occurred_at=at,
        **extra,
    )
    return sales.confirm_transaction(transaction=sale, method="pin", pin=PIN, now=at)


def joined_days_ago(member: Member, days: int) -> None:
    Member.objects.filter(pk=member.pk).update(created_at=timezone.now() - timedelta(days=days))
