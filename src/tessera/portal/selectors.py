"""What a member sees in the portal and the widget: card, points, tier, history, rewards (G1, G2)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from django.core.paginator import Page
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from tessera.cards.models import Card, CardStatus
from tessera.cards.rendering import barcode_image, qr_image, qr_svg
from tessera.core.formatting import format_money, format_points
from tessera.ledger.models import Account, AccountKind, Entry
from tessera.ledger.selectors import AccountSummary, account_summary, entries_of
from tessera.members.models import Member
from tessera.members.services import referral_code_of
from tessera.points.policy import policy_of
from tessera.rewards import bonuses
from tessera.rewards import selectors as rewards
from tessera.rewards.models import BonusKind, CodeStatus, CodeValueKind, PromoCode, PromoCodeOffer
from tessera.sales.models import Transaction, TransactionStatus
from tessera.tiers.models import Basis
from tessera.tiers.selectors import tier_status


@dataclass(frozen=True)
class DigitalCard:
    number: str
    type_name: str
    #: data: URIs of the SVG images, ready for an <img src>.
    qr_src: str
    barcode_src: str


@dataclass(frozen=True)
class Offer:
    pk: int
    name: str
    points: int
    #: "50,000 VND off" or "10% off".
    value: str


@dataclass(frozen=True)
class GiftOffer:
    pk: int
    name: str
    description: str
    points: int


@dataclass(frozen=True)
class HeldCode:
    code: str
    value: str
    valid_until: datetime
    uses_left: int
    usable: bool


@dataclass(frozen=True)
class Rewards:
    offers: list[Offer]
    gifts: list[GiftOffer]
    codes: list[HeldCode]


def _data_uri(svg: bytes) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


def digital_card(member: Member) -> DigitalCard | None:
    """The member's active card (the newest main card) as QR and barcode images."""
    card = (
        Card.objects.of(member.merchant_id)
        .filter(member=member, status=CardStatus.ACTIVE, parent__isnull=True)
        .select_related("type")
        .order_by("-activated_at", "-pk")
        .first()
    )
    if card is None:
        return None
    return DigitalCard(
        number=card.number,
        type_name=card.type.name,
        qr_src=_data_uri(qr_image(card)),
        barcode_src=_data_uri(barcode_image(card)),
    )


def points_of(member: Member, *, now: datetime | None = None) -> AccountSummary | None:
    account = Account.objects.of(member.merchant_id).filter(member=member, kind=AccountKind.POINTS).first()
    if account is None:
        return None
    # "Expiring" lists what expires within the merchant's notice period (its points policy).
    days = policy_of(member.merchant).notice_days
    return account_summary(account=account, now=now or timezone.now(), days=days)


@dataclass(frozen=True)
class TierProgress:
    """The member's tier for display: where they are, the next tier, and what is missing to reach it."""

    name: str | None
    next_name: str | None
    #: What the ranking still lacks, formatted: money for a spend-based program, else points.
    missing: str
    percent: int
    #: Issue 15 §2: the hold after reaching the tier (local date, "" for none) and, when the next review
    #: that may lower the tier would, as the ranking stands, its date and the tier it drops to.
    kept_until: str = ""
    drops_on: str = ""
    drops_to: str = ""


def _local_date(moment: datetime, member: Member) -> str:
    return date_format(moment.astimezone(member.merchant.tz).date(), "SHORT_DATE_FORMAT")


def tier_of(member: Member) -> TierProgress | None:
    """None when the merchant runs no tier program."""
    status = tier_status(member)
    if not status.has_program and status.tier is None:
        return None
    missing = ""
    percent = 100
    if status.next_tier is not None:
        threshold = status.next_tier.threshold
        percent = min(100, status.ranking * 100 // threshold) if threshold > 0 else 100
        if status.basis == Basis.SPEND:
            missing = format_money(status.missing, member.merchant.currency)
        else:
            missing = str(_("%(points)s points") % {"points": format_points(status.missing)})
    dropping = status.will_drop and status.drop_review_at is not None
    return TierProgress(
        name=status.tier.name if status.tier else None,
        next_name=status.next_tier.name if status.next_tier else None,
        missing=missing,
        percent=percent,
        kept_until=_local_date(status.held_until, member) if status.held_until else "",
        drops_on=_local_date(status.drop_review_at, member) if dropping and status.drop_review_at else "",
        drops_to=(status.drops_to.name if status.drops_to else str(_("no tier"))) if dropping else "",
    )


def offer_value(offer: PromoCodeOffer | PromoCode, currency: str) -> str:
    """ "50,000 VND off" or "10% off"."""
    if offer.value_kind == CodeValueKind.PERCENT:
        return str(_("%(percent)s%% off") % {"percent": f"{offer.percent:g}"})
    return str(_("%(amount)s off") % {"amount": format_money(offer.amount or 0, currency)})


def rewards_of(member: Member, *, now: datetime | None = None) -> Rewards:
    """Offers the member can turn points into, gifts they can ask for, the codes they hold."""
    now = now or timezone.now()
    currency = member.merchant.currency
    return Rewards(
        offers=[
            Offer(pk=o.pk, name=o.name, points=o.points_cost, value=offer_value(o, currency))
            for o in rewards.offers_for(member)
        ],
        gifts=[
            GiftOffer(pk=g.pk, name=g.name, description=g.description, points=g.points_cost)
            for g in rewards.gifts_for(member)
        ],
        codes=[_held_code(c, currency, now) for c in rewards.codes_of(member)[:20]],
    )


def _held_code(code: PromoCode, currency: str, now: datetime) -> HeldCode:
    return HeldCode(
        code=code.code,
        value=offer_value(code, currency),
        valid_until=code.valid_until,
        uses_left=code.uses_left,
        usable=code.status == CodeStatus.ACTIVE and code.uses_left > 0 and code.valid_until > now,
    )


def code_qr(member: Member, code: str) -> bytes | None:
    """The member's own promo code as a QR image (SVG) for the till to scan, while it can be used.
    Drawn on request (about 50 ms): the home page links to it rather than drawing every code it lists."""
    held = rewards.codes_of(member).filter(code=code).first()
    if held is None or not _held_code(held, member.merchant.currency, timezone.now()).usable:
        return None
    return qr_svg(held.code)


def point_entries(member: Member, *, page: int = 1) -> Page[Entry]:
    return entries_of(merchant=member.merchant, member=member, page=page, per_page=20)


@dataclass(frozen=True)
class Payment:
    occurred_at: datetime
    store_name: str
    #: What the member paid (total less discount), formatted in the merchant's currency.
    amount: str
    points_earned: int
    voided: bool


def payments_of(member: Member, *, limit: int = 20) -> list[Payment]:
    """The member's confirmed and voided purchases, newest first."""
    sales = (
        Transaction.objects.of(member.merchant_id)
        .filter(member=member, status__in=[TransactionStatus.CONFIRMED, TransactionStatus.VOIDED])
        .select_related("store")
        .order_by("-occurred_at", "-pk")[:limit]
    )
    return [
        Payment(
            occurred_at=sale.occurred_at,
            store_name=sale.store.name,
            amount=format_money(sale.total_amount - sale.discount_amount, sale.currency),
            points_earned=sale.points_earned,
            voided=sale.status == TransactionStatus.VOIDED,
        )
        for sale in sales
    ]


@dataclass(frozen=True)
class Referral:
    """The member's referral panel (issue 15 §5): their code, what a friend and they get, and so far."""

    code: str
    friend_points: int
    own_points: int
    min_amount: int
    referred: int
    points_earned: int


def referral_of(member: Member, *, now: datetime | None = None) -> Referral | None:
    """None unless a referral rule is in force. Gives the member a code the first time it is shown."""
    now = now or timezone.now()
    in_force = bonuses.rules_in_force(member.merchant_id, {BonusKind.REFERRAL}, now)
    if not in_force:
        return None
    summary = bonuses.referral_summary(member)
    return Referral(
        code=referral_code_of(member),
        friend_points=sum(rule.points for rule in in_force),
        own_points=sum(rule.referrer_points for rule in in_force),
        min_amount=min(rule.min_amount for rule in in_force),
        referred=summary.referred,
        points_earned=summary.points,
    )
