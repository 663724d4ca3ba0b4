"""Stored value (E6): top up a card, with bonus rules; reverse a tip charged to a card; refund to a card.

Stored value lives in the card family's ledger account (`Card.account`, kind stored_value). Spending it
at the POS is not here: a sale spends it through `stored_value_to_spend` in `sales.services` (held at
create, captured at confirm, given back by void and refund), the one spend path.

Entries, all in one database transaction per call:
- a top-up credits the card account with a TOP_UP entry, and its bonus (`rewards.TopUpBonusRule`) as
  BONUS entries: value on the card account, points on the member's points account (available at once,
  expiring like earned points);
- a tip reversal is a REVERSAL of the sale's stored-value spend, never more than is left of it;
- a refund to a card is an ADJUST credit, named after the sale it refunds when there is one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tessera.cards import services as cards
from tessera.cards.models import Card, CardKind, PaymentMethod
from tessera.core.errors import Conflict, NotFound, ValidationFailed
from tessera.core.events import publish
from tessera.core.formatting import format_money
from tessera.core.transactions import atomic
from tessera.ledger import services as ledger
from tessera.ledger.models import Account, AccountKind, Entry, EntryKind
from tessera.ledger.reasons import Reason
from tessera.members import services as members
from tessera.points.policy import lot_dates, policy_of
from tessera.rewards.models import TopUpBonusRule
from tessera.sales.models import TopUp, Transaction, TransactionStatus
from tessera.tenancy.models import ApiKey, Store
from tessera.tenancy.permissions import authorise

#: The payment method a top-up may never use (E6).
STORED_VALUE = "stored_value"
#: Ledger `source` of a refund to a card that names no sale.
CARD_REFUND_SOURCE = "card:refund"


def _same_merchant(merchant_id: int, *objects: Any) -> None:
    for obj in objects:
        if obj is not None and obj.merchant_id != merchant_id:
            raise NotFound(_("Not found."), code="not_found")


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValidationFailed(_("The amount must be a positive whole number."), code="invalid_amount")


def _card_account(card: Card, actor: Any) -> Account:
    """The card family's stored-value account, opened on first use. A main card and its sub-cards share
    one (D5): the main card's row is locked, so two first top-ups of one family open one account."""
    main_id = card.parent_id or card.pk
    Card.objects.select_for_update(of=("self",)).filter(pk=main_id).get()
    current = Card.objects.select_related("type").get(pk=card.pk)
    if current.account_id is not None:
        card.account_id = current.account_id
        return Account.objects.get(pk=current.account_id)
    if current.type.kind != CardKind.STORED_VALUE:
        raise ValidationFailed(_("This card does not hold stored value."), code="not_stored_value_card")
    account = ledger.open_account(merchant=current.merchant, kind=AccountKind.STORED_VALUE, actor=actor)
    Card.objects.filter(Q(pk=main_id) | Q(parent_id=main_id), account__isnull=True).update(account=account)
    card.account = account
    return account


def bonus_rule_for(*, merchant_id: int, amount: int, at: datetime) -> TopUpBonusRule | None:
    """The active rule with the highest minimum that `amount` reaches at `at`; bonuses do not stack."""
    return (
        TopUpBonusRule.objects.of(merchant_id)
        .filter(is_active=True, min_amount__lte=amount)
        .filter(Q(valid_from__isnull=True) | Q(valid_from__lte=at))
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=at))
        .order_by("-min_amount", "-pk")
        .first()
    )


@atomic()
def top_up(
    *,
    card: Card,
    amount: int,
    payment_method: str,
    store: Store,
    actor: Any = None,
    invoice: str = "",
    note: str = "",
    api_key: ApiKey | None = None,
    now: datetime | None = None,
) -> TopUp:
    """Load `amount` onto the card, paid with `payment_method` (cash, bank card, transfer… never stored
    value), and apply the best matching bonus rule. The invoice number is unique per store."""
    merchant = card.merchant
    _same_merchant(merchant.pk, store, api_key)
    authorise(actor, "sales.add_topup", merchant=merchant.pk, store=store)
    _check_amount(amount)
    if payment_method == STORED_VALUE:
        raise ValidationFailed(
            _("A top-up is paid with money, never with the value stored on a card."),
            code="stored_value_payment",
        )
    if payment_method not in PaymentMethod.values:
        raise ValidationFailed(_("Choose a payment method."), code="invalid_payment_method")
    cards.ensure_usable(card)
    if card.member is not None:
        members.ensure_can_transact(card.member)
    invoice = invoice.strip()
    if invoice and TopUp.objects.of(merchant).filter(store=store, invoice_number=invoice).exists():
        raise Conflict(
            _("Invoice %(ref)s is already recorded in this store.") % {"ref": invoice},
            code="duplicate_invoice",
        )
    now = now or timezone.now()
    account = _card_account(card, actor)
    rule = bonus_rule_for(merchant_id=merchant.pk, amount=amount, at=now)
    record = TopUp(
        merchant=merchant,
        card=card,
        account=account,
        store=store,
        api_key=api_key,
        amount=amount,
        currency=merchant.currency,
        payment_method=payment_method,
        invoice_number=invoice,
        bonus_rule=rule,
        note=note[:300],
    )
    record.stamp(actor)
    record.save()
    reason = Reason("top_up_invoice", {"invoice": invoice}) if invoice else Reason("top_up")
    record.entry = ledger.credit(
        account=account,
        amount=amount,
        kind=EntryKind.TOP_UP,
        store=store,
        actor=actor,
        source=record.source,
        reason=reason,
        sale_amount=amount,
        now=now,
    )
    if rule is not None:
        bonus_reason = Reason("top_up_bonus", {"rule": rule.name})
        if rule.bonus_value:
            record.bonus_value = rule.bonus_value
            record.bonus_value_entry = ledger.credit(
                account=account,
                amount=rule.bonus_value,
                kind=EntryKind.BONUS,
                store=store,
                actor=actor,
                source=record.source,
                reason=bonus_reason,
                now=now,
            )
        if rule.bonus_points and card.member is not None:
            dates = lot_dates(policy_of(merchant), earned_at=now, tz=merchant.tz)
            points = ledger.open_account(merchant=merchant, kind=AccountKind.POINTS, member=card.member)
            record.bonus_points = rule.bonus_points
            record.bonus_points_entry = ledger.credit(
                account=points,
                amount=rule.bonus_points,
                kind=EntryKind.BONUS,
                store=store,
                actor=actor,
                source=record.source,
                reason=bonus_reason,
                available_at=dates.available_at,
                expires_at=dates.expires_at,
                now=now,
            )
    record.save(
        update_fields=["entry", "bonus_value", "bonus_value_entry", "bonus_points", "bonus_points_entry"]
    )
    publish(
        merchant_id=merchant.pk,
        type="stored_value.topped_up",
        payload={
            "top_up_id": record.pk,
            "card_id": card.pk,
            "member_id": card.member_id,
            "amount": amount,
            "bonus_value": record.bonus_value,
            "bonus_points": record.bonus_points,
        },
    )
    return record


def _unreversed(entry: Entry) -> int:
    reversed_so_far = Entry.objects.filter(reverses=entry).aggregate(total=Sum("amount"))["total"] or 0
    return abs(entry.amount) - abs(reversed_so_far)


@atomic()
def reverse_tip(
    *,
    amount: int,
    transaction: Transaction | None = None,
    entry: Entry | None = None,
    store: Store | None = None,
    actor: Any = None,
    reason: str = "",
    now: datetime | None = None,
) -> Entry:
    """Give back a tip charged to a card: `amount` of the sale's stored-value spend (or of `entry`, a
    stored-value spend), never more than is left of it after earlier reversals and refunds."""
    _check_amount(amount)
    if transaction is not None:
        sale = Transaction.objects.select_for_update(of=("self",)).get(pk=transaction.pk)
        if sale.status != TransactionStatus.CONFIRMED:
            raise Conflict(
                _("Only a confirmed sale can be changed."), code="not_confirmed", status=sale.status
            )
        entry = sale.stored_value_spend_entry
    if entry is None:
        raise ValidationFailed(_("Nothing was paid with stored value here."), code="no_stored_value_spend")
    entry = Entry.objects.select_related("account", "store").get(pk=entry.pk)
    if entry.kind != EntryKind.SPEND or entry.account.kind != AccountKind.STORED_VALUE:
        raise ValidationFailed(
            _("Only a payment with stored value can be given back."), code="not_a_stored_value_spend"
        )
    _same_merchant(entry.merchant_id, store)
    store = store or entry.store
    authorise(actor, "sales.refund_transaction", merchant=entry.merchant_id, store=store)
    left = _unreversed(entry)
    if amount > left:
        raise ValidationFailed(
            _("Only %(left)s of this payment is left to give back.") % {"left": left},
            code="tip_exceeds_charge",
            left=left,
        )
    reversal = ledger.reverse(
        entry=entry,
        amount=amount,
        store=store,
        actor=actor,
        reason=Reason("tip_reversed", note=reason),
        now=now,
    )
    assert reversal is not None  # `left` covered it, under the sale's lock or the ledger's
    return reversal


@atomic()
def refund_to_card(
    *,
    card: Card,
    amount: int,
    store: Store,
    actor: Any = None,
    transaction: Transaction | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> Entry:
    """Refund money onto the card as stored value. With `transaction`, at most what the sale was paid
    with other than stored value (stored value comes back through `refund_transaction`), all refunds to
    cards of that sale together."""
    merchant = card.merchant
    _same_merchant(merchant.pk, store, transaction)
    authorise(actor, "sales.refund_transaction", merchant=merchant.pk, store=store)
    _check_amount(amount)
    cards.ensure_usable(card)
    source = CARD_REFUND_SOURCE
    if transaction is not None:
        sale = Transaction.objects.select_for_update(of=("self",)).get(pk=transaction.pk)
        if sale.status != TransactionStatus.CONFIRMED:
            raise Conflict(
                _("Only a confirmed sale can be refunded."), code="not_confirmed", status=sale.status
            )
        if sale.member_id != card.member_id:
            raise ValidationFailed(_("This card belongs to another member."), code="card_member_mismatch")
        source = sale.source
        paid = sale.amount_due - sale.stored_value_to_spend
        already = (
            Entry.objects.of(merchant)
            .filter(
                source=source, kind=EntryKind.ADJUST, account__kind=AccountKind.STORED_VALUE, amount__gt=0
            )
            .aggregate(total=Sum("amount"))["total"]
            or 0
        )
        if amount > paid - already:
            raise ValidationFailed(
                _("At most %(left)s of this sale can still be refunded to a card.")
                % {"left": format_money(max(paid - already, 0), merchant.currency)},
                code="refund_exceeds_payment",
                left=max(paid - already, 0),
            )
    account = _card_account(card, actor)
    return ledger.credit(
        account=account,
        amount=amount,
        kind=EntryKind.ADJUST,
        store=store,
        actor=actor,
        source=source,
        reason=Reason("card_refund", note=reason),
        now=now,
    )
