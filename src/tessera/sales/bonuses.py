"""A purchase's bonuses (issue 15 §5): the sales side of `rewards.bonuses`.

`services` calls one function at each step; each costs nothing unless the merchant has a first-purchase
or referral rule (the rules come from the configuration cache), and then:

- confirm: +1 statement (is there an earlier confirmed sale of this member?); on the member's first
  purchase, the grants themselves (per grant: the points account locked, the limits counted, the budget
  taken when the rule has one, the ledger credit, the grant row: posprobe's confirmation of a first
  purchase with one first-purchase grant counts 23 statements);
- void of a confirmed sale: +1 (the bonuses the sale earned), plus the reversal of each;
- refund: +1 only for the refund that completes the return of every line; a partial refund keeps the
  bonus (and costs nothing), even when what is left falls under the rule's minimum.

"First purchase": the member has no other confirmed sale. A voided sale never happened (its bonus is
taken back and the next purchase is the first); a sale refunded in full stays a purchase (its bonus is
taken back and no later purchase is the first).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tessera.members.models import Member
from tessera.rewards import bonuses
from tessera.sales.models import Refund, Transaction, TransactionStatus


def is_first_purchase(*, merchant_id: int, member_id: int, sale_id: int | None = None) -> bool:
    """The member has no confirmed sale (but `sale_id`, the one being confirmed)."""
    return (
        not Transaction.objects.filter(
            merchant_id=merchant_id, member_id=member_id, status=TransactionStatus.CONFIRMED
        )
        .exclude(pk=sale_id)
        .exists()
    )


def confirmed(sale: Transaction, *, actor: Any, now: datetime) -> None:
    if not bonuses.has_purchase_bonuses(sale.merchant_id):
        return
    if not is_first_purchase(merchant_id=sale.merchant_id, member_id=sale.member_id, sale_id=sale.pk):
        return
    member: Member = sale.member
    if not Member.merchant.is_cached(member):
        member.merchant = sale.merchant
    bonuses.reward_first_purchase(
        member=member, sale_id=sale.pk, amount=sale.amount_due, store=sale.store, actor=actor, now=now
    )


def voided(sale: Transaction, *, actor: Any, now: datetime) -> None:
    """After a confirmed sale's entries were reversed."""
    if bonuses.has_purchase_bonuses(sale.merchant_id):
        bonuses.take_back(
            merchant_id=sale.merchant_id,
            sale_id=sale.pk,
            code="bonus_voided",
            store=sale.store,
            actor=actor,
            now=now,
        )


def refunded(refund: Refund, *, actor: Any, now: datetime) -> None:
    if refund.completes_return and bonuses.has_purchase_bonuses(refund.merchant_id):
        bonuses.take_back(
            merchant_id=refund.merchant_id,
            sale_id=refund.transaction_id,
            code="bonus_refunded",
            store=refund.store,
            actor=actor,
            now=now,
        )
