"""An occasion discount's uses per member are counted exactly once under concurrent confirmations
(issue 15 §3): of twenty pending sales confirmed at the same instant, exactly `max_uses` get through.

PostgreSQL only: SQLite serialises every writer, so there is no race to lose there.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from tessera.members.models import Member
from tessera.rewards.models import OccasionDiscount, OccasionUse
from tessera.rewards.occasions import OccasionUsedUp
from tessera.sales import services
from tessera.sales.models import SalesSettings, Transaction, TransactionStatus
from tessera.sales.services import SaleLine
from tessera.sales.tests.test_concurrency import THREADS, run_together

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks"),
]


@pytest.mark.parametrize("max_uses", [1, 3])
def test_twenty_confirmations_at_once_use_the_birthday_discount_exactly_max_uses_times(
    merchant, store, member, max_uses
):
    SalesSettings.objects.filter(merchant=merchant).update(
        confirm_with_pin=False, confirm_with_otp=False, confirm_with_staff=False
    )
    today = timezone.now().astimezone(store.tz).date()
    Member.objects.filter(pk=member.pk).update(birthday=date(1990, today.month, min(today.day, 28)))
    member.refresh_from_db()
    OccasionDiscount.objects.create(
        merchant=merchant,
        name="Birthday",
        kind="birthday",
        period="month",
        percent=Decimal(10),
        max_uses=max_uses,
    )
    sales = [
        services.create_transaction(
            merchant=merchant,
            store=store,
            member=member,
            lines=[SaleLine(name="Phở", quantity=1, unit_price=100000)],
        )
        for _i in range(THREADS)
    ]
    assert all(sale.discount_amount == 10000 for sale in sales)

    results = run_together(
        lambda i: services.confirm_transaction(
            transaction=sales[i], method="none", now=timezone.now() + timedelta(seconds=1)
        )
    )

    confirmed = [r for r in results if isinstance(r, Transaction)]
    refused = [r for r in results if isinstance(r, OccasionUsedUp)]
    assert (len(confirmed), len(refused)) == (max_uses, THREADS - max_uses), results
    assert Transaction.objects.filter(status=TransactionStatus.CONFIRMED).count() == max_uses
    assert OccasionUse.objects.get(member=member).uses == max_uses
