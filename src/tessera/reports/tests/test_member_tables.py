"""Members' visits per month and member counts (issue 16): kept by triggers whatever writes the sales and
the members, equal to the rebuild, and read by the transactions and customers reports."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from tests.factories import MemberFactory, staff_user

from tessera.backoffice.tests.shop import confirmed_sale, shop
from tessera.members.models import Member
from tessera.members.services import set_member_pin
from tessera.reports import selectors
from tessera.reports.aggregates import rebuild
from tessera.reports.models import MemberCount, MemberVisits
from tessera.reports.selectors import Filters, ReportScope, crm_report, sales_report
from tessera.reports.triggers import member_counts_deferred
from tessera.sales import services as sales
from tessera.tenancy.models import Merchant

from .world import PIN, rows, world

pytestmark = pytest.mark.django_db

#: 23:00 on 31 March in Ho Chi Minh City: steps of 20 minutes cross into April there (still March in UTC).
T0 = datetime(2026, 3, 31, 16, 0, tzinfo=UTC)


def kept(merchant: Merchant) -> dict[str, Any]:
    visits = MemberVisits.objects.filter(merchant=merchant).exclude(visits=0)
    counts = MemberCount.objects.filter(merchant=merchant).exclude(members=0)
    return {
        "visits": {
            (v.month, v.member_id, v.store_id, v.card_type_id): v.visits
            for v in visits.only("month", "member_id", "store_id", "card_type_id", "visits")
        },
        "counts": {(c.dimension, c.home_store_id, c.value): c.members for c in counts},
    }


@pytest.mark.parametrize("seed", [1, 2])
def test_member_tables_equal_the_rebuild_whatever_happens(merchant: Merchant, seed: int) -> None:
    """Sales confirmed (with and without a card) and voided across a local month end; members registered,
    moved, changed, erased, replaced and deleted by any code: the trigger-kept rows equal the rebuild."""
    rnd = random.Random(seed)
    built = shop(merchant)
    stores = [built.store_a, built.store_b]
    buyers = [built.member]
    for n in range(2):
        buyer = MemberFactory(merchant=merchant, phone=f"+8491000000{n}")
        set_member_pin(member=buyer, pin=PIN)
        buyers.append(buyer)
    others: list[Member] = []
    confirmed = [confirmed_sale(member=built.member, store=built.store_a, amount=10_000, at=T0)]
    now = T0
    for step in range(24):
        now += timedelta(minutes=20)
        op = rnd.choice(["sell", "sell", "void", "register", "change", "erase", "replace", "delete"])
        if op == "sell":
            buyer = rnd.choice(buyers)
            card = {"card": built.card} if buyer == built.member and rnd.random() < 0.5 else {}
            sale = confirmed_sale(member=buyer, store=rnd.choice(stores), amount=10_000, at=now, **card)
            confirmed.append(sale)
        elif op == "void" and len(confirmed) > 1:
            sales.void_transaction(transaction=confirmed.pop(rnd.randrange(len(confirmed))), now=now)
        elif op == "register":
            others.append(
                MemberFactory(
                    merchant=merchant,
                    phone=f"+8492{step:07d}",
                    region=rnd.choice(["", "Hà Nội", "Huế"]),
                    occupation=rnd.choice(["", "Giáo viên"]),
                    birthday=rnd.choice([None, date(1990, 4, 1), date(2010, 12, 31)]),
                    home_store=rnd.choice([None, *stores]),
                )
            )
        elif op == "change" and others:
            member = rnd.choice(others)
            member.region, member.birthday = rnd.choice(["Huế", "Đà Nẵng"]), date(1980 + step, 1, 1)
            member.home_store = rnd.choice([None, *stores])
            member.save()
        elif op == "erase" and others:
            Member.objects.filter(pk=rnd.choice(others).pk).update(erased_at=timezone.now())
        elif op == "replace" and len(others) > 1:
            old, new = rnd.sample(others, 2)
            Member.objects.filter(pk=old.pk).update(superseded_by=new)
        elif op == "delete" and others:
            member = others.pop(rnd.randrange(len(others)))
            Member.objects.filter(superseded_by=member).update(superseded_by=None)
            member.delete()
    maintained = kept(merchant)
    assert maintained["visits"] and maintained["counts"]
    rebuild(merchant=merchant)
    assert kept(merchant) == maintained


def frequency(merchant: Merchant, start: date, end: date) -> tuple[dict[Any, Any], bool]:
    table, pre_counted = selectors._frequency(ReportScope(merchant), Filters(start, end))
    return {label: (members, n) for label, members, n in table}, pre_counted


def test_whole_months_read_the_month_rows_and_day_ranges_the_sales(merchant: Merchant) -> None:
    """The member bought on 10 and 11 March (local), the other member's sale was voided."""
    world(merchant)
    twice = {"1": (0, 0), "2–3": (1, 2), "4–10": (0, 0), "> 10": (0, 0)}
    assert frequency(merchant, date(2026, 3, 1), date(2026, 3, 31)) == (twice, True)
    assert frequency(merchant, date(2026, 2, 1), date(2026, 4, 30)) == (twice, True)
    # March so far on the 11th: nothing was sold later in March, so the month's rows are exact.
    assert frequency(merchant, date(2026, 3, 1), date(2026, 3, 11)) == (twice, True)
    # On the 10th they are not (the 11th's sale is in them): counted from the sales.
    once = {"1": (1, 1), "2–3": (0, 0), "4–10": (0, 0), "> 10": (0, 0)}
    assert frequency(merchant, date(2026, 3, 1), date(2026, 3, 10)) == (once, False)
    assert frequency(merchant, date(2026, 3, 11), date(2026, 3, 31)) == (once, False)
    # A voided sale takes its visit back from the month's row.
    assert MemberVisits.objects.filter(merchant=merchant, visits=0).count() == 1


def test_a_long_day_range_says_it_is_counted_from_the_sales(merchant: Merchant) -> None:
    world(merchant)
    scope = ReportScope(merchant)
    slow = "counted from the sales themselves"
    assert any(
        slow in note for note in sales_report(scope, Filters(date(2026, 3, 5), date(2026, 3, 20))).notes
    )
    for start, end in [(date(2026, 3, 1), date(2026, 3, 31)), (date(2026, 3, 5), date(2026, 3, 11))]:
        assert not any(slow in note for note in sales_report(scope, Filters(start, end)).notes)
    whole = sales_report(scope, Filters(date(2026, 3, 1), date(2026, 3, 31)))
    assert rows(whole, "frequency")["2–3"] == (1, 2)


def test_customers_are_counted_per_home_store_and_listed_a_page_at_a_time(
    merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = shop(merchant)
    today = ReportScope(merchant).today()
    born = today.replace(year=today.year - 30, day=1)
    for name, store in [("An", built.store_a), ("Bình", built.store_a), ("Chi", built.store_b)]:
        MemberFactory(merchant=merchant, full_name=name, birthday=born, region="Huế", home_store=store)
    monkeypatch.setattr(selectors, "LIST_PAGE_ROWS", 2)
    period = Filters(today.replace(day=1), today)
    first = crm_report(ReportScope(merchant), Filters(period.start, period.end, page=1)).table("birthdays")
    assert [row[0] for row in first.rows] == ["An", "Bình"]
    assert first.page is not None and (first.page.number, first.page.paginator.count) == (1, 3)
    second = crm_report(ReportScope(merchant), Filters(period.start, period.end, page="2")).table("birthdays")
    assert [row[0] for row in second.rows] == ["Chi"]
    assert len(crm_report(ReportScope(merchant), period).table("birthdays").rows) == 3  # exports: all

    only_a = crm_report(ReportScope(merchant, (built.store_a.pk,)), period)
    assert rows(only_a, "regions") == {"Huế": (2, 100)}
    assert rows(only_a, "age_bands")["25–34"] == (2, 100)

    client = Client()
    client.force_login(staff_user(merchant, "finance").user)  # type: ignore[arg-type]
    response = client.get(
        reverse("reports:report", args=["crm"]), {"start": period.start, "end": period.end, "page": 2}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-pages="birthdays"' in html
    assert "page=1#table-birthdays" in html and "page=3#table-birthdays" not in html
    assert [row[0] for row in response.context["result"].table("birthdays").rows] == ["Chi"]


def test_member_counts_deferred_adds_the_transactions_counts_once_on_the_way_out(merchant: Merchant) -> None:
    """Issue 16: a bulk writer's members are counted at the end of its transaction, exactly."""
    MemberFactory(merchant=merchant, phone="+84911000001", region="Huế", birthday=date(1990, 4, 1))
    before = kept(merchant)["counts"]
    with transaction.atomic(), member_counts_deferred():
        for n in range(2, 6):
            MemberFactory(merchant=merchant, phone=f"+8491100000{n}", region="Huế", birthday=date(1990, 4, 1))
        if connection.vendor == "postgresql":  # counted row by row on SQLite
            assert kept(merchant)["counts"] == before  # pending until the way out
    maintained = kept(merchant)
    assert maintained["counts"][("region", 0, "Huế")] == 5
    rebuild(merchant=merchant)
    assert kept(merchant) == maintained


def test_member_counts_deferred_adds_nothing_when_the_transaction_rolls_back(merchant: Merchant) -> None:
    MemberFactory(merchant=merchant, phone="+84911000001", region="Huế")
    before = kept(merchant)
    with pytest.raises(RuntimeError, match="late"), transaction.atomic(), member_counts_deferred():
        MemberFactory(merchant=merchant, phone="+84911000002", region="Huế")
        raise RuntimeError("late")
    assert kept(merchant) == before
    with transaction.atomic():  # and the next transaction counts as usual
        MemberFactory(merchant=merchant, phone="+84911000003", region="Huế")
    assert kept(merchant)["counts"][("region", 0, "Huế")] == 2
