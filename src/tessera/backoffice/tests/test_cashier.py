"""The cashier screen (E3, E2, E11, B1, B2): find the customer by scan, phone or name; quote a basket;
create the sale; confirm it with the member's PIN (or a second staff member); print the receipt. A form
posted twice does its work once."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from tests.factories import MemberFactory, staff_user

from tessera.backoffice.selectors import Scope, recent_items
from tessera.backoffice.tests.shop import PIN, confirmed_sale, shop
from tessera.core.models import IdempotencyRecord
from tessera.ledger.models import Account, AccountKind
from tessera.members.models import Member
from tessera.sales import services as sales
from tessera.sales.models import Channel, SalesSettings, Transaction, TransactionStatus
from tessera.sales.services import SaleLine
from tessera.tenancy import services as tenancy

pytestmark = pytest.mark.django_db

CASHIER = reverse("backoffice:cashier")


@pytest.fixture
def till(merchant):
    return shop(merchant)


def _client(staff) -> Client:
    client = Client()
    client.force_login(staff.user)
    return client


def _points(member) -> int:
    account = Account.objects.filter(member=member, kind=AccountKind.POINTS).first()
    return account.balance if account else 0


def _basket(client: Client, till, **overrides) -> dict[str, str]:
    """The basket form as the page renders it (token included), with one line of 2 × 45,000 đồng."""
    page = client.get(CASHIER, {"member": till.member.pk, "card": till.card.pk})
    assert page.status_code == 200
    token = re.search(r'name="token" value="([0-9a-f]{32})"', page.content.decode()).group(1)
    data = {
        "token": token,
        "member": str(till.member.pk),
        "card": str(till.card.pk),
        "store": str(till.store_a.pk),
        "lines-TOTAL_FORMS": "2",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "100",
        "lines-0-name": "Phở bò",
        "lines-0-quantity": "2",
        "lines-0-unit_price": "45000",
        "lines-1-name": "",
        "lines-1-quantity": "",
        "lines-1-unit_price": "",
        "points_to_spend": "",
        "stored_value_to_spend": "",
        "external_ref": "",
        "note": "",
    }
    data.update(overrides)
    return data


# --- finding the customer -----------------------------------------------------------------------------


def test_a_scanned_card_number_opens_the_customers_basket(till):
    client = _client(staff_user(till.merchant, "cashier", stores=[till.store_a]))

    response = client.get(CASHIER, {"q": f"TSR1:{till.card.number}"})

    assert response.status_code == 302
    assert response["Location"] == f"{CASHIER}?member={till.member.pk}&card={till.card.pk}"


def test_a_phone_finds_the_member_and_a_name_lists_the_matches(till):
    MemberFactory(merchant=till.merchant, full_name="Trần Văn Bảo")
    client = _client(staff_user(till.merchant, "cashier", stores=[till.store_a]))

    by_phone = client.get(CASHIER, {"q": "0912 345 678"})
    by_name = client.get(CASHIER, {"q": "tran"})

    assert by_phone["Location"] == f"{CASHIER}?member={till.member.pk}"
    assert {str(m) for m in by_name.context["found"].matches} == {"Trần Thị Bình", "Trần Văn Bảo"}


def test_another_merchants_card_is_not_found(till, other_merchant):
    tea = shop(other_merchant, phone="+8613812345678", name="王芳", prefix="6601")
    client = _client(staff_user(till.merchant, "cashier", stores=[till.store_a]))

    response = client.get(CASHIER, {"q": tea.card.number})

    assert response.status_code == 200
    found = response.context["found"]
    assert found.member is None and found.matches == []
    assert client.get(CASHIER, {"member": tea.member.pk}).status_code == 404


def test_nobody_found_offers_to_register_the_customer_with_the_typed_phone(till):
    client = _client(staff_user(till.merchant, "cashier", stores=[till.store_a]))

    by_phone = client.get(CASHIER, {"q": "0903 999 888"})
    by_card = client.get(CASHIER, {"q": "8868000000028"})

    add = reverse("admin:members_member_add")
    assert by_phone.context["register_url"] == f"{add}?_till=1&phone=0903+999+888"
    assert 'id="register-customer"' in by_phone.content.decode()
    assert by_card.context["register_url"] == f"{add}?_till=1"  # not a phone: nothing to fill in
    form = client.get(by_phone.context["register_url"]).context["adminform"].form
    assert form.initial["phone"] == "0903 999 888"


def test_a_customer_registered_from_the_till_comes_back_to_it_selected(till):
    client = _client(staff_user(till.merchant, "cashier", stores=[till.store_a]))
    offer = client.get(CASHIER, {"q": "0903999888"}).context["register_url"]

    response = client.post(
        offer,
        {
            "phone": "0903999888",
            "full_name": "Lê Văn Cường",
            "gender": "",
            "anniversaries-TOTAL_FORMS": "0",
            "anniversaries-INITIAL_FORMS": "0",
            "anniversaries-MIN_NUM_FORMS": "0",
            "anniversaries-MAX_NUM_FORMS": "1000",
        },
    )

    member = Member.objects.of(till.merchant).get(full_name="Lê Văn Cường")
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == f"{CASHIER}?member={member.pk}"
    basket = client.get(response["Location"])
    assert basket.status_code == 200 and basket.context["member"] == member


def test_only_staff_allowed_to_add_members_are_offered_to_register(till):
    """A merchant's own role that rings up sales but registers no one (B1)."""
    sell = Permission.objects.get(content_type__app_label="sales", codename="add_transaction")
    seller = tenancy.create_role(merchant=till.merchant, name="Seller", permission_ids=[sell.pk])
    staff = tenancy.add_staff(
        merchant=till.merchant, username="seller", password=None, roles=[seller], stores=[till.store_a]
    )

    response = _client(staff).get(CASHIER, {"q": "0903999888"})

    assert response.status_code == 200 and response.context["register_url"] == ""
    assert 'id="register-customer"' not in response.content.decode()


def test_the_basket_offers_the_items_last_sold_in_the_cashiers_stores_at_their_last_price(till):
    confirmed_sale(member=till.member, store=till.store_a, amount=45_000)
    confirmed_sale(member=till.member, store=till.store_a, amount=50_000)  # "Phở bò" again, dearer
    sales.create_transaction(
        merchant=till.merchant,
        store=till.store_b,
        member=till.member,
        lines=[SaleLine(name="Bún chả", quantity=1, unit_price=40_000)],
    )
    client = _client(staff_user(till.merchant, "cashier", stores=[till.store_a]))

    page = client.get(CASHIER, {"member": till.member.pk})

    assert [(item.name, price) for item, price in page.context["recent_items"]] == [("Phở bò", 50_000)]
    assert '<option value="Phở bò" data-price="50000">' in page.content.decode()
    everywhere = Scope(merchant=till.merchant)
    assert [(i.name, i.unit_price) for i in recent_items(scope=everywhere)] == [
        ("Bún chả", 40_000),
        ("Phở bò", 50_000),
    ]


# --- quote, create, confirm, receipt --------------------------------------------------------------------


def test_a_quote_shows_the_points_to_earn_and_writes_nothing(till):
    client = _client(staff_user(till.merchant, "cashier", stores=[till.store_a]))

    response = client.post(CASHIER, {**_basket(client, till), "action": "quote"})

    assert response.status_code == 200
    quote = response.context["quote"]
    assert (quote.total_amount, quote.amount_to_pay, quote.points_to_earn) == (90_000, 90_000, 9)
    assert 'id="quote-points">9<' in response.content.decode()
    assert not Transaction.objects.exists()


def test_a_manual_sale_from_basket_to_receipt(till):
    """2 × 45,000 đồng earn 9 points; the member confirms with their PIN; the receipt shows the balance."""
    cashier = staff_user(till.merchant, "cashier", stores=[till.store_a])
    client = _client(cashier)

    created = client.post(CASHIER, {**_basket(client, till, external_ref="HD-9"), "action": "create"})

    sale = Transaction.objects.get()
    assert created.status_code == 302
    assert created["Location"] == reverse("backoffice:cashier_confirm", args=[sale.pk])
    assert (sale.status, sale.channel, sale.store, sale.created_by) == (
        TransactionStatus.PENDING,
        Channel.BACK_OFFICE,
        till.store_a,
        cashier.user,
    )
    assert _points(till.member) == 0

    page = client.get(created["Location"])
    token = re.search(r'id="confirm-pin">.*?name="token" value="([0-9a-f]{32})"', page.content.decode(), re.S)
    confirmed = client.post(created["Location"], {"token": token.group(1), "method": "pin", "pin": PIN})

    sale.refresh_from_db()
    assert confirmed["Location"] == reverse("backoffice:cashier_receipt", args=[sale.pk])
    assert (sale.status, sale.confirm_method, sale.points_earned) == (TransactionStatus.CONFIRMED, "pin", 9)
    assert _points(till.member) == 9
    receipt = client.get(confirmed["Location"]).content.decode()
    assert 'id="receipt-points-balance">9<' in receipt
    assert "90.000\xa0₫" in receipt and "HD-9" in receipt


def test_posting_the_same_basket_twice_records_one_sale(till):
    client = _client(staff_user(till.merchant, "cashier", stores=[till.store_a]))
    basket = {**_basket(client, till), "action": "create"}

    first = client.post(CASHIER, basket)
    second = client.post(CASHIER, basket)

    assert Transaction.objects.count() == 1
    assert first["Location"] == second["Location"]


def test_a_used_token_with_another_basket_is_refused(till):
    client = _client(staff_user(till.merchant, "cashier", stores=[till.store_a]))
    basket = {**_basket(client, till), "action": "create"}
    client.post(CASHIER, basket)

    changed = client.post(CASHIER, {**basket, "lines-0-quantity": "3"})

    assert changed.status_code == 422
    assert Transaction.objects.count() == 1
    assert "Biểu mẫu này đã được gửi với các giá trị khác" in changed.content.decode()  # the staff's language


def test_a_wrong_pin_is_counted_once_even_when_posted_twice(till):
    client = _client(staff_user(till.merchant, "cashier", stores=[till.store_a]))
    client.post(CASHIER, {**_basket(client, till), "action": "create"})
    sale = Transaction.objects.get()
    url = reverse("backoffice:cashier_confirm", args=[sale.pk])
    wrong = {"token": "0" * 32, "method": "pin", "pin": "0000"}

    first = client.post(url, wrong, follow=True)
    client.post(url, wrong)

    sale.refresh_from_db()
    assert (sale.status, sale.failed_confirmations) == (TransactionStatus.PENDING, 1)
    assert "PIN" in first.content.decode()
    assert IdempotencyRecord.objects.filter(key=f"form:{'0' * 32}", status_code=422).count() == 1


def test_a_second_staff_member_confirms_when_the_merchant_allows_it(till):
    rules = SalesSettings.for_merchant(till.merchant)
    rules.confirm_with_pin = rules.confirm_with_otp = False
    rules.save()
    client = _client(staff_user(till.merchant, "cashier", stores=[till.store_a]))
    manager = staff_user(till.merchant, "store_manager", stores=[till.store_a], username="quản-lý")
    client.post(CASHIER, {**_basket(client, till), "action": "create"})
    sale = Transaction.objects.get()
    url = reverse("backoffice:cashier_confirm", args=[sale.pk])
    page = client.get(url).content.decode()
    assert 'id="confirm-staff"' in page and 'id="confirm-pin"' not in page
    # The cursor starts in the one form there is: the second staff member's user name (issue 14).
    assert re.search(
        r'<input type="text" name="username" id="id_username" autocomplete="off" autofocus', page
    )

    pin_refused = client.post(url, {"token": "1" * 32, "method": "pin", "pin": PIN})
    client.post(
        url,
        {
            "token": "2" * 32,
            "method": "staff",
            "username": "quản-lý",
            "password": "correct horse battery staple",
        },
    )

    assert pin_refused.status_code == 302
    sale.refresh_from_db()
    assert (sale.status, sale.confirm_method, sale.confirmed_by) == ("confirmed", "staff", manager.user)


def test_the_cashier_may_spend_points_and_sees_the_shortfall_as_an_error(till):
    client = _client(staff_user(till.merchant, "cashier", stores=[till.store_a]))

    response = client.post(CASHIER, {**_basket(client, till, points_to_spend="50"), "action": "quote"})

    assert response.status_code == 422
    assert response.context["quote"] is None
    assert not Transaction.objects.exists()


# --- who may use it, and where ------------------------------------------------------------------------


def test_only_staff_allowed_to_add_transactions_use_the_cashier_screen(till, django_user_model):
    marketing = _client(staff_user(till.merchant, "marketing"))
    operator = Client()
    operator.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "x"))

    assert marketing.get(CASHIER).status_code == 403
    assert operator.get(CASHIER).status_code == 403


def test_a_store_scoped_cashier_cannot_sell_in_another_store(till):
    client = _client(staff_user(till.merchant, "cashier", stores=[till.store_a]))

    response = client.post(CASHIER, {**_basket(client, till, store=str(till.store_b.pk)), "action": "create"})

    assert response.status_code == 422
    assert not Transaction.objects.exists()


def test_a_cashier_sees_no_sale_of_another_store(till):
    in_b = _client(staff_user(till.merchant, "cashier", stores=[till.store_b]))
    in_a = _client(staff_user(till.merchant, "cashier", stores=[till.store_a]))
    in_a.post(CASHIER, {**_basket(in_a, till), "action": "create"})
    sale = Transaction.objects.get()

    assert in_b.get(reverse("backoffice:cashier_confirm", args=[sale.pk])).status_code == 404
    assert in_b.get(reverse("backoffice:cashier_receipt", args=[sale.pk])).status_code == 404


def test_all_store_staff_choose_the_store(till):
    client = _client(staff_user(till.merchant, "store_manager"))

    page = client.get(CASHIER, {"member": till.member.pk})

    store_field = page.context["basket"].fields["store"]
    assert set(store_field.queryset) == {till.store_a, till.store_b}
    assert '<select name="store"' in page.content.decode()


def test_a_card_issued_in_another_store_works_at_this_till(till):
    """A2: the card was activated in store B; a cashier of store A scans it and sells."""
    from tessera.cards import services as cards
    from tessera.cards.models import Card

    batch = cards.generate_batch(merchant=till.merchant, card_type=till.card.type, quantity=1)
    in_b = cards.activate_card(
        card=Card.objects.get(batch=batch), phone=str(till.member.phone), store=till.store_b
    )
    client = _client(staff_user(till.merchant, "cashier", stores=[till.store_a]))

    found = client.get(CASHIER, {"q": in_b.number})
    basket = client.get(found["Location"])

    assert basket.status_code == 200 and basket.context["card"] == in_b


def test_the_member_confirms_with_a_code_texted_to_them(till, settings, tmp_path):
    import json

    settings.SMS_BACKEND, settings.VAR_DIR = "file", tmp_path
    client = _client(staff_user(till.merchant, "cashier", stores=[till.store_a]))
    client.post(CASHIER, {**_basket(client, till), "action": "create"})
    sale = Transaction.objects.get()
    url = reverse("backoffice:cashier_confirm", args=[sale.pk])

    sent = client.post(url, {"token": "3" * 32, "method": "send_otp"}, follow=True)
    client.post(url, {"token": "3" * 32, "method": "send_otp"})  # a double click texts once
    texts = (tmp_path / "sms.log").read_text().splitlines()
    (code,) = re.findall(r"\b\d{6}\b", json.loads(texts[-1])["text"])
    client.post(url, {"token": "4" * 32, "method": "otp", "otp": code})

    assert len(texts) == 1 and "+84912345678" in sent.content.decode()
    sale.refresh_from_db()
    assert (sale.status, sale.confirm_method) == (TransactionStatus.CONFIRMED, "otp")
