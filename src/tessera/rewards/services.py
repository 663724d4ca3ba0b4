"""Every write of the rewards app: gifts for points (E7), points for promo codes (E8), and the
configuration of top-up bonus rules (E6) and occasion discounts (issue 15 §3). (Bonus rules without a
purchase are saved by `tessera.rewards.bonuses`.)

Points are spent through the ledger (`debit`, kind SPEND, source `gift:<id>` or `promo:<id>`), in the
same transaction as the redemption or code it pays for; cancelling a gift redemption reverses that
entry, so the member gets back exactly the lots it used.

Concurrency, each backed by the database:
- gift stock: one guarded UPDATE (`stock >= quantity`) and a check constraint, so it is never oversold;
- per-member gift limit: counted under the member's points-account row lock, which every redemption
  of that member takes first, so two requests at once cannot both squeeze under the limit;
- promo code uses: one guarded UPDATE (`uses_left > 0`) per use and a unique (code, order_ref), so a
  code is used at most `usage_limit` times and a retried order is not a second use.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from django.db import IntegrityError
from django.db import transaction as db_transaction
from django.db.models import Case, F, Sum, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tessera.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from tessera.core.events import publish
from tessera.ledger import services as ledger
from tessera.ledger.models import Account, AccountKind, EntryKind
from tessera.ledger.reasons import Reason
from tessera.members import services as members
from tessera.members.models import Member
from tessera.rewards.models import (
    CodeChannel,
    CodeStatus,
    CodeValueKind,
    Gift,
    GiftRedemption,
    IssuedVia,
    OccasionDiscount,
    PromoCode,
    PromoCodeOffer,
    PromoCodeUse,
    RedemptionStatus,
    TopUpBonusRule,
)
from tessera.tenancy.models import Merchant, Store
from tessera.tenancy.permissions import authorise

#: Unambiguous characters (no 0/O, 1/I/L): a code read aloud or typed from a screen is typed right.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
#: 31^10 ≈ 8·10^14 codes: unguessable for a code that also needs the merchant's API key to check.
CODE_LENGTH = 10


class CodeNotFound(NotFound):
    code = "code_not_found"


class CodeExpired(DomainError):
    code = "code_expired"
    status = 422


class CodeUsedUp(Conflict):
    code = "code_used_up"


class CodeCancelled(Conflict):
    code = "code_cancelled"


class CodeAlreadyUsed(Conflict):
    code = "code_already_used"


def _same_merchant(merchant_id: int, *objects: Any) -> None:
    for obj in objects:
        if obj is not None and obj.merchant_id != merchant_id:
            raise NotFound(_("Not found."), code="not_found")


def _lock_points_account(member: Member) -> Account:
    """The member's points account, row-locked: the one lock every spend of this member waits on."""
    account = ledger.open_account(merchant=member.merchant, kind=AccountKind.POINTS, member=member)
    locked: Account = Account.objects.select_for_update().get(pk=account.pk)
    return locked


# --- gifts (E7) ---------------------------------------------------------------------------------------


@db_transaction.atomic
def save_gift(*, gift: Gift, actor: Any, stock_change: int = 0) -> Gift:
    """Create or edit a catalogue gift. On an existing gift the stock is changed by `stock_change` in one
    guarded update, never overwritten: redemptions taking stock meanwhile are not undone."""
    authorise(
        actor, "rewards.add_gift" if gift._state.adding else "rewards.change_gift", merchant=gift.merchant_id
    )
    gift.stamp(actor)
    if gift._state.adding:
        gift.stock += stock_change
        gift.save()
        return gift
    fields = [
        f.name
        for f in Gift._meta.concrete_fields
        if f.name not in ("id", "stock", "merchant", "created_at", "created_by")
    ]
    gift.save(update_fields=fields)
    if stock_change and not Gift.objects.filter(pk=gift.pk, stock__gte=-stock_change).update(
        stock=F("stock") + stock_change
    ):
        raise ValidationFailed(_("The stock cannot go below zero."), code="stock_below_zero")
    gift.refresh_from_db(fields=["stock"])
    return gift


def _save_setting(row: Any, actor: Any) -> None:
    """Create or edit one row of the rewards' configuration, by someone allowed to (`add_`/`change_`)."""
    action = "add" if row._state.adding else "change"
    authorise(actor, f"rewards.{action}_{row._meta.model_name}", merchant=row.merchant_id)
    row.stamp(actor)
    row.save()


def save_offer(*, offer: PromoCodeOffer, actor: Any) -> PromoCodeOffer:
    """Create or edit a points-for-code offer. Codes already issued keep their value and dates."""
    _save_setting(offer, actor)
    return offer


def save_occasion_discount(*, occasion: OccasionDiscount, actor: Any) -> OccasionDiscount:
    """Create or edit an occasion discount (issue 15 §3); the tills see it on their next request (the
    save renews the merchant's configuration version). Uses already counted are kept."""
    _save_setting(occasion, actor)
    return occasion


def save_top_up_bonus_rule(*, rule: TopUpBonusRule, actor: Any) -> TopUpBonusRule:
    """Create or edit a top-up bonus rule (E6); top-ups already made keep their bonus."""
    _save_setting(rule, actor)
    return rule


@db_transaction.atomic
def request_gift(
    *,
    member: Member,
    gift: Gift,
    quantity: int = 1,
    store: Store | None = None,
    actor: Any = None,
    now: datetime | None = None,
) -> GiftRedemption:
    """Exchange points for a gift: the points are spent and the stock taken now; staff fulfil it later.

    Refused when the gift is inactive (`gift_unavailable`), out of stock (`out_of_stock`), over the
    member's limit (`gift_limit_reached`) or the points are short (`insufficient_balance`)."""
    _same_merchant(member.merchant_id, gift, store)
    authorise(actor, "rewards.add_giftredemption", merchant=member.merchant_id, store=store)
    members.ensure_can_transact(member)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise ValidationFailed(_("The quantity must be a positive whole number."), code="invalid_quantity")
    if not gift.is_active:
        raise ValidationFailed(_("This gift is not available."), code="gift_unavailable")
    account = _lock_points_account(member)
    if gift.per_member_limit is not None:
        held = (
            GiftRedemption.objects.filter(member=member, gift=gift)
            .exclude(status=RedemptionStatus.CANCELLED)
            .aggregate(total=Sum("quantity"))["total"]
            or 0
        )
        if held + quantity > gift.per_member_limit:
            raise ValidationFailed(
                _("A member may redeem this gift at most %(limit)s times.")
                % {"limit": gift.per_member_limit},
                code="gift_limit_reached",
                limit=gift.per_member_limit,
                redeemed=held,
            )
    if not Gift.objects.filter(pk=gift.pk, stock__gte=quantity).update(stock=F("stock") - quantity):
        raise Conflict(_("This gift is out of stock."), code="out_of_stock")
    redemption = GiftRedemption(
        merchant_id=member.merchant_id,
        member=member,
        gift=gift,
        quantity=quantity,
        points=gift.points_cost * quantity,
        store=store,
    )
    redemption.stamp(actor)
    redemption.save()  # first, so the ledger entry can name it; both commit or neither does
    redemption.entry = ledger.debit(
        account=account,
        amount=redemption.points,
        kind=EntryKind.SPEND,
        store=store,
        actor=actor,
        source=redemption.source,
        reason=Reason("gift", {"gift": gift.name, "quantity": quantity}),
        now=now,
    )
    redemption.save(update_fields=["entry"])
    gift.refresh_from_db(fields=["stock"])
    publish(
        merchant_id=member.merchant_id,
        type="gift.requested",
        payload={
            "redemption_id": redemption.pk,
            "member_id": member.pk,
            "gift_id": gift.pk,
            "points": redemption.points,
        },
    )
    return redemption


def _locked_redemption(redemption: GiftRedemption) -> GiftRedemption:
    return (
        GiftRedemption.objects.select_for_update(of=("self",))
        .select_related("gift", "member", "entry")
        .get(pk=redemption.pk)
    )


def _ensure_requested(redemption: GiftRedemption) -> None:
    if redemption.status != RedemptionStatus.REQUESTED:
        raise Conflict(
            _("This redemption is %(status)s.") % {"status": redemption.get_status_display()},
            code="not_requested",
            status=redemption.status,
        )


def fulfil_gift_redemption(
    *, redemption: GiftRedemption, actor: Any, now: datetime | None = None
) -> GiftRedemption:
    """The member received the gift."""
    with db_transaction.atomic():
        current = _locked_redemption(redemption)
        authorise(actor, "rewards.fulfil_giftredemption", merchant=current.merchant_id, store=current.store)
        _ensure_requested(current)
        current.status = RedemptionStatus.FULFILLED
        current.fulfilled_at = now or timezone.now()
        current.stamp(actor)
        current.save()
    redemption.refresh_from_db()
    return current


def cancel_gift_redemption(
    *, redemption: GiftRedemption, actor: Any = None, reason: str = "", now: datetime | None = None
) -> GiftRedemption:
    """Cancel a requested redemption: the points go back to the lots they came from, the gift to stock."""
    now = now or timezone.now()
    with db_transaction.atomic():
        current = _locked_redemption(redemption)
        authorise(actor, "rewards.cancel_giftredemption", merchant=current.merchant_id, store=current.store)
        _ensure_requested(current)
        Gift.objects.filter(pk=current.gift_id).update(stock=F("stock") + current.quantity)
        current.status = RedemptionStatus.CANCELLED
        _give_points_back(
            current, actor=actor, note=Reason("gift_cancelled", {"redemption": current.pk}, reason), now=now
        )
        publish(
            merchant_id=current.merchant_id,
            type="gift.cancelled",
            payload={"redemption_id": current.pk, "member_id": current.member_id, "points": current.points},
        )
    redemption.refresh_from_db()
    return current


def _give_points_back(
    current: GiftRedemption | PromoCode, *, actor: Any, note: Reason, now: datetime
) -> None:
    """Reverse the points `current` took (to the very lots) and save it as cancelled, with the reason."""
    assert current.entry is not None  # written with the redemption or code, in its transaction
    current.reversal_entry = ledger.reverse(
        entry=current.entry, actor=actor, source=current.source, reason=note, now=now
    )
    current.cancelled_at = now
    current.cancel_reason = note.note[:300]
    current.stamp(actor)
    current.save()


# --- promo codes (E8) ---------------------------------------------------------------------------------


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _i in range(CODE_LENGTH))


def normalise_code(code: str) -> str:
    """What the customer typed, as stored: upper case, without spaces and dashes."""
    return "".join(code.split()).replace("-", "").upper()


@db_transaction.atomic
def redeem_points_for_code(
    *,
    member: Member,
    offer: PromoCodeOffer,
    actor: Any = None,
    channel: str = IssuedVia.API,
    now: datetime | None = None,
) -> PromoCode:
    """Spend the offer's points and issue the member a new unique code with the offer's value,
    validity and number of uses. `channel` says where the member asked (portal, widget, API, back
    office); the code is usable where the offer says."""
    _same_merchant(member.merchant_id, offer)
    authorise(actor, "rewards.add_promocode", merchant=member.merchant_id)
    members.ensure_can_transact(member)
    if not offer.is_active:
        raise ValidationFailed(_("This offer is not available."), code="offer_unavailable")
    if channel not in IssuedVia.values:
        raise ValidationFailed(_("Unknown channel."), code="invalid_channel")
    now = now or timezone.now()
    account = _lock_points_account(member)
    code = PromoCode(
        merchant_id=member.merchant_id,
        offer=offer,
        member=member,
        value_kind=offer.value_kind,
        amount=offer.amount,
        percent=offer.percent,
        channel=offer.channel,
        valid_until=now + timedelta(days=offer.validity_days),
        usage_limit=offer.usage_limit,
        uses_left=offer.usage_limit,
        points=offer.points_cost,
        issued_via=channel,
    )
    code.stamp(actor)
    for _attempt in range(5):
        code.code = new_code()
        try:
            with db_transaction.atomic():
                code.save()
        except IntegrityError:  # the same random code twice: astronomically rare; draw again
            code.pk = None
            code._state.adding = True
            continue
        break
    else:  # pragma: no cover
        raise Conflict(_("Could not issue a code; try again."), code="code_generation_failed")
    code.entry = ledger.debit(
        account=account,
        amount=offer.points_cost,
        kind=EntryKind.SPEND,
        actor=actor,
        source=code.source,
        reason=Reason("promo_code", {"offer": offer.name}),
        now=now,
    )
    code.save(update_fields=["entry"])
    publish(
        merchant_id=member.merchant_id,
        type="promo_code.issued",
        payload={
            "promo_code_id": code.pk,
            "member_id": member.pk,
            "offer_id": offer.pk,
            "points": code.points,
        },
    )
    return code


@dataclass(frozen=True)
class CodeCheck:
    """What a code is worth on an order of `order_amount`; `discount` is rounded down to the minor unit."""

    code: str
    value_kind: str
    amount: int | None
    percent: Decimal | None
    valid_until: datetime
    uses_left: int
    order_amount: int
    discount: int


def _discount(code: PromoCode, order_amount: int) -> int:
    if code.value_kind == CodeValueKind.AMOUNT:
        return min(code.amount or 0, order_amount)
    percent = code.percent or Decimal(0)
    return int((Decimal(order_amount) * percent / 100).to_integral_value(rounding=ROUND_FLOOR))


def _find(merchant: Merchant, code: str) -> PromoCode:
    found = PromoCode.objects.of(merchant).filter(code=normalise_code(code)).first()
    if found is None:
        raise CodeNotFound(_("No such code."))
    return found


def _check(code: PromoCode, *, order_amount: int, channel: str | None, now: datetime) -> CodeCheck:
    if isinstance(order_amount, bool) or not isinstance(order_amount, int) or order_amount < 0:
        raise ValidationFailed(
            _("The order amount must be a whole number, zero or more."), code="invalid_amount"
        )
    if code.status == CodeStatus.CANCELLED:
        raise CodeCancelled(_("This code has been cancelled."))
    if code.valid_until <= now:
        raise CodeExpired(_("This code has expired."), valid_until=code.valid_until)
    if code.uses_left <= 0:
        raise CodeUsedUp(_("This code has been used up."))
    if channel is not None and code.channel not in (CodeChannel.ANY, channel):
        raise ValidationFailed(
            _("This code cannot be used here."), code="code_wrong_channel", usable_in=code.channel
        )
    return CodeCheck(
        code=code.code,
        value_kind=code.value_kind,
        amount=code.amount,
        percent=code.percent,
        valid_until=code.valid_until,
        uses_left=code.uses_left,
        order_amount=order_amount,
        discount=_discount(code, order_amount),
    )


def validate_code(
    *, merchant: Merchant, code: str, amount: int, channel: str | None = None, now: datetime | None = None
) -> CodeCheck:
    """Is the code good for an order of `amount`, and for how much? No side effect.

    Errors: 404 `code_not_found` (also another merchant's code), 422 `code_expired`, 409 `code_used_up`,
    422 `code_wrong_channel`."""
    return _check(_find(merchant, code), order_amount=amount, channel=channel, now=now or timezone.now())


def consume_code(
    *,
    merchant: Merchant,
    code: str,
    order_ref: str,
    amount: int,
    channel: str | None = None,
    store: Store | None = None,
    actor: Any = None,
    now: datetime | None = None,
) -> PromoCodeUse:
    """Use the code once for order `order_ref`. Consuming again for the same order returns the first use
    (the order was retried), whatever the code's state since; another order needs a use left."""
    order_ref = order_ref.strip()
    if not order_ref:
        raise ValidationFailed(_("Give the order reference."), code="order_ref_required")
    _same_merchant(merchant.pk, store)
    authorise(actor, "rewards.consume_promocode", merchant=merchant.pk, store=store)
    now = now or timezone.now()
    promo = _find(merchant, code)
    with db_transaction.atomic():
        earlier = PromoCodeUse.objects.filter(promo_code=promo, order_ref=order_ref).first()
        if earlier is not None:
            return earlier
        check = _check(promo, order_amount=amount, channel=channel, now=now)
        try:
            with db_transaction.atomic():
                taken = PromoCode.objects.filter(
                    pk=promo.pk, status=CodeStatus.ACTIVE, uses_left__gt=0, valid_until__gt=now
                ).update(
                    uses_left=F("uses_left") - 1,
                    status=Case(
                        When(uses_left=1, then=Value(CodeStatus.USED_UP)), default=Value(CodeStatus.ACTIVE)
                    ),
                    updated_at=now,
                )
                if not taken:
                    if PromoCode.objects.filter(pk=promo.pk, status=CodeStatus.CANCELLED).exists():
                        raise CodeCancelled(_("This code has been cancelled."))
                    raise CodeUsedUp(_("This code has been used up."))
                use = PromoCodeUse(
                    merchant=merchant,
                    promo_code=promo,
                    order_ref=order_ref[:100],
                    order_amount=amount,
                    discount=check.discount,
                    channel=channel or CodeChannel.ANY,
                    store=store,
                )
                use.stamp(actor)
                use.save()
        except IntegrityError:
            # The same order consumed it concurrently and committed first: that use is this one.
            return PromoCodeUse.objects.get(promo_code=promo, order_ref=order_ref[:100])
        publish(
            merchant_id=merchant.pk,
            type="promo_code.consumed",
            payload={
                "promo_code_id": promo.pk,
                "member_id": promo.member_id,
                "order_ref": order_ref,
                "discount": use.discount,
            },
        )
    return use


def cancel_promo_code(
    *, code: PromoCode, actor: Any = None, reason: str = "", now: datetime | None = None
) -> PromoCode:
    """Cancel an unused, unexpired code: the points spent on it go back to the lots they came from.

    Exactly once: the code's row is locked, and a use takes the same row in its guarded update, so a
    cancel and a use racing each other cannot both succeed. Errors: 409 `code_cancelled` (cancelled
    already), 409 `code_already_used` (used at least once), 422 `code_expired`."""
    now = now or timezone.now()
    with db_transaction.atomic():
        current = PromoCode.objects.select_for_update(of=("self",)).select_related("entry").get(pk=code.pk)
        authorise(actor, "rewards.cancel_promocode", merchant=current.merchant_id)
        if current.status == CodeStatus.CANCELLED:
            raise CodeCancelled(_("This code has been cancelled."))
        if (
            current.uses_left < current.usage_limit
            or PromoCodeUse.objects.filter(promo_code=current).exists()
        ):
            raise CodeAlreadyUsed(_("This code has already been used; it cannot be cancelled."))
        if current.valid_until <= now:
            raise CodeExpired(_("This code has expired."), valid_until=current.valid_until)
        current.status = CodeStatus.CANCELLED
        current.uses_left = 0
        _give_points_back(
            current, actor=actor, note=Reason("promo_code_cancelled", {"code": current.code}, reason), now=now
        )
        publish(
            merchant_id=current.merchant_id,
            type="promo_code.cancelled",
            payload={"promo_code_id": current.pk, "member_id": current.member_id, "points": current.points},
        )
    code.refresh_from_db()
    return current
