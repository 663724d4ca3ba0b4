"""H1: the staff scanner page finds a card, adds points for an amount (the server computes them),
deducts points, shows the balance and what this user added and deducted today; a retry with the same
idempotency key never adds twice; permissions and store scope hold."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from tests.factories import StoreFactory, staff_user

from tessera.cards.models import Card
from tessera.cards.tests.factories import CardTypeFactory
from tessera.cards.tests.helpers import active_card
from tessera.ledger.models import Account, AccountKind, Entry
from tessera.members.selectors import find_member_by_phone

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def store(merchant):
    return StoreFactory(merchant=merchant, name="Quận 1")


@pytest.fixture
def card(merchant) -> Card:
    return active_card(CardTypeFactory(merchant=merchant), phone="0903123456")


@pytest.fixture
def cashier(client, merchant, store):
    user = staff_user(merchant, "cashier", stores=[store], username="cashier-q1").user
    client.force_login(user)
    return user


def lookup(client, code):
    return client.get(reverse("scanner:lookup"), {"q": code})


def post(client, name, payload, key="key-1"):
    extra = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(
        reverse(f"scanner:{name}"), json.dumps(payload), content_type="application/json", **extra
    )


def balance(member):
    return Account.objects.get(member=member, kind=AccountKind.POINTS).balance


def test_h1_signed_out_staff_are_sent_to_the_back_office_login(client, db):
    response = client.get("/staff/scan/")

    assert response.status_code == 302 and response["Location"] == "/admin/login/?next=/staff/scan/"


def test_h1_staff_without_points_permissions_may_not_scan(client, merchant, store, card):
    client.force_login(staff_user(merchant, "finance", username="finance").user)

    assert client.get("/staff/scan/").status_code == 403
    assert lookup(client, card.number).status_code == 403


def test_h1_the_page_shows_the_cashiers_only_store_and_todays_totals(client, cashier, store):
    response = client.get("/staff/scan/")

    assert response.status_code == 200
    assert response.context["store"] == store
    assert response.context["today"].added == 0 and response.context["today"].deducted == 0
    assert response.context["can_add"] and not response.context["can_deduct"]


def test_h1_a_typed_number_or_scanned_qr_or_phone_finds_the_member(client, cashier, card):
    by_number = lookup(client, card.number).json()
    by_qr = lookup(client, f"TSR1:{card.number}").json()
    by_phone = lookup(client, "0903 123 456").json()

    assert by_number["member"] == by_qr["member"] == by_phone["member"] == card.member_id
    assert by_number["card"] == card.number and by_number["balance"] == 0
    assert by_number["phone_tail"] == "456"


def test_h1_a_card_of_another_merchant_is_not_found(client, cashier, other_merchant):
    foreign = active_card(CardTypeFactory(merchant=other_merchant, number_prefix="7777"), phone="0903123456")

    response = lookup(client, foreign.number)

    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_h1_adding_for_an_amount_computes_the_points_and_a_retry_adds_once(client, cashier, card, store):
    payload = {"member": card.member_id, "amount": "150000"}

    first = post(client, "add", payload, key="add-1")
    retry = post(client, "add", payload, key="add-1")

    assert first.status_code == retry.status_code == 200
    assert first.json() == retry.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert first.json()["points"] == 15  # 1 point per 10,000 đồng
    assert first.json()["today"] == {"added": 15, "deducted": 0}
    [entry] = Entry.objects.filter(account__member=card.member)
    assert entry.amount == 15 and entry.store == store and entry.created_by == cashier
    assert balance(card.member) == 15


def test_h1_a_new_key_is_a_new_action(client, cashier, card):
    post(client, "add", {"member": card.member_id, "amount": "150000"}, key="a")
    post(client, "add", {"member": card.member_id, "amount": "150000"}, key="b")

    assert balance(card.member) == 30


def test_h1_a_write_without_an_idempotency_key_is_refused(client, cashier, card):
    response = post(client, "add", {"member": card.member_id, "amount": "150000"}, key=None)

    assert response.status_code == 400 and response.json()["code"] == "idempotency_key_required"
    assert not Entry.objects.exists()


def test_h1_deducting_needs_the_permission_and_a_reason(client, merchant, store, card):
    post_as_cashier = staff_user(merchant, "cashier", stores=[store], username="c").user
    client.force_login(post_as_cashier)
    post(client, "add", {"member": card.member_id, "amount": "500000"}, key="add")

    denied = post(
        client,
        "deduct",
        {"member": card.member_id, "points": 5, "reason": "Đổi quà", "confirmed": True},
        key="d1",
    )
    assert denied.status_code == 403 and denied.json()["code"] == "permission_denied"

    client.force_login(staff_user(merchant, "store_manager", stores=[store], username="m").user)
    no_reason = post(
        client, "deduct", {"member": card.member_id, "points": 5, "reason": "", "confirmed": True}, key="d2"
    )
    assert no_reason.status_code == 422 and no_reason.json()["code"] == "reason_required"
    done = post(
        client,
        "deduct",
        {"member": card.member_id, "points": 5, "reason": "Đổi quà", "confirmed": True},
        key="d3",
    )

    assert done.status_code == 200
    assert done.json()["points"] == 5 and done.json()["balance"] == 45
    assert done.json()["today"] == {"added": 0, "deducted": 5}  # the manager's own day


def test_h1_a_deduction_is_only_made_once_confirmed(client, merchant, store, card):
    client.force_login(staff_user(merchant, "store_manager", stores=[store], username="m").user)
    post(client, "add", {"member": card.member_id, "amount": "500000"}, key="add")
    card.member.full_name = "Nguyễn Văn An"
    card.member.save(update_fields=["full_name"])
    deduction = {"member": card.member_id, "points": 50, "reason": "Đổi quà"}

    asked = post(client, "deduct", deduction, key="d1")
    not_really = post(client, "deduct", {**deduction, "confirmed": "yes"}, key="d1")

    assert asked.status_code == 422 and asked.json()["code"] == "confirmation_required"
    assert asked.json()["detail"] == "Trừ 50 điểm của Nguyễn Văn An?"
    assert not_really.json()["code"] == "confirmation_required"
    assert balance(card.member) == 50
    done = post(client, "deduct", {**deduction, "confirmed": True}, key="d1")  # the same key: not yet used
    assert done.status_code == 200 and balance(card.member) == 0


def test_h1_add_and_deduct_look_different_and_the_deduction_is_asked_about(client, merchant, store):
    client.force_login(staff_user(merchant, "store_manager", stores=[store], username="m").user)

    response = client.get(reverse("scanner:scan"))
    page = response.content.decode()

    assert 'class="panel action add"' in page and 'class="panel action deduct"' in page
    assert '<dialog id="deduct-confirm"' in page and 'value="confirm"' in page
    # The question, for the page to fill in:
    assert response.context["messages_json"]["deductQuestion"] == "Trừ %(points)s điểm của %(name)s?"


def test_h1_today_totals_are_only_this_users(client, merchant, store, card, cashier):
    post(client, "add", {"member": card.member_id, "amount": "200000"}, key="mine")
    colleague = staff_user(merchant, "cashier", stores=[store], username="colleague").user
    client.force_login(colleague)
    post(client, "add", {"member": card.member_id, "amount": "700000"}, key="theirs")

    client.force_login(cashier)
    assert client.get(reverse("scanner:today")).json() == {"added": 20, "deducted": 0}


def test_h1_all_store_staff_pick_a_store_first_and_it_is_remembered(client, merchant, store, card):
    second = StoreFactory(merchant=merchant, name="Quận 3")
    client.force_login(staff_user(merchant, "merchant_admin", username="boss").user)

    unpicked = post(client, "add", {"member": card.member_id, "amount": "100000"}, key="x")
    assert unpicked.status_code == 409 and unpicked.json()["code"] == "store_required"

    client.post(reverse("scanner:choose_store"), {"store": second.pk})
    assert client.get("/staff/scan/").context["store"] == second
    post(client, "add", {"member": card.member_id, "amount": "100000"}, key="y")

    assert Entry.objects.get(account__member=card.member).store == second


def test_h1_store_scoped_staff_cannot_pick_another_store(client, merchant, store, cashier):
    other_store = StoreFactory(merchant=merchant, name="Quận 3")

    client.post(reverse("scanner:choose_store"), {"store": other_store.pk})

    assert client.get("/staff/scan/").context["store"] == store


def test_h1_a_member_of_another_merchant_cannot_get_points(client, cashier, other_merchant):
    foreign = active_card(CardTypeFactory(merchant=other_merchant, number_prefix="7777"), phone="0912345678")

    response = post(client, "add", {"member": foreign.member_id, "amount": "100000"}, key="z")

    assert response.status_code == 404 and response.json()["code"] == "member_not_found"
    assert not Entry.objects.exists()
    assert find_member_by_phone(merchant=other_merchant, phone="0912345678") == foreign.member


# --- typed amounts (issue 14): read by core.money.parse_money, previewed before anything is saved ----


@pytest.mark.parametrize("typed", ["150.000", "150,000", "150000", "150.000 ₫"])
def test_h1_an_amount_typed_with_thousands_dots_is_read_as_thousands_of_dong(client, cashier, card, typed):
    response = post(client, "add", {"member": card.member_id, "amount": typed})

    assert response.status_code == 200
    assert response.json()["points"] == 15  # 150.000 đồng, not 150 (it used to read "150.000" as 150)
    assert balance(card.member) == 15


@pytest.mark.parametrize(
    ("typed", "code"),
    [("150.5", "too_many_decimals"), ("-150.000", "negative_amount"), ("0", "invalid_amount")],
)
def test_h1_an_amount_that_does_not_read_is_refused_and_adds_nothing(client, cashier, card, typed, code):
    response = post(client, "add", {"member": card.member_id, "amount": typed})

    assert response.status_code == 422 and response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert not Entry.objects.filter(account__member=card.member).exists()


@pytest.fixture
def yuan_cashier(client, other_merchant):
    """A cashier of the tea house: yuan, Chinese screens (decimal point, comma groups)."""
    store = StoreFactory(merchant=other_merchant, name="静安")
    user = staff_user(other_merchant, "cashier", stores=[store], username="cashier-tea").user
    client.force_login(user)
    return user


def test_h1_an_amount_that_could_mean_two_sums_is_refused_with_both_readings(
    client, yuan_cashier, other_merchant
):
    card = active_card(CardTypeFactory(merchant=other_merchant), phone="+8613800138000")

    ambiguous = post(client, "add", {"member": card.member_id, "amount": "1.234"}, key="a")
    plain = post(client, "add", {"member": card.member_id, "amount": "1,234.5"}, key="b")

    assert ambiguous.status_code == 422
    body = ambiguous.json()
    assert body["code"] == "ambiguous_amount" and body["readings"] == ["¥1.234", "¥1,234.00"]
    assert "¥1.234" in body["detail"] and "¥1,234.00" in body["detail"]
    assert plain.status_code == 200
    assert Entry.objects.filter(account__member=card.member).count() == 1


def test_h1_the_page_previews_the_amount_as_it_is_typed(client, cashier):
    page = client.get("/staff/scan/").content.decode()
    good = client.get(reverse("money_preview"), {"text": "150.000"})
    bad = client.get(reverse("money_preview"), {"text": "150.5"})

    assert 'id="amount" name="amount" type="text"' in page and 'data-money="VND"' in page
    assert "tessera/money_preview.js" in page and "(₫)" in page and "VND)" not in page
    assert good.json() == {"amount": 150_000, "display": "150.000\xa0₫"}
    assert bad.status_code == 422 and bad.json()["code"] == "too_many_decimals"


def test_h1_the_preview_is_for_signed_in_staff_only(client, db):
    assert client.get(reverse("money_preview"), {"text": "1"}).status_code in (302, 403)
