"""Back office for sales (E3, E4, E9): scoped lists, void/refund actions, add and deduct points pages."""

from __future__ import annotations

from datetime import UTC

import pytest
from django.urls import reverse
from django.utils import timezone
from tests.factories import MemberFactory, StoreFactory, staff_user

from tessera.ledger.models import Account, AccountKind
from tessera.sales import services
from tessera.sales.models import TransactionStatus
from tessera.sales.selectors import entries_of_sale
from tessera.sales.services import SaleLine
from tessera.sales.tests.conftest import PIN

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:sales_transaction_changelist")
ADD_POINTS = reverse("admin:sales_add_points")
DEDUCT_POINTS = reverse("admin:sales_deduct_points")


def a_sale(member, store, *, confirm=False):
    sale = services.create_transaction(
        merchant=member.merchant, store=store, member=member, lines=[SaleLine("Bún chả", 2, 45000)]
    )
    if confirm:
        services.confirm_transaction(transaction=sale, method="pin", pin=PIN)
    return sale


def balance(member) -> int:
    account = Account.objects.filter(member=member, kind=AccountKind.POINTS).first()
    return account.balance if account else 0


def test_b2_transactions_list_shows_only_the_staff_members_merchant_and_stores(
    client, merchant, store, store2, member, other_merchant
):
    mine = a_sale(member, store)
    elsewhere = a_sale(member, store2)
    theirs_store = StoreFactory(merchant=other_merchant)
    theirs = a_sale(MemberFactory(merchant=other_merchant, phone="+8613800138000"), theirs_store)
    client.force_login(staff_user(merchant, "cashier", stores=[store]).user)

    listing = client.get(CHANGELIST)

    assert listing.status_code == 200
    shown = {row.pk for row in listing.context["cl"].result_list}
    assert shown == {mine.pk}
    assert client.get(reverse("admin:sales_transaction_change", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("admin:sales_transaction_change", args=[elsewhere.pk])).status_code == 404
    detail = client.get(reverse("admin:sales_transaction_change", args=[mine.pk]))
    assert detail.status_code == 200
    assert "Bún chả" in detail.content.decode()


def test_e9_store_manager_voids_and_refunds_from_the_list(client, merchant, store, member):
    pending, confirmed = a_sale(member, store), a_sale(member, store, confirm=True)
    assert balance(member) == 9
    client.force_login(staff_user(merchant, "store_manager", stores=[store]).user)

    client.post(CHANGELIST, {"action": "void_selected", "_selected_action": [pending.pk]})
    client.post(CHANGELIST, {"action": "refund_selected", "_selected_action": [confirmed.pk]})

    pending.refresh_from_db()
    assert pending.status == TransactionStatus.VOIDED
    assert (confirmed.refunds.get().amount, balance(member)) == (90000, 0)


def test_b1_cashier_has_no_void_action(client, merchant, store, member):
    pending = a_sale(member, store)
    client.force_login(staff_user(merchant, "cashier", stores=[store]).user)

    client.post(CHANGELIST, {"action": "void_selected", "_selected_action": [pending.pk]})

    pending.refresh_from_db()
    assert pending.status == TransactionStatus.PENDING


def test_e4_cashier_adds_points_from_the_amount_spent(client, merchant, store, member):
    client.force_login(staff_user(merchant, "cashier", stores=[store]).user)

    page = client.get(ADD_POINTS, {"member": member.pk})
    response = client.post(
        ADD_POINTS,
        {"member": "0903 123 456", "store": store.pk, "amount_spent": 123000, "note": "paper bill"},
    )

    assert page.status_code == 200
    assert response.status_code == 302
    assert balance(member) == 12


def test_e4_deduct_points_page_needs_the_permission(client, merchant, store, member):
    services.add_points(member=member, store=store, actor=None, points=30)
    client.force_login(staff_user(merchant, "cashier", stores=[store]).user)
    assert client.get(DEDUCT_POINTS).status_code == 403

    client.force_login(staff_user(merchant, "store_manager", stores=[store]).user)
    response = client.post(
        DEDUCT_POINTS, {"member": str(member.phone), "store": store.pk, "points": 10, "reason": "typo"}
    )
    too_many = client.post(
        DEDUCT_POINTS, {"member": str(member.phone), "store": store.pk, "points": 99, "reason": "typo"}
    )

    assert response.status_code == 302
    assert too_many.status_code == 200
    assert "Số dư không đủ" in too_many.content.decode()  # in the staff's language
    assert balance(member) == 20


def test_a1_points_pages_refuse_another_merchants_member(client, merchant, store, other_merchant):
    theirs = MemberFactory(merchant=other_merchant, phone="+8613800138000")
    client.force_login(staff_user(merchant, "merchant_admin").user)

    response = client.post(ADD_POINTS, {"member": str(theirs.phone), "store": store.pk, "points": 5})

    assert response.status_code == 200
    assert "member" in response.context["form"].errors
    assert balance(theirs) == 0


@pytest.mark.parametrize("typed", ["123.000", "123,000", "123000"])
def test_e4_the_amount_spent_is_typed_as_people_write_money(client, merchant, store, member, typed):
    client.force_login(staff_user(merchant, "cashier", stores=[store]).user)

    page = client.get(ADD_POINTS).content.decode()
    response = client.post(
        ADD_POINTS, {"member": str(member.phone), "store": store.pk, "amount_spent": typed}
    )

    assert 'data-money="VND"' in page and "tessera/money_preview.js" in page
    assert response.status_code == 302
    assert balance(member) == 12  # 123.000 đồng at 1 point per 10.000


def test_e4_an_amount_spent_that_does_not_read_is_refused_before_anything_is_saved(
    client, merchant, store, member
):
    client.force_login(staff_user(merchant, "cashier", stores=[store]).user)

    response = client.post(
        ADD_POINTS, {"member": str(member.phone), "store": store.pk, "amount_spent": "123.5"}
    )

    assert response.status_code == 200
    assert "amount_spent" in response.context["form"].errors
    assert balance(member) == 0


def test_e9_the_sale_page_shows_ledger_times_in_the_merchants_zone(client, merchant, store, member):
    sale = a_sale(member, store, confirm=True)
    client.force_login(staff_user(merchant, "store_manager", stores=[store]).user)

    body = client.get(reverse("admin:sales_transaction_change", args=[sale.pk])).content.decode()

    [entry] = entries_of_sale(sale)
    local = timezone.localtime(entry.occurred_at, merchant.tz)
    utc = entry.occurred_at.astimezone(UTC)
    assert local.strftime("%H:%M") in body
    assert f"{utc:%Y-%m-%d %H:%M}" not in body  # the UTC time it used to show beside local ones
    assert "+9" in body  # 90.000 đồng earn 9 points, shown with their sign
