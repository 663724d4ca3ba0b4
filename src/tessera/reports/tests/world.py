"""A small world for the report tests, built through the real services: two stores of a Ho Chi Minh City
merchant, sales on both sides of a local midnight, a void, a refund, points spent in the other store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.utils import timezone
from tests.factories import MemberFactory

from tessera.backoffice.tests.shop import PIN, Shop, confirmed_sale, shop
from tessera.members.models import Member
from tessera.members.services import set_member_pin
from tessera.reports.aggregates import compact
from tessera.sales import services as sales
from tessera.sales.models import Refund, Transaction
from tessera.sales.services import SaleLine
from tessera.tenancy.models import Merchant

#: 23:30 on 10 March in Ho Chi Minh City (UTC+7).
LATE_10TH = datetime(2026, 3, 10, 16, 30, tzinfo=UTC)
#: 00:30 on 11 March there: the next local day, an hour later.
EARLY_11TH = datetime(2026, 3, 10, 17, 30, tzinfo=UTC)


def since_march(merchant: Merchant) -> tuple[date, date]:
    """From 1 March 2026 to today (the refund happens today)."""
    return date(2026, 3, 1), max(timezone.localtime(timezone.now(), merchant.tz).date(), date(2026, 3, 31))


@dataclass
class World:
    shop: Shop
    other: Member
    s1: Transaction
    s2: Transaction
    voided: Transaction
    refund: Refund


def world(merchant: Merchant, *, fold: bool = True, prefix: str = "8868") -> World:
    """In store A (Hoàn Kiếm), s1: 2 × 100,000 đ with the member's card at 23:30 on the 10th (earns 20
    points). In store B (Quận 1), s2: 100,000 đ at 00:30 on the 11th paying 10 of those points (1,000 đ),
    earning 9. Another member's 50,000 đ sale in A on the 11th, voided. One of s1's two items brought
    back to store B today (100,000 đ; 10 earned points taken back)."""
    built = shop(merchant, prefix=prefix)
    s1 = sales.create_transaction(
        merchant=merchant,
        store=built.store_a,
        member=built.member,
        card=built.card,
        lines=[SaleLine(name="Phở bò", quantity=2, unit_price=100_000)],
        occurred_at=LATE_10TH,
    )
    s1 = sales.confirm_transaction(transaction=s1, method="pin", pin=PIN, now=LATE_10TH)
    s2 = confirmed_sale(
        member=built.member, store=built.store_b, amount=100_000, points_to_spend=10, at=EARLY_11TH
    )
    other = MemberFactory(merchant=merchant, phone="+84987654321", full_name="Lê Văn Cường")
    set_member_pin(member=other, pin=PIN)
    voided = confirmed_sale(member=other, store=built.store_a, amount=50_000, at=EARLY_11TH)
    voided = sales.void_transaction(transaction=voided, reason="wrong member", now=EARLY_11TH)
    # A refund is dated by its record (`created_at`): it happens now, in the test as at the counter.
    refund = sales.refund_transaction(transaction=s1, lines={s1.lines.get().pk: 1}, store=built.store_b)
    if fold:
        compact()
    return World(shop=built, other=other, s1=s1, s2=s2, voided=voided, refund=refund)


def rows(report: object, key: str) -> dict[object, tuple[object, ...]]:
    return {row[0]: row[1:] for row in report.table(key).rows}  # type: ignore[attr-defined]
