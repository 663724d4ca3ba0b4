"""Automatic notices (I3): after a purchase or refund, points about to expire, a tier change, a tier
about to drop (service notices), and birthday, anniversary and holiday greetings (marketing).

Every notice is a `Message` with its trigger and reference — the sale, the ledger's expiry notice, the
tier change, the year of the birthday, the anniversary and year, the holiday and (lunar) year — and a
unique constraint makes each occasion send once per member and channel, however often the hourly job
or a retried event runs. Greetings are evaluated on the merchant's calendar day, from its greeting hour.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from django.db.models import CharField, Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Cast
from django.utils import timezone, translation
from django.utils.translation import gettext

from tessera.ledger.models import AccountKind, ExpiryNotice
from tessera.marketing import lunar, services
from tessera.marketing.models import (
    SERVICE_NOTICES,
    CalendarKind,
    Holiday,
    Message,
    NoticeKind,
    NoticeRule,
    Trigger,
)
from tessera.members.models import Anniversary, Member
from tessera.tenancy.models import Merchant
from tessera.tiers.models import DowngradeNotice, Tier

logger = logging.getLogger(__name__)


def _rules(merchant_id: int, kind: NoticeKind) -> list[NoticeRule]:
    return list(
        NoticeRule.objects.of(merchant_id)
        .filter(kind=kind, is_active=True)
        .select_related("template", "merchant")
        .order_by("pk")
    )


def _current_member(merchant_id: int, member_id: Any) -> Member | None:
    if not member_id:
        return None
    return Member.objects.of(merchant_id).select_related("merchant").filter(pk=member_id).first()


def notify(
    *,
    merchant_id: int,
    kind: NoticeKind,
    member_id: Any,
    trigger_ref: str,
    variables: dict[str, Any] | None = None,
) -> list[Message]:
    """One message per active rule of `kind` to the member (or the reason it is skipped)."""
    member = _current_member(merchant_id, member_id)
    if member is None:
        return []
    return [
        services.send_to_member(
            member=member,
            template=rule.template,
            trigger=Trigger(kind.value),
            trigger_ref=trigger_ref,
            marketing=kind not in SERVICE_NOTICES,
            variables=variables,
        )
        for rule in _rules(merchant_id, kind)
    ]


def notify_event(*, merchant_id: int, type: str, payload: dict[str, Any]) -> list[Message]:
    """The notice a domain event calls for, if the merchant switched it on."""
    if type == "sale.confirmed":
        return notify(
            merchant_id=merchant_id,
            kind=NoticeKind.AFTER_SALE,
            member_id=payload.get("member_id"),
            trigger_ref=f"sale:{payload['transaction_id']}",
            variables={
                "points_earned": int(payload.get("points_earned") or 0),
                "points_spent": int(payload.get("points_spent") or 0),
                "amount": int(payload.get("amount_due") or 0),
            },
        )
    if type == "sale.voided":
        return notify(
            merchant_id=merchant_id,
            kind=NoticeKind.AFTER_REFUND,
            member_id=payload.get("member_id"),
            trigger_ref=f"void:{payload['transaction_id']}",
            variables={
                "points_earned": -int(payload.get("points_earned") or 0),
                "points_spent": -int(payload.get("points_spent") or 0),
                "amount": int(payload.get("amount_due") or 0),
            },
        )
    if type == "sale.refunded":
        return notify(
            merchant_id=merchant_id,
            kind=NoticeKind.AFTER_REFUND,
            member_id=payload.get("member_id"),
            trigger_ref=f"refund:{payload['refund_id']}",
            variables={
                "points_earned": -int(payload.get("points_reversed") or 0),
                "points_spent": -int(payload.get("points_returned") or 0),
                "amount": int(payload.get("amount") or 0),
            },
        )
    if type == "member.tier_changed":
        tier = Tier.objects.of(merchant_id).filter(code=payload.get("to") or "").first()
        return notify(
            merchant_id=merchant_id,
            kind=NoticeKind.TIER_CHANGED,
            member_id=payload.get("member_id"),
            trigger_ref=f"tier:{payload.get('at', '')}"[:100],
            variables={"tier": tier.name if tier else ""},
        )
    return []


# --- points about to expire -----------------------------------------------------------------------------


def send_expiry_notices(*, now: datetime | None = None) -> int:
    """A message for each expiry notice the ledger recorded (E10) that has not been messaged yet, for
    merchants with the notice switched on. Which were messaged is ours to track: a message with the
    notice's id as its reference."""
    now = now or timezone.now()
    return _message_recorded(
        kind=NoticeKind.POINTS_EXPIRING,
        trigger=Trigger.POINTS_EXPIRING,
        now=now,
        due=lambda merchant_id: ExpiryNotice.objects.of(merchant_id).filter(
            expires_at__gt=now, account__kind=AccountKind.POINTS, account__member__isnull=False
        ),
        fields=("account__member_id", "amount", "expires_at"),
        extra=lambda merchant, amount, expires_at: {
            "expiring_points": amount,
            "expiry_date": services.local_date_text(expires_at, merchant),
        },
    )


def send_downgrade_notices(*, now: datetime | None = None) -> int:
    """A message for each downgrade notice the tiers' review recorded (issue 15 §2: "your tier will drop
    on …") that has not been messaged yet and whose review is still ahead, for merchants with the
    notice switched on; as for expiry notices, a message with the notice's id as its reference."""
    now = now or timezone.now()
    return _message_recorded(
        kind=NoticeKind.TIER_DROPPING,
        trigger=Trigger.TIER_DROPPING,
        now=now,
        # A member whose tier changed since the forecast is not told about the old one.
        due=lambda merchant_id: DowngradeNotice.objects.of(merchant_id).filter(
            review_at__gt=now, member__tier_state__tier=F("tier")
        ),
        fields=("member_id", "to_tier__name", "review_at"),
        extra=lambda merchant, to_tier, review_at: {
            "downgrade_date": services.local_date_text(review_at, merchant),
            "downgrade_tier": to_tier or gettext("no tier"),
        },
    )


def _message_recorded(
    *,
    kind: NoticeKind,
    trigger: Trigger,
    now: datetime,
    due: Callable[[int], QuerySet[Any]],
    fields: tuple[str, str, str],
    extra: Callable[..., dict[str, Any]],
) -> int:
    """Message the notices another app recorded (`due(merchant_id)`, `fields`: the member's id, then
    what `extra(merchant, …)` turns into the template's variables), once each: a notice already
    messaged on the rule's channel (its id as the message's reference) is skipped."""
    count = 0
    for merchant_id in _merchants_with(kind):
        for rule in _rules(merchant_id, kind):
            messaged = Message.objects.filter(
                merchant_id=merchant_id,
                channel=rule.template.channel,
                trigger=trigger,
                trigger_ref=Cast(OuterRef("pk"), output_field=CharField()),
            )
            rows_due = due(merchant_id).exclude(Exists(messaged)).values_list("pk", *fields).order_by("pk")
            batch = services.Batch(
                merchant=rule.merchant, template=rule.template, trigger=trigger, marketing=False
            )
            by_member = {member_id: (pk, rest) for pk, member_id, *rest in rows_due}
            rows = services.recipient_values(
                Member.objects.filter(pk__in=list(by_member)), batch.used, now
            ).order_by("pk")
            messages = []
            with translation.override(batch.language):
                for row in rows:
                    pk, rest = by_member[row["pk"]]
                    values = extra(rule.merchant, *rest)
                    messages.append(batch.values(row, trigger_ref=str(pk), extra=values))
            count += services.insert_rows(messages)
    return count


def _merchants_with(kind: NoticeKind) -> list[int]:
    return list(
        NoticeRule.objects.filter(kind=kind, is_active=True)
        .order_by("merchant_id")
        .values_list("merchant_id", flat=True)
        .distinct()
    )


# --- greetings ------------------------------------------------------------------------------------------


def _not_messaged(
    qs: QuerySet[Member], *, channel: str, trigger: Trigger, trigger_ref: str
) -> QuerySet[Member]:
    already = Message.objects.filter(
        member=OuterRef("pk"),
        channel=channel,
        trigger=trigger,
        trigger_ref=trigger_ref,
        campaign__isnull=True,
    )
    return qs.exclude(Exists(already))


def _current(merchant: Merchant) -> QuerySet[Member]:
    return Member.objects.of(merchant).filter(superseded_by__isnull=True, erased_at__isnull=True)


def _birthday_q(today: date) -> Q:
    q = Q(birthday__month=today.month, birthday__day=today.day)
    if (today.month, today.day) == (2, 28) and not _is_leap(today.year):
        q |= Q(birthday__month=2, birthday__day=29)  # born on 29 February: greeted on the 28th
    return q


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def holidays_on(merchant: Merchant, today: date) -> list[tuple[Holiday, str]]:
    """The merchant's active holidays falling on `today`, each with its occasion key (solar year, or
    lunar year for lunar holidays: a lunar date can fall twice in one Gregorian year)."""
    zone = lunar.zone_hours(merchant.tz, today)
    found = []
    for holiday in Holiday.objects.of(merchant).filter(is_active=True).select_related("template"):
        if holiday.calendar == CalendarKind.SOLAR:
            if (holiday.month, holiday.day) == (today.month, today.day) or (
                (holiday.month, holiday.day) == (2, 29)
                and (today.month, today.day) == (2, 28)
                and not _is_leap(today.year)
            ):
                found.append((holiday, f"{holiday.pk}:{today.year}"))
        elif lunar.is_lunar_day(
            today, month=holiday.month, lunar_day=holiday.day, leap=holiday.leap_month, zone=zone
        ):
            found.append((holiday, f"{holiday.pk}:L{lunar.to_lunar(today, zone).year}"))
    return found


def send_greetings(*, now: datetime | None = None, merchants: Iterable[Merchant] | None = None) -> int:
    """Birthday, anniversary and holiday greetings due today in each merchant's time zone."""
    now = now or timezone.now()
    count = 0
    if merchants is None:
        ids = set(
            NoticeRule.objects.filter(
                kind__in=[NoticeKind.BIRTHDAY, NoticeKind.ANNIVERSARY], is_active=True
            ).values_list("merchant_id", flat=True)
        ) | set(Holiday.objects.filter(is_active=True).values_list("merchant_id", flat=True))
        merchants = Merchant.objects.filter(pk__in=ids, is_active=True).order_by("pk")
    for merchant in merchants:
        local = now.astimezone(merchant.tz)
        if local.hour < services.settings_for(merchant).greeting_hour:
            continue
        count += _greet(merchant, local.date(), now)
    return count


def _greet(merchant: Merchant, today: date, now: datetime) -> int:
    count = 0
    year = str(today.year)
    for rule in _rules(merchant.pk, NoticeKind.BIRTHDAY):
        batch = services.Batch(
            merchant=merchant, template=rule.template, trigger=Trigger.BIRTHDAY, marketing=True
        )
        qs = _not_messaged(
            _current(merchant).filter(_birthday_q(today)),
            channel=rule.template.channel,
            trigger=Trigger.BIRTHDAY,
            trigger_ref=year,
        )
        count += batch.queue(
            services.recipient_values(qs.order_by("pk"), batch.used, now).iterator(), trigger_ref=year
        )
    for rule in _rules(merchant.pk, NoticeKind.ANNIVERSARY):
        batch = services.Batch(
            merchant=merchant, template=rule.template, trigger=Trigger.ANNIVERSARY, marketing=True
        )
        for anniversary in Anniversary.objects.of(merchant).filter(
            date__month=today.month, date__day=today.day, member__superseded_by__isnull=True
        ):
            ref = f"{anniversary.pk}:{year}"
            qs = _not_messaged(
                _current(merchant).filter(pk=anniversary.member_id),
                channel=rule.template.channel,
                trigger=Trigger.ANNIVERSARY,
                trigger_ref=ref,
            )
            batch.extra = {"occasion": anniversary.label}
            count += batch.queue(services.recipient_values(qs, batch.used, now), trigger_ref=ref)
    for holiday, ref in holidays_on(merchant, today):
        batch = services.Batch(
            merchant=merchant,
            template=holiday.template,
            trigger=Trigger.HOLIDAY,
            marketing=True,
            extra={"occasion": holiday.name},
        )
        qs = _not_messaged(
            _current(merchant), channel=holiday.template.channel, trigger=Trigger.HOLIDAY, trigger_ref=ref
        )
        count += batch.queue(
            services.recipient_values(qs.order_by("pk"), batch.used, now).iterator(chunk_size=2000),
            trigger_ref=ref,
        )
    return count
