"""Reads of the marketing app: a campaign's audience and progress, a holiday's next date."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta

from django.db.models import Count, QuerySet
from django.utils import timezone

from tessera.ledger.segments import members_in_segment
from tessera.marketing import lunar
from tessera.marketing.models import (
    AudienceKind,
    CalendarKind,
    Campaign,
    CampaignStatus,
    ChannelKind,
    Holiday,
    Message,
)
from tessera.members.models import Member, MemberStatus
from tessera.members.services import validate_segment_filters


def audience(campaign: Campaign, *, now: datetime | None = None) -> QuerySet[Member]:
    """The members a campaign addresses (before consent is applied)."""
    merchant = campaign.merchant
    if campaign.audience == AudienceKind.SEGMENT:
        assert campaign.segment is not None
        filters = validate_segment_filters(merchant=merchant, filters=campaign.segment.filters)
        today = timezone.localdate(now, timezone=merchant.tz) if now else None
        return members_in_segment(merchant=merchant, filters=filters, today=today)
    return Member.objects.of(merchant).filter(
        phone__in=campaign.phones, superseded_by__isnull=True, erased_at__isnull=True
    )


def audience_counts(campaign: Campaign) -> tuple[int, int]:
    """(members addressed, of whom accept marketing on the campaign's channel), before launching."""
    qs = audience(campaign)
    flag = "marketing_sms" if campaign.template.channel == ChannelKind.SMS else "marketing_email"
    return qs.count(), qs.filter(**{flag: True}).exclude(status=MemberStatus.EXCLUDED).count()


def progress(campaign: Campaign) -> dict[str, int]:
    """How many of the campaign's messages are in each status."""
    rows = Message.objects.filter(campaign=campaign).values_list("status").annotate(n=Count("pk")).order_by()
    return {status: n for status, n in rows}


def queueing_progress(campaign: Campaign) -> tuple[int, int] | None:
    """(messages queued so far, messages to queue) while a launched campaign's messages are being
    built (issue 16), else None. A list campaign gets one message per phone, members or not."""
    if campaign.status != CampaignStatus.SENDING or campaign.queued_at is not None:
        return None
    done = Message.objects.filter(campaign=campaign).count()
    if campaign.audience == AudienceKind.LIST:
        return done, len(set(campaign.phones))
    return done, audience(campaign).count()


def next_occurrence(holiday: Holiday, *, today: date | None = None) -> date | None:
    """The next day (today included) the holiday falls on, in the merchant's calendar."""
    merchant = holiday.merchant
    today = today or timezone.localdate(timezone=merchant.tz)
    if holiday.calendar == CalendarKind.SOLAR:
        for year in (today.year, today.year + 1):
            day = holiday.day if (holiday.month, holiday.day) != (2, 29) or calendar.isleap(year) else 28
            solar = date(year, holiday.month, day)
            if solar >= today:
                return solar
        return None
    zone = lunar.zone_hours(merchant.tz, today)
    start = lunar.to_lunar(today, zone).year
    # A leap month recurs only every few years (a leap 4th month: 2020, then 2039).
    for year in range(start - 1, start + 40):
        found = lunar.to_solar(lunar.LunarDate(year, holiday.month, holiday.day, holiday.leap_month), zone)
        if found is None:
            continue
        if lunar.to_lunar(found, zone).month != holiday.month:
            found -= timedelta(days=1)  # day 30 of a 29-day month: its last day
        if found >= today:
            return found
    return None
