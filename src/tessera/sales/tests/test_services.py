"""The sale's life through the services: quote, two-step confirm, void, refund, points by hand (E1–E4, E9)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from tests.factories import MemberFactory, staff_user

from tessera.core.errors import DomainError
from tessera.ledger import services as ledger
from tessera.ledger.models import Account, AccountKind, Entry, EntryKind, HoldStatus, Lot
from tessera.ledger.selectors import with_live_balances
from tessera.members.models import MemberStatus
from tessera.points.services import save_policy
from tessera.sales import services
from tessera.sales.models import ConfirmMethod, Transaction, TransactionStatus
from tessera.sales.services import SaleLine
from tessera.sales.tests.conftest import PIN, active_card

pytestmark = pytest.mark.django_db

BASKET = [
    SaleLine(sku="PHO-BO", name="Phở bò", quantity=2, unit_price=65000),  # 130,000
    SaleLine(sku="TRA-DA", name="Trà đá", quantity=4, unit_price=5000),  # 20,000
    SaleLine(sku="CHA-GIO", name="Chả giò", quantity=3, unit_price=35000),  # 105,000
]  # total 255,000 đồng


def points(member) -> Account:
    return Account.objects.get(member=member, kind=AccountKind.POINTS)


def give_points(member, store, amount):
    return services.add_points(member=member, store=store, actor=None, points=amount, note="opening balance")


def sale(merchant, store, member, **kwargs):
    return services.create_transaction(merchant=merchant, store=store, member=member, lines=BASKET, **kwargs)


def test_e1_quote_states_points_discount_and_balances_without_side_effects(merchant, store, member):
    give_points(member, store, 300)
    entries_before = Entry.objects.count()

    quote = services.quote_sale(
        merchant=merchant, store=store, member=member, lines=BASKET, points_to_spend=100
    )

    # 100 points × 100 đồng pay 10,000; the other 245,000 earn floor(24.5) = 24 points.
    assert (quote.total_amount, quote.discount_amount, quote.amount_due) == (255000, 0, 255000)
    assert (quote.points_spend_value, quote.amount_to_pay, quote.points_to_earn) == (10000, 245000, 24)
    assert (quote.points_available, quote.discount_percent, quote.benefits) == (300, 0, [])
    assert Entry.objects.count() == entries_before
    assert Transaction.objects.count() == 0


def test_e1_quote_refuses_spending_more_than_available_or_than_due(merchant, store, member):
    give_points(member, store, 50)
    with pytest.raises(DomainError) as short:
        services.quote_sale(merchant=merchant, store=store, member=member, lines=BASKET, points_to_spend=51)
    with pytest.raises(DomainError) as over:
        services.quote_sale(
            merchant=merchant,
            store=store,
            member=member,
            lines=BASKET[:1],
            points_to_spend=0,
            stored_value_to_spend=130001,
        )
    assert (short.value.code, over.value.code) == ("insufficient_balance", "overpayment")


def test_e2_balances_unchanged_until_confirm_then_spend_and_earn(merchant, store, member):
    give_points(member, store, 300)

    pending = sale(merchant, store, member, points_to_spend=100)

    account = points(member)
    assert (pending.status, pending.points_earned) == (TransactionStatus.PENDING, 24)
    assert (account.balance, account.held, account.spendable) == (300, 100, 200)
    assert Entry.objects.filter(source=pending.source).count() == 0

    services.confirm_transaction(transaction=pending, method="pin", pin=PIN)

    account.refresh_from_db()
    pending.refresh_from_db()
    assert pending.status == TransactionStatus.CONFIRMED
    assert (account.balance, account.held, account.spendable) == (300 - 100 + 24, 0, 224)
    assert sorted(Entry.objects.filter(source=pending.source).values_list("kind", "amount")) == [
        (EntryKind.EARN, 24),
        (EntryKind.SPEND, -100),
    ]
    assert pending.points_hold.status == HoldStatus.CAPTURED


def test_e10_earned_points_are_a_lot_pending_for_the_return_window_and_expiring(
    merchant, store, member, rules
):
    save_policy(merchant=merchant, pending_days=7, expiry_period=12)
    now = timezone.now().replace(year=2026, month=1, day=31)
    pending = sale(merchant, store, member)

    services.confirm_transaction(transaction=pending, method="pin", pin=PIN, now=now)

    lot = Lot.objects.get(entry__source=pending.source)
    assert (lot.amount, lot.available_at, lot.expires_at) == (
        25,
        now + timedelta(days=7),
        now.replace(year=2027),
    )
    # As of the confirmation (the lot falls due a week later, whether or not the release job has run).
    account = with_live_balances(
        Account.objects.filter(member=member, kind=AccountKind.POINTS), now=now
    ).get()
    assert (account.balance, account.live_pending, account.spendable) == (25, 25, 0)


def test_issue_13_sales_and_manual_points_expire_on_the_merchants_calendar(merchant, store, member, rules):
    save_policy(merchant=merchant, pending_days=0, expiry_period=1)
    # 00:30 on 31 January in Ho Chi Minh City, still the 30th in UTC: the points expire at 00:30 on
    # 28 February there (31 January + 1 month), not a day later as counting on the UTC calendar would.
    now = datetime(2027, 1, 30, 17, 30, tzinfo=UTC)
    assert merchant.tz == ZoneInfo("Asia/Ho_Chi_Minh")
    expected = datetime(2027, 2, 28, 0, 30, tzinfo=merchant.tz)
    pending = sale(merchant, store, member)

    services.confirm_transaction(transaction=pending, method="pin", pin=PIN, now=now)
    added = services.add_points(member=member, store=store, actor=None, points=10, now=now)

    sold = Lot.objects.get(entry__source=pending.source)
    by_hand = Lot.objects.get(entry=added)
    assert (sold.available_at, sold.expires_at) == (now, expected)
    assert (by_hand.available_at, by_hand.expires_at) == (now, expected)


def test_e2_wrong_pin_locks_the_sale_after_the_limit_and_it_stays_pending(merchant, store, member, rules):
    rules.confirm_attempt_limit = 3
    rules.save()
    pending = sale(merchant, store, member)

    codes = []
    for _try in range(3):
        with pytest.raises(DomainError) as wrong:
            services.confirm_transaction(transaction=pending, method="pin", pin="0000")
        codes.append((wrong.value.code, wrong.value.detail["attempts_left"]))
    with pytest.raises(DomainError) as locked:
        services.confirm_transaction(transaction=pending, method="pin", pin=PIN)

    assert codes == [("wrong_pin", 2), ("wrong_pin", 1), ("wrong_pin", 0)]
    assert locked.value.code == "confirmation_locked"
    pending.refresh_from_db()
    assert (pending.status, pending.failed_confirmations) == (TransactionStatus.PENDING, 3)
    assert not Account.objects.filter(member=member, balance__gt=0).exists()


def test_e2_wrong_tries_count_per_member_across_sales(merchant, store, member, rules):
    rules.confirm_attempt_limit = 3
    rules.save()
    for _sale in range(3):
        with pytest.raises(DomainError):
            services.confirm_transaction(transaction=sale(merchant, store, member), method="pin", pin="1111")

    fresh = sale(merchant, store, member)
    with pytest.raises(DomainError) as locked:
        services.confirm_transaction(transaction=fresh, method="pin", pin=PIN)
    assert (locked.value.code, locked.value.detail["scope"]) == ("confirmation_locked", "member")

    later = timezone.now() + timedelta(minutes=rules.confirm_lockout_minutes + 1)
    services.confirm_transaction(transaction=fresh, method="pin", pin=PIN, now=later)
    fresh.refresh_from_db()
    assert fresh.status == TransactionStatus.CONFIRMED


def test_e2_otp_is_texted_and_confirms_once(merchant, store, member, settings, tmp_path):
    settings.SMS_BACKEND, settings.VAR_DIR = "file", tmp_path
    pending = sale(merchant, store, member)

    sent = services.request_otp(transaction=pending)

    message = json.loads((tmp_path / "sms.log").read_text().splitlines()[-1])
    code = _six_digits(message["text"])
    assert (message["phone"], sent.phone) == ("+84903123456", "+84903123456")
    with pytest.raises(DomainError) as wrong:
        services.confirm_transaction(transaction=pending, method="otp", otp=_other(code))
    assert wrong.value.code == "wrong_otp"
    services.confirm_transaction(transaction=pending, method="otp", otp=code)
    pending.refresh_from_db()
    assert (pending.status, pending.confirm_method, pending.otp_hash) == ("confirmed", ConfirmMethod.OTP, "")


def test_e2_expired_otp_is_refused(merchant, store, member, settings, tmp_path):
    settings.SMS_BACKEND, settings.VAR_DIR = "file", tmp_path
    pending = sale(merchant, store, member)
    services.request_otp(transaction=pending)
    code = _six_digits(json.loads((tmp_path / "sms.log").read_text().splitlines()[-1])["text"])

    with pytest.raises(DomainError) as expired:
        services.confirm_transaction(
            transaction=pending, method="otp", otp=code, now=timezone.now() + timedelta(minutes=6)
        )
    assert expired.value.code == "otp_expired"


def _six_digits(text: str) -> str:
    import re

    found = re.findall(r"\b\d{6}\b", text)
    assert len(found) == 1, text
    return found[0]


def _other(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_e2_staff_confirmation_needs_a_second_permitted_staff_member(merchant, store, member, other_merchant):
    cashier = staff_user(merchant, "cashier", stores=[store], username="cashier-1").user
    colleague = staff_user(merchant, "cashier", stores=[store], username="cashier-2").user
    marketer = staff_user(merchant, "marketing", username="marketer").user
    outsider = staff_user(other_merchant, "merchant_admin", username="outsider").user
    pending = services.create_transaction(
        merchant=merchant, store=store, member=member, lines=BASKET, actor=cashier, channel="back_office"
    )

    refusals = []
    for user in (cashier, marketer, outsider):
        with pytest.raises(DomainError) as refused:
            services.confirm_transaction(transaction=pending, method="staff", staff_user=user)
        refusals.append(refused.value.code)
    services.confirm_transaction(transaction=pending, method="staff", staff_user=colleague)

    assert refusals == ["same_staff", "staff_cannot_confirm", "staff_cannot_confirm"]
    pending.refresh_from_db()
    assert (pending.status, pending.confirmed_by, pending.created_by) == ("confirmed", colleague, cashier)


def test_e2_a_method_the_merchant_switched_off_is_refused(merchant, store, member, rules):
    rules.confirm_with_pin = False
    rules.save()
    with pytest.raises(DomainError) as refused:
        services.confirm_transaction(transaction=sale(merchant, store, member), method="pin", pin=PIN)
    assert (refused.value.code, refused.value.detail["allowed"]) == ("method_not_allowed", ["otp", "staff"])


def test_c2_excluded_member_cannot_buy_or_confirm(merchant, store, member):
    pending = sale(merchant, store, member)
    member.status = MemberStatus.EXCLUDED
    member.save()
    excluded = MemberFactory(merchant=merchant, status=MemberStatus.EXCLUDED)

    with pytest.raises(DomainError) as create:
        sale(merchant, store, excluded)
    with pytest.raises(DomainError) as confirm:
        services.confirm_transaction(transaction=pending, method="pin", pin=PIN)
    assert (create.value.code, confirm.value.code) == ("member_not_active", "member_not_active")


def test_e9_void_before_confirm_releases_the_holds(merchant, store, member):
    give_points(member, store, 300)
    pending = sale(merchant, store, member, points_to_spend=100)

    services.void_transaction(transaction=pending, reason="customer left")

    account = points(member)
    pending.refresh_from_db()
    assert (pending.status, pending.points_hold.status) == (TransactionStatus.VOIDED, HoldStatus.RELEASED)
    assert (account.balance, account.held, account.spendable) == (300, 0, 300)
    with pytest.raises(DomainError) as again:
        services.void_transaction(transaction=pending)
    assert again.value.code == "already_voided"


def test_e9_void_after_confirm_reverses_every_entry_of_the_sale(merchant, store, member):
    card = active_card(member, kind="stored_value")
    ledger.credit(account=card.account, amount=200000, kind=EntryKind.TOP_UP, store=store)
    give_points(member, store, 300)
    confirmed = sale(merchant, store, member, card=card, points_to_spend=100, stored_value_to_spend=50000)
    services.confirm_transaction(transaction=confirmed, method="pin", pin=PIN)
    card.account.refresh_from_db()
    # Stored value is prepaid money and earns like cash: 245,000 đồng earn 24 points.
    assert (points(member).balance, card.account.balance) == (300 - 100 + 24, 150000)

    services.void_transaction(transaction=confirmed, reason="wrong customer")

    card.account.refresh_from_db()
    assert (points(member).balance, card.account.balance) == (300, 200000)
    assert sorted(Entry.objects.filter(source=confirmed.source).values_list("kind", "amount")) == [
        (EntryKind.EARN, 24),
        (EntryKind.REVERSAL, -24),
        (EntryKind.REVERSAL, 100),
        (EntryKind.REVERSAL, 50000),
        (EntryKind.SPEND, -50000),
        (EntryKind.SPEND, -100),
    ]


def test_e9_partial_refunds_then_the_final_one_add_up_exactly(merchant, store, member):
    """255,000 đồng basket, 100 points spent (10,000 đồng), 24 points earned on the other 245,000."""
    give_points(member, store, 300)
    confirmed = sale(merchant, store, member, points_to_spend=100)
    services.confirm_transaction(transaction=confirmed, method="pin", pin=PIN)
    pho, _tea, spring_rolls = confirmed.lines.order_by("position")
    assert points(member).balance == 224

    first = services.refund_transaction(transaction=confirmed, lines={pho.pk: 1})
    second = services.refund_transaction(transaction=confirmed, lines={spring_rolls.pk: 2})
    last = services.refund_transaction(transaction=confirmed, lines=None)

    rows = [
        (r.amount, r.points_reversed, r.points_returned, r.completes_return) for r in (first, second, last)
    ]
    assert rows == [
        (65000, 6, 25, False),  # floor(24 × 65/255) = 6, floor(100 × 65/255) = 25
        (70000, 6, 27, False),  # 2 of 3 rolls: floor(105,000 × 2/3); floor(6.59) = 6, floor(27.45) = 27
        (120000, 12, 48, True),  # the rest: 65,000 + 20,000 + 35,000; settles 24 − 12 and 100 − 52
    ]
    assert sum(r[0] for r in rows) == 255000
    assert points(member).balance == 300
    with pytest.raises(DomainError) as nothing:
        services.refund_transaction(transaction=confirmed)
    assert nothing.value.code == "nothing_to_refund"


def test_e9_a_line_cannot_be_refunded_beyond_its_quantity(merchant, store, member):
    confirmed = sale(merchant, store, member)
    services.confirm_transaction(transaction=confirmed, method="pin", pin=PIN)
    pho = confirmed.lines.get(sku="PHO-BO")
    services.refund_transaction(transaction=confirmed, lines={pho.pk: 1})

    with pytest.raises(DomainError) as too_many:
        services.refund_transaction(transaction=confirmed, lines={pho.pk: 2})
    assert (too_many.value.code, too_many.value.detail["quantity_left"]) == ("refund_exceeds_quantity", 1)
    assert confirmed.refunds.count() == 1


def test_e9_refund_of_points_already_spent_stops_at_zero(merchant, store, member):
    confirmed = sale(merchant, store, member)
    services.confirm_transaction(transaction=confirmed, method="pin", pin=PIN)
    services.deduct_points(member=member, points=20, reason="gift", store=store, actor=None)

    refund = services.refund_transaction(transaction=confirmed)

    assert (refund.points_reversed, refund.points_shortfall) == (25, 20)
    assert points(member).balance == 0


def test_e9_pending_sale_cannot_be_refunded(merchant, store, member):
    with pytest.raises(DomainError) as refused:
        services.refund_transaction(transaction=sale(merchant, store, member))
    assert refused.value.code == "not_confirmed"


def test_e11_the_same_invoice_cannot_be_recorded_twice_in_a_store(merchant, store, member):
    sale(merchant, store, member, external_ref="HD-1")
    with pytest.raises(DomainError) as duplicate:
        sale(merchant, store, member, external_ref="HD-1")
    assert duplicate.value.code == "duplicate_invoice"


def test_e4_add_points_computes_them_from_the_amount_spent(merchant, store, member):
    cashier = staff_user(merchant, "cashier", stores=[store]).user

    entry = services.add_points(
        member=member, store=store, actor=cashier, amount_spent=259000, note="bill 77"
    )
    given = services.add_points(member=member, store=store, actor=cashier, points=5, note="apology")

    assert (entry.amount, entry.sale_amount, entry.kind, entry.reason) == (25, 259000, "earn", "bill 77")
    assert (given.amount, given.kind, given.created_by) == (5, "adjust", cashier)
    assert points(member).spendable == 30


def test_e4_deduct_points_needs_the_permission_and_a_balance(merchant, store, member):
    give_points(member, store, 40)
    cashier = staff_user(merchant, "cashier", stores=[store]).user
    manager = staff_user(merchant, "store_manager", stores=[store]).user

    with pytest.raises(DomainError) as forbidden:
        services.deduct_points(member=member, points=10, reason="typo", store=store, actor=cashier)
    with pytest.raises(DomainError) as short:
        services.deduct_points(member=member, points=41, reason="typo", store=store, actor=manager)
    entry = services.deduct_points(
        member=member, points=15, reason="typo", store=store, actor=manager, occurred_on=timezone.localdate()
    )

    assert (forbidden.value.code, short.value.code) == ("permission_denied", "insufficient_balance")
    assert (entry.amount, entry.reason, points(member).balance) == (-15, "typo", 25)


def test_b2_store_scoped_cashier_cannot_add_points_in_another_store(merchant, store, store2, member):
    cashier = staff_user(merchant, "cashier", stores=[store]).user
    with pytest.raises(DomainError) as refused:
        services.add_points(member=member, store=store2, actor=cashier, points=5)
    assert refused.value.code == "wrong_store"
