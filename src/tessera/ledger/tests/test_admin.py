"""The ledger back office is read-only and scoped to the staff user's merchant and stores (B1, B2)."""

from __future__ import annotations

import re

import pytest
from tests.factories import StoreFactory, staff_user

from tessera.ledger import services as ledger
from tessera.ledger.tests.factories import T0, earn, points_account

pytestmark = pytest.mark.django_db

ACCOUNTS = "/admin/ledger/account/"
ENTRIES = "/admin/ledger/entry/"


def test_b1_staff_see_their_merchants_accounts_with_open_lots(client, merchant):
    account = points_account(merchant)
    earn(account, 1234)
    earn(account, 10, expires_in=5)
    ledger.debit(account=account, amount=10, now=T0)  # empties the second lot
    client.force_login(staff_user(merchant, "merchant_admin").user)
    listing = client.get(ACCOUNTS)
    assert listing.status_code == 200
    assert "1234" in listing.content.decode()
    page = client.get(f"{ACCOUNTS}{account.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'id="id_lots-0-id"' in body and 'id="id_lots-1-id"' not in body  # the one open lot
    assert f"{ENTRIES}?account__exact={account.pk}" in body


def test_b2_staff_of_one_merchant_get_404_on_another_merchants_account_and_entries(
    client, merchant, other_merchant
):
    foreign = points_account(other_merchant)
    entry = earn(foreign, 777)
    client.force_login(staff_user(merchant, "merchant_admin").user)
    assert client.get(f"{ACCOUNTS}{foreign.pk}/change/").status_code == 404
    assert client.get(f"{ENTRIES}{entry.pk}/change/").status_code == 404
    assert "777" not in client.get(ENTRIES).content.decode()
    assert "777" not in client.get(ACCOUNTS).content.decode()


def test_the_ledger_admin_allows_no_add_change_or_delete_even_to_merchant_admins(client, merchant):
    account = points_account(merchant)
    entry = earn(account, 10)
    client.force_login(staff_user(merchant, "merchant_admin").user)
    assert client.get(f"{ACCOUNTS}add/").status_code == 403
    assert client.get(f"{ENTRIES}add/").status_code == 403
    assert client.get(f"{ENTRIES}{entry.pk}/delete/").status_code == 403
    response = client.post(f"{ENTRIES}{entry.pk}/change/", {"amount": 999})
    assert response.status_code == 403
    entry.refresh_from_db()
    assert entry.amount == 10


def test_b2_entries_filter_by_kind_store_and_date_and_list_only_visible_stores(
    client, merchant, other_merchant
):
    mine = StoreFactory(merchant=merchant, name="Quận 1")
    other = StoreFactory(merchant=merchant, name="Quận 3")
    StoreFactory(merchant=other_merchant, name="Foreign Branch")
    account = points_account(merchant)
    earn(account, 111, store=mine)
    earn(account, 333, store=other)
    client.force_login(staff_user(merchant, "cashier", stores=[mine]).user)
    page = client.get(ENTRIES).content.decode()
    shown = re.sub(r"<[^>]*>", " ", page)  # the text, not the links (a store's id may be 333)
    assert re.search(r"\b111\b", shown) and not re.search(r"\b333\b", shown)
    assert "Foreign Branch" not in page and "Quận 3" not in page
    filtered = client.get(
        ENTRIES, {"kind__exact": "earn", "store": mine.pk, "occurred_at_from": "2026-01-01"}
    )
    assert filtered.status_code == 200
    assert "111" in filtered.content.decode()
    assert "111" not in client.get(ENTRIES, {"kind__exact": "spend"}).content.decode()
