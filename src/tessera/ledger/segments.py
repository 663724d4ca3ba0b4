"""Which members a saved segment matches (C6). The segment and its filters are the members app's
(`Segment`, `SegmentFilters`); the query lives here because two of its filters, the points balance and
the last visit, read the ledger's accounts and entries."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db.models import OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from tessera.ledger.models import Account, AccountKind, Entry
from tessera.members.models import Member
from tessera.members.schemas import SegmentFilters
from tessera.tenancy.models import Merchant

__all__ = ["members_in_segment"]


def _start_of_day(day: date, merchant: Merchant) -> datetime:
    return datetime.combine(day, time.min, tzinfo=merchant.tz)


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)


def members_in_segment(
    *, merchant: Merchant, filters: SegmentFilters, today: date | None = None
) -> QuerySet[Member]:
    """The merchant's current members that match every filter (C6). `today` exists for tests."""
    today = today or timezone.localdate(timezone=merchant.tz)
    qs = Member.objects.of(merchant).filter(superseded_by__isnull=True, erased_at__isnull=True)
    if filters.status:
        qs = qs.filter(status__in=filters.status)
    if filters.home_stores:
        qs = qs.filter(home_store_id__in=filters.home_stores)
    if filters.birthday_month:
        qs = qs.filter(birthday__month=filters.birthday_month)
    if filters.min_age is not None:
        # Aged at least N today: born on or before this day N years ago.
        qs = qs.filter(birthday__lte=_years_before(today, filters.min_age))
    if filters.max_age is not None:
        # Not yet N+1 today: born after this day N+1 years ago.
        qs = qs.filter(birthday__gt=_years_before(today, filters.max_age + 1))
    if filters.region:
        qs = qs.filter(region__iexact=filters.region.strip())
    if filters.occupation:
        qs = qs.filter(occupation__icontains=filters.occupation.strip())
    if filters.tags:
        qs = qs.filter(pk__in=Member.tags.through.objects.filter(tag_id__in=filters.tags).values("member_id"))
    if filters.gender is not None:
        qs = qs.filter(gender=filters.gender)
    if filters.joined_from:
        qs = qs.filter(created_at__gte=_start_of_day(filters.joined_from, merchant))
    if filters.joined_to:
        qs = qs.filter(created_at__lt=_start_of_day(filters.joined_to + timedelta(days=1), merchant))
    if filters.min_points is not None or filters.max_points is not None:
        points = (
            Account.objects.filter(member=OuterRef("pk"), kind=AccountKind.POINTS)
            .values("member")
            .annotate(total=Sum("balance"))
            .values("total")
        )
        qs = qs.annotate(points_balance=Coalesce(Subquery(points), Value(0)))
        if filters.min_points is not None:
            qs = qs.filter(points_balance__gte=filters.min_points)
        if filters.max_points is not None:
            qs = qs.filter(points_balance__lte=filters.max_points)
    if filters.last_visit_after or filters.last_visit_before:
        newest = (
            Entry.objects.filter(account__member=OuterRef("pk"))
            .order_by("-occurred_at")
            .values("occurred_at")[:1]
        )
        qs = qs.annotate(last_visit=Subquery(newest))
        if filters.last_visit_after:
            qs = qs.filter(last_visit__gte=_start_of_day(filters.last_visit_after, merchant))
        if filters.last_visit_before:
            qs = qs.filter(
                last_visit__lt=_start_of_day(filters.last_visit_before + timedelta(days=1), merchant)
            )
    return qs
