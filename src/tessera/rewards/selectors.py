"""Reads of the rewards app: what a member can redeem and what they hold (E7, E8)."""

from __future__ import annotations

from django.db.models import IntegerField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from tessera.core.errors import NotFound
from tessera.members.models import Member
from tessera.rewards.models import Gift, GiftRedemption, PromoCode, PromoCodeOffer, RedemptionStatus
from tessera.tenancy.models import Merchant


def active_offers(merchant: Merchant | int) -> QuerySet[PromoCodeOffer]:
    """The merchant's active promo-code offers, cheapest first."""
    return PromoCodeOffer.objects.of(merchant).filter(is_active=True).order_by("points_cost", "name")


def offers_for(member: Member) -> QuerySet[PromoCodeOffer]:
    """The promo-code offers the member may choose from."""
    return active_offers(member.merchant_id)


def gifts_for(member: Member) -> QuerySet[Gift]:
    """The merchant's active gifts in stock, cheapest first, each annotated with `redeemed_by_member`
    (how many the member holds, cancelled ones not counted) for showing what the limit leaves."""
    held = (
        GiftRedemption.objects.filter(member=member, gift=OuterRef("pk"))
        .exclude(status=RedemptionStatus.CANCELLED)
        .values("gift")
        .annotate(total=Sum("quantity"))
        .values("total")
    )
    in_stock: QuerySet[Gift] = Gift.objects.of(member.merchant_id).filter(is_active=True, stock__gt=0)
    return in_stock.annotate(
        redeemed_by_member=Coalesce(Subquery(held, output_field=IntegerField()), Value(0))
    ).order_by("points_cost", "name")


def codes_of(member: Member) -> QuerySet[PromoCode]:
    """The member's promo codes, newest first."""
    return PromoCode.objects.of(member.merchant_id).filter(member=member).select_related("offer")


def redemptions_of(member: Member) -> QuerySet[GiftRedemption]:
    """The member's gift redemptions, newest first."""
    return GiftRedemption.objects.of(member.merchant_id).filter(member=member).select_related("gift")


def gifts_of(merchant: Merchant) -> QuerySet[Gift]:
    """The merchant's active gifts, in stock or not (the API shows stock)."""
    return Gift.objects.of(merchant).filter(is_active=True).order_by("points_cost", "name")


def get_gift(*, merchant: Merchant, pk: int) -> Gift:
    gift = Gift.objects.of(merchant).filter(pk=pk).first()
    if gift is None:
        raise NotFound(_("No such gift."), code="gift_not_found")
    return gift


def get_offer(*, merchant: Merchant, pk: int) -> PromoCodeOffer:
    offer = PromoCodeOffer.objects.of(merchant).filter(pk=pk).first()
    if offer is None:
        raise NotFound(_("No such offer."), code="offer_not_found")
    return offer


def get_redemption(*, merchant: Merchant, pk: int) -> GiftRedemption:
    redemption = GiftRedemption.objects.of(merchant).filter(pk=pk).select_related("gift").first()
    if redemption is None:
        raise NotFound(_("No such redemption."), code="redemption_not_found")
    return redemption


def get_promo_code(*, merchant: Merchant, pk: int) -> PromoCode:
    code = PromoCode.objects.of(merchant).filter(pk=pk).select_related("member").first()
    if code is None:
        raise NotFound(_("No such code."), code="code_not_found")
    return code
