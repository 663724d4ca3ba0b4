"""Stored value (E6) and paying with points (E7): top-ups with bonuses, spending at the POS, tips given
back, refunds to a card; points paying part of a sale, rounded down, in VND and CNY."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from tests.factories import MemberFactory, StoreFactory, staff_user

from tessera.core.errors import DomainError
from tessera.ledger.models import Account, AccountKind, Entry, EntryKind
from tessera.members.models import MemberStatus
from tessera.points.services import save_policy
from tessera.rewards.tests.factories import TopUpBonusRuleFactory
from tessera.sales import services, stored_value
from tessera.sales.models import TopUp
from tessera.sales.services import SaleLine
from tessera.sales.tests.conftest import PIN, active_card

pytestmark = pytest.mark.django_db


@pytest.fixture
def card(member):
    return active_card(member, kind="stored_value")


def stored(card) -> int:
    card.refresh_from_db()
    return Account.objects.get(pk=card.account_id).balance


def points(member) -> int:
    account = Account.objects.filter(member=member, kind=AccountKind.POINTS).first()
    return account.balance if account else 0


def pay_with_card(member, store, card, amount, value):
    sale = services.create_transaction(
        merchant=member.merchant,
        store=store,
        member=member,
        card=card,
        lines=[SaleLine("Lẩu", 1, amount)],
        stored_value_to_spend=value,
    )
    return services.confirm_transaction(transaction=sale, method="pin", pin=PIN)


# --- top-ups ------------------------------------------------------------------------------------------


def test_e6_top_up_without_a_rule_loads_exactly_what_was_paid(merchant, store, member, card):
    record = stored_value.top_up(
        card=card, amount=200_000, payment_method="cash", store=store, invoice="NT-1"
    )

    assert stored(card) == 200_000
    assert (record.bonus_rule, record.bonus_value, record.bonus_points) == (None, 0, 0)
    entry = Entry.objects.get(account_id=card.account_id)
    assert (entry.kind, entry.amount, entry.source, entry.store) == (
        EntryKind.TOP_UP,
        200_000,
        f"topup:{record.pk}",
        store,
    )


def test_e6_top_up_5000_receives_5000_points(merchant, store, member, card):
    TopUpBonusRuleFactory(merchant=merchant, name="5k → 5k points", min_amount=5000, bonus_points=5000)

    record = stored_value.top_up(card=card, amount=5000, payment_method="bank_card", store=store)

    assert stored(card) == 5000
    assert points(member) == 5000
    bonus = Entry.objects.get(account__member=member, account__kind=AccountKind.POINTS)
    assert (bonus.kind, bonus.amount, bonus.source) == (EntryKind.BONUS, 5000, f"topup:{record.pk}")
    assert bonus.lots.get().expires_at is not None  # bonus points expire like earned ones (12 months)
    assert (record.bonus_points, record.bonus_value) == (5000, 0)


def test_e6_top_up_1000000_receives_1100000_of_value(merchant, store, member, card):
    TopUpBonusRuleFactory(merchant=merchant, min_amount=1_000_000, bonus_value=100_000)

    record = stored_value.top_up(card=card, amount=1_000_000, payment_method="bank_transfer", store=store)

    assert stored(card) == 1_100_000
    assert points(member) == 0
    kinds = sorted(Entry.objects.filter(account_id=card.account_id).values_list("kind", "amount"))
    assert kinds == [(EntryKind.BONUS, 100_000), (EntryKind.TOP_UP, 1_000_000)]
    assert (record.bonus_points, record.bonus_value) == (0, 100_000)


def test_e6_the_highest_rule_reached_applies_and_bonuses_do_not_stack(merchant, store, member, card):
    TopUpBonusRuleFactory(merchant=merchant, min_amount=500_000, bonus_value=25_000)
    best = TopUpBonusRuleFactory(
        merchant=merchant, min_amount=1_000_000, bonus_value=100_000, bonus_points=50
    )
    TopUpBonusRuleFactory(merchant=merchant, min_amount=2_000_000, bonus_value=300_000)
    TopUpBonusRuleFactory(merchant=merchant, min_amount=100, bonus_value=999, is_active=False)
    TopUpBonusRuleFactory(
        merchant=merchant, min_amount=100, bonus_value=999, valid_until=timezone.now() - timedelta(days=1)
    )

    record = stored_value.top_up(card=card, amount=1_500_000, payment_method="cash", store=store)

    assert record.bonus_rule == best
    assert stored(card) == 1_600_000
    assert points(member) == 50


def test_e6_another_merchants_bonus_rule_never_applies(merchant, other_merchant, store, member, card):
    TopUpBonusRuleFactory(merchant=other_merchant, min_amount=1000, bonus_value=1000)

    stored_value.top_up(card=card, amount=5000, payment_method="cash", store=store)

    assert stored(card) == 5000


def test_e6_a_top_up_cannot_be_paid_with_the_cards_own_value(store, member, card):
    stored_value.top_up(card=card, amount=100_000, payment_method="cash", store=store)

    with pytest.raises(DomainError) as refused:
        stored_value.top_up(card=card, amount=50_000, payment_method="stored_value", store=store)

    assert refused.value.code == "stored_value_payment"
    assert stored(card) == 100_000
    assert TopUp.objects.count() == 1


def test_e6_top_up_refuses_unknown_methods_duplicate_invoices_and_excluded_members(store, member, card):
    with pytest.raises(DomainError) as unknown:
        stored_value.top_up(card=card, amount=1000, payment_method="gold", store=store)
    stored_value.top_up(card=card, amount=1000, payment_method="cash", store=store, invoice="NT-9")
    with pytest.raises(DomainError) as duplicate:
        stored_value.top_up(card=card, amount=1000, payment_method="cash", store=store, invoice="NT-9")
    member.status = MemberStatus.EXCLUDED
    member.save(update_fields=["status"])
    card.refresh_from_db()
    with pytest.raises(DomainError) as excluded:
        stored_value.top_up(card=card, amount=1000, payment_method="cash", store=store)

    assert (unknown.value.code, duplicate.value.code, excluded.value.code) == (
        "invalid_payment_method",
        "duplicate_invoice",
        "member_not_active",
    )
    assert stored(card) == 1000


def test_e6_a_points_card_holds_no_stored_value(store, member):
    with pytest.raises(DomainError) as refused:
        stored_value.top_up(card=active_card(member), amount=1000, payment_method="cash", store=store)

    assert refused.value.code == "not_stored_value_card"


def test_e6_a_store_scoped_cashier_tops_up_only_in_their_store(merchant, store, store2, member, card):
    cashier = staff_user(merchant, "cashier", stores=[store]).user

    stored_value.top_up(card=card, amount=1000, payment_method="cash", store=store, actor=cashier)
    with pytest.raises(DomainError) as elsewhere:
        stored_value.top_up(card=card, amount=1000, payment_method="cash", store=store2, actor=cashier)

    assert elsewhere.value.code == "wrong_store"
    assert TopUp.objects.get().created_by == cashier


def test_e6_a_store_of_another_merchant_is_not_found(other_merchant, member, card):
    with pytest.raises(DomainError) as refused:
        stored_value.top_up(
            card=card, amount=1000, payment_method="cash", store=StoreFactory(merchant=other_merchant)
        )

    assert refused.value.code == "not_found"


def test_e6_topped_up_value_is_spent_at_the_pos_through_the_sale(store, member, card):
    stored_value.top_up(card=card, amount=300_000, payment_method="cash", store=store)

    sale = pay_with_card(member, store, card, 250_000, 250_000)

    assert stored(card) == 50_000
    assert sale.stored_value_spend_entry.amount == -250_000
    assert points(member) == 25  # stored value is prepaid money: it earns like cash


# --- tips and refunds ---------------------------------------------------------------------------------


def test_e6_a_tip_charged_to_the_card_is_given_back(store, member, card):
    stored_value.top_up(card=card, amount=300_000, payment_method="cash", store=store)
    sale = pay_with_card(member, store, card, 230_000, 230_000)  # 200,000 meal + 30,000 tip
    assert stored(card) == 70_000

    reversal = stored_value.reverse_tip(transaction=sale, amount=30_000, reason="Tip refused")

    assert stored(card) == 100_000
    assert (reversal.kind, reversal.amount, reversal.reverses_id) == (
        EntryKind.REVERSAL,
        30_000,
        sale.stored_value_spend_entry_id,
    )
    with pytest.raises(DomainError) as too_much:
        stored_value.reverse_tip(transaction=sale, amount=200_001)
    assert too_much.value.code == "tip_exceeds_charge"
    assert too_much.value.detail["left"] == 200_000


def test_e6_a_tip_can_only_be_reversed_on_a_sale_paid_with_stored_value(store, member, card):
    sale = services.create_transaction(
        merchant=member.merchant, store=store, member=member, lines=[SaleLine("Phở", 1, 50_000)]
    )
    with pytest.raises(DomainError) as pending:
        stored_value.reverse_tip(transaction=sale, amount=1000)
    services.confirm_transaction(transaction=sale, method="pin", pin=PIN)
    with pytest.raises(DomainError) as cash:
        stored_value.reverse_tip(transaction=sale, amount=1000)

    assert (pending.value.code, cash.value.code) == ("not_confirmed", "no_stored_value_spend")


def test_e6_refund_to_card_credits_at_most_what_the_sale_was_paid_otherwise(store, member, card):
    stored_value.top_up(card=card, amount=100_000, payment_method="cash", store=store)
    sale = pay_with_card(member, store, card, 150_000, 100_000)  # 50,000 paid in cash

    entry = stored_value.refund_to_card(card=card, amount=40_000, store=store, transaction=sale)
    with pytest.raises(DomainError) as too_much:
        stored_value.refund_to_card(card=card, amount=10_001, store=store, transaction=sale)

    assert (entry.kind, entry.amount, entry.source) == (EntryKind.ADJUST, 40_000, f"sale:{sale.pk}")
    assert stored(card) == 40_000
    assert too_much.value.code == "refund_exceeds_payment"
    assert too_much.value.detail["left"] == 10_000


def test_e6_refund_to_card_without_a_sale(store, member, card):
    stored_value.refund_to_card(card=card, amount=25_000, store=store, reason="Late delivery")

    assert stored(card) == 25_000
    assert Entry.objects.get(account_id=card.account_id).source == stored_value.CARD_REFUND_SOURCE


# --- paying with points (E7) --------------------------------------------------------------------------


def test_e7_points_pay_part_of_a_vnd_sale_and_earn_only_on_the_rest(merchant, store, member):
    services.add_points(member=member, store=store, actor=None, points=1000)
    lines = [SaleLine("Bún chả", 1, 123_456)]

    quote = services.quote_sale(
        merchant=merchant, store=store, member=member, lines=lines, points_to_spend=300
    )

    # A point is worth 100 đồng: 300 points pay 30,000; 93,456 are left; earning is on 93,456 → 9 points.
    assert (quote.points_spend_value, quote.amount_to_pay, quote.points_to_earn) == (30_000, 93_456, 9)
    assert quote.points_max_to_spend == 1000  # the whole balance fits in 123,456
    sale = services.create_transaction(
        merchant=merchant, store=store, member=member, lines=lines, points_to_spend=300
    )
    services.confirm_transaction(transaction=sale, method="pin", pin=PIN)
    assert points(member) == 1000 - 300 + 9


def test_e7_the_most_points_a_vnd_basket_takes_is_rounded_down(merchant, store, member):
    services.add_points(member=member, store=store, actor=None, points=5000)
    lines = [SaleLine("Trà", 1, 12_345)]

    quote = services.quote_sale(merchant=merchant, store=store, member=member, lines=lines)
    assert quote.points_max_to_spend == 123  # 123 points pay 12,300; 124 would pay 12,400 > 12,345

    with pytest.raises(DomainError) as over:
        services.quote_sale(merchant=merchant, store=store, member=member, lines=lines, points_to_spend=124)
    assert over.value.code == "overpayment"


def test_e7_cny_points_pay_in_fen_rounded_down(other_merchant):
    save_policy(merchant=other_merchant, point_value=Decimal("0.5"))  # two points pay one fen
    store = StoreFactory(merchant=other_merchant)
    member = MemberFactory(merchant=other_merchant, phone="+8613800138000")
    services.add_points(member=member, store=store, actor=None, points=1001)
    lines = [SaleLine("乌龙茶", 1, 1999)]  # 19.99 yuan

    quote = services.quote_sale(
        merchant=other_merchant, store=store, member=member, lines=lines, points_to_spend=1001
    )

    # 1001 × 0.5 = 500.5 fen → 500 fen (5.00 yuan) paid; 14.99 yuan left to pay.
    assert (quote.points_spend_value, quote.amount_to_pay) == (500, 1499)
    assert quote.points_max_to_spend == 1001
    with pytest.raises(DomainError) as nothing:
        services.quote_sale(
            merchant=other_merchant, store=store, member=member, lines=lines, points_to_spend=1
        )
    assert nothing.value.code == "points_pay_nothing"  # half a fen is no fen


def test_e7_points_and_stored_value_share_one_payment(store, member, card):
    stored_value.top_up(card=card, amount=50_000, payment_method="cash", store=store)
    services.add_points(member=member, store=store, actor=None, points=400)

    quote = services.quote_sale(
        merchant=member.merchant,
        store=store,
        member=member,
        card=card,
        lines=[SaleLine("Lẩu", 1, 80_000)],
        stored_value_to_spend=50_000,
        points_to_spend=300,
    )

    assert (quote.points_spend_value, quote.amount_to_pay) == (30_000, 0)
    assert quote.points_max_to_spend == 300  # 30,000 left after stored value, 100 đồng a point


# --- API ----------------------------------------------------------------------------------------------


def test_e6_the_pos_tops_up_a_card_with_a_bonus(pos, merchant, member, card):
    TopUpBonusRuleFactory(merchant=merchant, min_amount=1_000_000, bonus_value=100_000, bonus_points=500)
    body = {"card_code": card.number, "amount": 1_000_000, "payment_method": "cash", "invoice": "NT-42"}

    first = pos.post("/stored-value/top-ups", body, key="topup-1")
    retry = pos.post("/stored-value/top-ups", body, key="topup-1")

    assert first.status_code == 201, first.content
    data = first.json()
    assert (data["amount"], data["bonus_value"], data["bonus_points"], data["stored_value_balance"]) == (
        1_000_000,
        100_000,
        500,
        1_100_000,
    )
    assert (data["store_code"], data["invoice"], data["card_number"]) == ("hoan-kiem", "NT-42", card.number)
    assert retry["Idempotent-Replayed"] == "true"
    assert stored(card) == 1_100_000
    assert TopUp.objects.get().api_key is not None


def test_e6_the_api_refuses_paying_a_top_up_with_stored_value(pos, card):
    refused = pos.post(
        "/stored-value/top-ups", {"card_code": card.number, "amount": 1000, "payment_method": "stored_value"}
    )

    assert (refused.status_code, refused.json()["code"]) == (422, "stored_value_payment")


def test_e6_tip_reversal_and_refund_to_card_through_the_api(pos, store, member, card):
    stored_value.top_up(card=card, amount=300_000, payment_method="cash", store=store)
    sale = pay_with_card(member, store, card, 230_000, 200_000)

    tip = pos.post("/stored-value/tip-reversals", {"transaction_id": sale.pk, "amount": 30_000})
    refund = pos.post(
        "/stored-value/refunds", {"card_code": card.number, "amount": 30_000, "transaction_id": sale.pk}
    )

    assert (tip.status_code, tip.json()["amount"], tip.json()["stored_value_balance"]) == (
        201,
        30_000,
        130_000,
    )
    assert (refund.status_code, refund.json()["stored_value_balance"]) == (201, 160_000)
    assert stored(card) == 160_000


def test_a1_stored_value_endpoints_refuse_another_merchants_cards_and_sales(
    pos, other_pos, store, member, card
):
    stored_value.top_up(card=card, amount=300_000, payment_method="cash", store=store)
    sale = pay_with_card(member, store, card, 100_000, 100_000)

    top_up = other_pos.post(
        "/stored-value/top-ups", {"card_code": card.number, "amount": 1000, "payment_method": "cash"}
    )
    tip = other_pos.post("/stored-value/tip-reversals", {"transaction_id": sale.pk, "amount": 1000})
    refund = other_pos.post("/stored-value/refunds", {"card_code": card.number, "amount": 1000})

    assert (top_up.status_code, top_up.json()["code"]) == (404, "card_not_found")
    assert (tip.status_code, tip.json()["code"]) == (404, "transaction_not_found")
    assert (refund.status_code, refund.json()["code"]) == (404, "card_not_found")
    assert stored(card) == 200_000


def test_e7_the_quote_states_what_points_pay(pos, store, member):
    services.add_points(member=member, store=store, actor=None, points=5000)

    quote = pos.post(
        "/quote",
        {
            "member_id": member.pk,
            "lines": [{"name": "Trà", "quantity": 1, "unit_price": 12_345}],
            "points_to_spend": 100,
        },
    )

    assert quote.status_code == 200, quote.content
    data = quote.json()
    assert (data["points_spend_value"], data["amount_to_pay"], data["points_max_to_spend"]) == (
        10_000,
        2345,
        123,
    )
