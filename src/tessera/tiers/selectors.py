"""Reads of the tiers app: windows, ranking from the ledger, a member's tier status (F1, F2).

Ranking is read from the ledger, the source of truth, in the member's points account:

- **Ranking spend** = the `sale_amount` of EARN entries that occurred in the window, less what was
  returned of them: a reversal of such an entry takes back `sale_amount × points reversed ÷ points
  earned` (rounded toward zero), whenever it happens. A sale belongs to the window it was made in, so a
  return never lowers a later window. Sales that earned no points have no EARN entry: their spend, and
  what returns took back of it, is in `RankingSpend` (written while the merchant has a tier program).
- **Ranking points** = points earned in the window: EARN entries, BONUS entries except tier rewards
  (a reward must not earn the next tier), and adjustment-voucher entries (both signs: a voucher may
  bring over points from another system or correct them), less the reversals of those entries.

Windows: the last N months (on the merchant's local calendar: 31 March less one month is 28 or 29
February); the calendar year (merchant's time zone); or since the member's last tier change
(`MemberTier.window_start`, renewed when a review finds the member qualified again).

Reviews (`next_review`, `last_review`) fall at local midnight: every day, on the first of each month,
or yearly on the program's date (29 February: the 28th in other years); a continuous review is every
run of the hourly task. A hold (`MemberTier.held_until`) ends on the same local date and time
`hold_months` after the member reached the tier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from django.db.models import F, Q, QuerySet, Subquery
from django.utils import timezone

from tessera.core.limits import MAX_SAFE_INTEGER
from tessera.core.prepared import Prepared
from tessera.core.sums import ShareOf, WideSum
from tessera.ledger.models import Account, AccountKind, Entry, EntryKind
from tessera.members.models import Member
from tessera.tenancy import config
from tessera.tenancy.models import Merchant
from tessera.tiers.models import (
    Basis,
    ChangeReason,
    Downgrade,
    Hold,
    MemberTier,
    RankingSpend,
    Review,
    Tier,
    TierChange,
    TierProgram,
    Window,
)

#: Ledger `source` prefix of tier rewards ("tier:<tier id>"); they are not ranking points.
REWARD_SOURCE_PREFIX = "tier:"
#: Ledger `source` prefix of adjustment-voucher entries ("voucher:<voucher id>"); they are ranking points.
VOUCHER_SOURCE_PREFIX = "voucher:"


def program_of(merchant: Merchant | int) -> TierProgram | None:
    """The merchant's tier program, if any; from the configuration cache (`tenancy.config`)."""
    return config.cached(_id(merchant), "tiers.program", lambda: TierProgram.objects.of(merchant).first())


def tiers_of(merchant: Merchant | int) -> list[Tier]:
    """The merchant's tiers, lowest first; from the configuration cache (`tenancy.config`)."""
    return config.cached(
        _id(merchant), "tiers.tiers", lambda: list(Tier.objects.of(merchant).order_by("rank"))
    )


def _id(merchant: Merchant | int) -> int:
    return merchant if isinstance(merchant, int) else merchant.pk


def tier_for(tiers: Sequence[Tier], ranking: int) -> Tier | None:
    """The highest tier whose threshold the ranking reaches (tiers lowest first)."""
    reached = None
    for tier in tiers:
        if ranking >= tier.threshold:
            reached = tier
    return reached


def rank_of(tier: Tier | None) -> int:
    return tier.rank if tier is not None else 0


def _year_start(moment: datetime, tz: ZoneInfo, years_back: int = 0) -> datetime:
    return datetime(moment.astimezone(tz).year - years_back, 1, 1, tzinfo=tz)


def months_later(moment: datetime, months: int, tz: ZoneInfo) -> datetime:
    """`moment` plus (or, negative, less) whole months on the local calendar of `tz`: 31 January + 1
    month is 28 or 29 February, 29 February + 12 months is 28 February."""
    return moment.astimezone(tz) + relativedelta(months=months)


def upgrade_window_start(
    program: TierProgram, state: MemberTier | None, now: datetime, tz: ZoneInfo
) -> datetime | None:
    """Where the ranking that can raise the tier starts (None: from the beginning)."""
    if program.window == Window.ROLLING_MONTHS:
        return months_later(now, -program.window_months, tz)
    if program.window == Window.CALENDAR_YEAR:
        return _year_start(now, tz)
    return state.window_start if state is not None else None


def review_window_start(program: TierProgram, now: datetime, tz: ZoneInfo) -> datetime | None:
    """Where the ranking that keeps the tier starts, at a review. A calendar-year tier is kept through
    the next year, so the review counts last year too. None: each member's own `window_start`."""
    if program.window == Window.ROLLING_MONTHS:
        return months_later(now, -program.window_months, tz)
    if program.window == Window.CALENDAR_YEAR:
        return _year_start(now, tz, years_back=1)
    return None


def _local_midnight(year: int, month: int, day: int, tz: ZoneInfo) -> datetime:
    """Midnight of the local date; a day past the month's end (29 February) is its last day."""
    last = (datetime(year, month, 1) + relativedelta(months=1, days=-1)).day
    return datetime(year, month, min(day, last), tzinfo=tz)


def last_review(program: TierProgram, now: datetime) -> datetime:
    """The start of the review period `now` is in, in the merchant's zone: today's midnight, the first of
    this month, or the latest yearly review date; for a continuous review, `now`."""
    tz = program.merchant.tz
    local = now.astimezone(tz)
    if program.review == Review.CONTINUOUS:
        return now
    if program.review == Review.DAILY:
        return _local_midnight(local.year, local.month, local.day, tz)
    if program.review == Review.MONTHLY:
        return _local_midnight(local.year, local.month, 1, tz)
    this_year = _local_midnight(local.year, program.review_month, program.review_day, tz)
    if this_year <= local:
        return this_year
    return _local_midnight(local.year - 1, program.review_month, program.review_day, tz)


def next_review(program: TierProgram, now: datetime) -> datetime:
    """The first scheduled review after `now` (continuous: `now`)."""
    if program.review == Review.CONTINUOUS:
        return now
    tz = program.merchant.tz
    start = last_review(program, now).astimezone(tz)
    if program.review == Review.DAILY:
        following = start.date() + relativedelta(days=1)
        return _local_midnight(following.year, following.month, following.day, tz)
    if program.review == Review.MONTHLY:
        following = start.date() + relativedelta(months=1)
        return _local_midnight(following.year, following.month, 1, tz)
    return _local_midnight(start.year + 1, program.review_month, program.review_day, tz)


def may_drop_at(program: TierProgram, not_before: datetime | None, now: datetime) -> datetime:
    """The first review after `now` at which a tier may drop: the next one, or the first at or after
    `not_before` (a hold's end; continuous review: that instant itself)."""
    if not_before is None or not_before <= now:
        return next_review(program, now)
    if program.review == Review.CONTINUOUS:
        return not_before
    previous = last_review(program, not_before)
    return previous if previous == not_before else next_review(program, not_before)


def lowered_tier(
    tiers: Sequence[Tier], current: Tier | None, earned: Tier | None, policy: str
) -> Tier | None:
    """Where a review takes a member at `current` whose ranking earns `earned` (lower): that tier, or
    with one tier at a time the tier just below `current` (never below `earned`)."""
    if policy != Downgrade.ONE_TIER:
        return earned
    below = [t for t in tiers if t.rank < rank_of(current)]
    step = below[-1] if below else None
    return step if rank_of(step) > rank_of(earned) else earned


#: How far before its watermark the next continuous review looks for changes: a sale dated just before
#: a run but committed after that run read its member is still seen by the next run.
SETTLE = timedelta(minutes=15)


def changed_since(program: TierProgram, since: datetime, now: datetime) -> Q:
    """The members (a Q on `MemberTier`) whose continuous review at `now` may decide otherwise than the
    run at `since` did, every other member's ranking, window, hold and tier being as they were then
    (issue 15 §2). From `since` less `SETTLE`, each found by an index:

    - points entries dated since (new sales and bonuses; a reversal is dated when it is made), and
      ranking spend written or dated since (a return's row is dated back to its sale);
    - a tier change since (an upgrade, a change by hand; with one tier at a time, the last run's own
      downgrades too, which the next may continue);
    - a hold (`held_until`) ending in the interval;
    - what aged out of the review window: entries and spend dated between the window's start then and
      its start now (rolling months, calendar year); since the last change, the members whose own
      window became old enough to be reviewed.

    A member outside all of these was kept at `since` on the same ranking and window, so is kept again.
    """
    merchant_id = program.merchant_id
    tz = program.merchant.tz
    since = since - SETTLE
    entries = Q(occurred_at__gt=since)
    spend = Q(occurred_at__gt=since) | Q(created_at__gt=since)
    changes = TierChange.objects.filter(merchant_id=merchant_id, at__gt=since)
    if program.downgrade != Downgrade.ONE_TIER:
        # Lowered to the tier its ranking earns, a member is kept by the same ranking.
        changes = changes.exclude(reason=ChangeReason.DOWNGRADE)
    then, start = review_window_start(program, since, tz), review_window_start(program, now, tz)
    if then is not None and start is not None and then < start:
        entries |= Q(occurred_at__gte=then, occurred_at__lt=start)
        spend |= Q(occurred_at__gte=then, occurred_at__lt=start)
    changed = (
        Q(member_id__in=_points_entries(merchant_id).filter(entries).values("account__member_id"))
        | Q(member_id__in=RankingSpend.objects.filter(spend, merchant_id=merchant_id).values("member_id"))
        | Q(member_id__in=changes.values("member_id"))
        | Q(held_until__gt=since, held_until__lte=now)
    )
    if program.window == Window.SINCE_LAST_CHANGE:
        changed |= Q(
            window_start__gt=months_later(since, -program.window_months, tz),
            window_start__lte=months_later(now, -program.window_months, tz),
        )
    return changed


def _points_entries(merchant_id: int) -> QuerySet[Entry]:
    return Entry.objects.filter(merchant_id=merchant_id, account__kind=AccountKind.POINTS)


def _ranked_points(prefix: str = "") -> Q:
    kind, source = f"{prefix}kind", f"{prefix}source__startswith"
    return (
        Q(**{kind: EntryKind.EARN})
        | (Q(**{kind: EntryKind.BONUS}) & ~Q(**{source: REWARD_SOURCE_PREFIX}))
        | Q(**{kind: EntryKind.ADJUST, source: VOUCHER_SOURCE_PREFIX})
    )


def rankings(
    *,
    merchant_id: int,
    basis: str,
    end: datetime,
    start: datetime | None,
    members: Q,
    from_window_start: bool = False,
    points_account: Any = None,
) -> dict[int, int]:
    """member id → ranking, for the members matching `members` (a Q on `account__member`).

    Counts entries with `start <= occurred_at <= end`; with `from_window_start`, each member's own
    `MemberTier.window_start` is the start instead. One statement (two sums), whatever the member count.
    `points_account`: see `ranking_parts`.
    """
    totals: dict[int, int] = {}
    for member_id, value in ranking_sums(
        merchant_id=merchant_id,
        basis=basis,
        end=end,
        start=start,
        members=members,
        from_window_start=from_window_start,
        points_account=points_account,
    ):
        totals[member_id] = totals.get(member_id, 0) + int(value or 0)
    # Sums are numeric (core.sums); a ranking past what the API can send is past every threshold anyway.
    return {member_id: min(total, MAX_SAFE_INTEGER) for member_id, total in totals.items()}


def ranking_sums(
    *,
    merchant_id: int,
    basis: str,
    end: datetime,
    start: datetime | None,
    members: Q,
    from_window_start: bool = False,
    points_account: Any = None,
) -> QuerySet[Any]:
    """(member id, sum) rows, one per part of the ranking a member has (`ranking_parts`), in one
    statement (UNION ALL): `rankings` adds them up in Python, the review's set-based statement in SQL
    (`services.review_program`). Sums are numeric (core.sums); a member's ranking is their total,
    capped at `MAX_SAFE_INTEGER`."""
    parts = [
        part.queryset.order_by()
        .values(part.member_field)
        .annotate(total=part.total)
        .values_list(part.member_field, "total")
        for part in ranking_parts(
            merchant_id=merchant_id,
            basis=basis,
            end=end,
            start=start,
            members=members,
            from_window_start=from_window_start,
            points_account=points_account,
        )
    ]
    return parts[0].union(*parts[1:], all=True)


@dataclass(frozen=True)
class RankingPart:
    """Rows a ranking adds up: `total` summed per `member_field`."""

    queryset: QuerySet[Any]
    member_field: str
    total: Any


def _on_member(q: Q) -> Q:
    """`q`, written on an entry's `account__member`, rewritten on a `member` field."""
    rebased = Q()
    rebased.connector, rebased.negated = q.connector, q.negated
    for child in q.children:
        if isinstance(child, Q):
            rebased.children.append(_on_member(child))
        else:
            key, value = cast(tuple[str, Any], child)
            rebased.children.append((key.replace("account__member", "member", 1), value))
    return rebased


def ranking_parts(
    *,
    merchant_id: int,
    basis: str,
    end: datetime,
    start: datetime | None,
    members: Q,
    from_window_start: bool = False,
    points_account: Any = None,
) -> list[RankingPart]:
    """The rows a ranking adds up and the sum of each (what was made, what reversals took back, and for
    spend the sales without points), to aggregate per member (`rankings`) or as subqueries of a query on
    members (`members`, a Q on `account__member`, may then hold an OuterRef to the member).

    `points_account` (an id or an expression giving one), for one member's ranking, narrows the entries to
    their account as well: the account's entries by date (its index) are then the plain way in, whatever
    the planner's statistics say. Without it, on tables grown since they were last analysed (a new
    merchant's first hour), PostgreSQL was seen reading every entry of the merchant in the window to rank
    one member — 9 ms for each points added or sale confirmed, at 4,400 entries, and growing with them
    (issue 13)."""

    def window(prefix: str, member: str = "account__member") -> Q:
        q = Q(**{f"{prefix}occurred_at__lte": end})
        if from_window_start:
            q &= Q(**{f"{prefix}occurred_at__gte": F(f"{member}__tier_state__window_start")})
        elif start is not None:
            q &= Q(**{f"{prefix}occurred_at__gte": start})
        return q

    base = _points_entries(merchant_id).filter(members)
    if points_account is not None:
        base = base.filter(account_id=points_account)
    if basis == Basis.SPEND:
        made = base.filter(window(""), kind=EntryKind.EARN, sale_amount__isnull=False)
        made_total = WideSum("sale_amount")
        returned = base.filter(
            window("reverses__"),
            kind=EntryKind.REVERSAL,
            reverses__kind=EntryKind.EARN,
            reverses__sale_amount__isnull=False,
        )
        # amount is negative: the share is negative, and the division rounds toward zero.
        returned_total = WideSum(ShareOf(F("reverses__sale_amount"), F("amount"), F("reverses__amount")))
        without_points = RankingSpend.objects.filter(
            window("", member="member"), _on_member(members), merchant_id=merchant_id
        )
        return [
            RankingPart(made, "account__member_id", made_total),
            RankingPart(returned, "account__member_id", returned_total),
            RankingPart(without_points, "member_id", WideSum("amount")),
        ]
    made = base.filter(window(""), _ranked_points())
    returned = base.filter(window("reverses__"), _ranked_points("reverses__"), kind=EntryKind.REVERSAL)
    return [
        RankingPart(made, "account__member_id", WideSum("amount")),
        RankingPart(returned, "account__member_id", WideSum("amount")),
    ]


def ranking_spends(*, merchant: Merchant, member_ids: Sequence[int], now: datetime) -> dict[int, int]:
    """member id → spend in the window that can raise the tier now (as the upgrade counts it), for many
    members at once: what the member list export shows as "ranking spend" (C4). Without a program,
    all-time spend. Two to four aggregate queries, whatever the number of members."""
    chosen = Q(account__member_id__in=member_ids)
    program = program_of(merchant)

    def spend(start: datetime | None, members: Q, from_window_start: bool = False) -> dict[int, int]:
        return rankings(
            merchant_id=merchant.pk,
            basis=Basis.SPEND,
            start=start,
            end=now,
            members=members,
            from_window_start=from_window_start,
        )

    if program is None:
        return spend(None, chosen)
    if program.window == Window.SINCE_LAST_CHANGE:
        # Each member's own window start; a member without a tier state yet counts from the beginning.
        return {
            **spend(None, chosen & Q(account__member__tier_state__isnull=True)),
            **spend(None, chosen & Q(account__member__tier_state__isnull=False), from_window_start=True),
        }
    return spend(upgrade_window_start(program, None, now, merchant.tz), chosen)


def ranking_of(*, member: Member, program: TierProgram, start: datetime | None, end: datetime) -> int:
    """One member's ranking, read through their points account (`ranking_parts`)."""
    return rankings(
        merchant_id=member.merchant_id,
        basis=program.basis,
        start=start,
        end=end,
        members=Q(account__member_id=member.pk),
        points_account=points_account_of(member.merchant_id, member.pk),
    ).get(member.pk, 0)


def points_account_of(merchant_id: Any, member_id: Any) -> Subquery:
    """The member's points account id, as a scalar subquery (its unique key: merchant, member, kind)."""
    return Subquery(
        Account.objects.filter(merchant_id=merchant_id, member_id=member_id, kind=AccountKind.POINTS).values(
            "pk"
        )[:1]
    )


#: What `select_related` on a member needs so that `state_of` reads no more (see `state_of`).
STATE_WITH_MEMBER = ("tier_state", "tier_state__tier", "tier_state__hold_reference")


def state_of(member: Member) -> MemberTier | None:
    """The member's tier state: as read with the member (`select_related(*STATE_WITH_MEMBER)`), else
    one query."""
    if Member.tier_state.is_cached(member):
        try:
            state: MemberTier = member.tier_state
        except MemberTier.DoesNotExist:
            return None
        return state
    found = _STATE(member_id=member.pk)
    return found[0] if found else None


#: `state_of`'s query, compiled once (core.prepared; issue 13: a quote with a tier program).
_STATE = Prepared(
    lambda member_id: (
        MemberTier.objects.filter(member_id=member_id)
        .select_related("tier", "hold_reference")
        .order_by("pk")[:1]
    ),
    member_id=int,
)


def current_tier(member: Member) -> Tier | None:
    """The member's tier; no query when the merchant has no tiers (the cached `tiers_of`)."""
    if not tiers_of(member.merchant_id):
        return None
    state = state_of(member)
    return state.tier if state is not None else None


# --- status: what the back office's "why" page, the API and the member portal show -------------------


@dataclass(frozen=True)
class TierInfo:
    id: int
    code: str
    name: str
    rank: int
    threshold: int
    discount_percent: Decimal
    earning_multiplier: Decimal
    reward_points: int

    @staticmethod
    def of(tier: Tier | None) -> TierInfo | None:
        if tier is None:
            return None
        return TierInfo(
            id=tier.pk,
            code=tier.code,
            name=tier.name,
            rank=tier.rank,
            threshold=tier.threshold,
            discount_percent=tier.discount_percent,
            earning_multiplier=tier.earning_multiplier,
            reward_points=tier.reward_points,
        )


@dataclass(frozen=True)
class LastChange:
    from_tier: TierInfo | None
    to_tier: TierInfo | None
    reason: ChangeReason
    voucher_code: str
    at: datetime


@dataclass(frozen=True)
class TierStatus:
    """A member's tier and how they got there. `ranking` is in the program's basis (spend in minor units
    of the merchant's currency, or points), counted from `window_start` (None: from the beginning) to
    `window_end`. `next_tier` is the next tier the member can move up to (above `hold_reference` while
    a manual downgrade holds), `missing` what the ranking still lacks to reach it."""

    member_id: int
    has_program: bool
    basis: Basis | None
    window: Window | None
    window_months: int | None
    window_start: datetime | None
    window_end: datetime
    ranking: int
    tier: TierInfo | None
    since: datetime | None
    earned_tier: TierInfo | None
    hold: Hold
    hold_reference: TierInfo | None
    next_tier: TierInfo | None
    missing: int
    last_change: LastChange | None
    #: Issue 15 §2: how reviews treat the tier. `held_until`: the hold after reaching it, while it lasts.
    review: Review | None = None
    downgrade: Downgrade | None = None
    hold_months: int = 0
    held_until: datetime | None = None
    #: The first review that may lower the tier (None: no tier, or a manual hold keeps it), what it
    #: would count of the ranking as it stands, and where it would take the member (`will_drop`).
    drop_review_at: datetime | None = None
    drop_ranking: int = 0
    will_drop: bool = False
    drops_to: TierInfo | None = None


def tier_status(member: Member, *, now: datetime | None = None) -> TierStatus:
    """The member's tier, ranking in the window, hold, next tier and what is missing (F1, F2)."""
    now = now or timezone.now()
    program = program_of(member.merchant_id)
    state = state_of(member)
    tier = state.tier if state is not None else None
    hold = Hold(state.hold) if state is not None else Hold.NONE
    reference = state.hold_reference if state is not None else None
    last = (
        TierChange.objects.filter(member_id=member.pk).select_related("from_tier", "to_tier").first()
        if state is not None
        else None
    )
    last_change = (
        LastChange(
            from_tier=TierInfo.of(last.from_tier),
            to_tier=TierInfo.of(last.to_tier),
            reason=ChangeReason(last.reason),
            voucher_code=last.voucher_code,
            at=last.at,
        )
        if last is not None
        else None
    )
    if program is None:
        return TierStatus(
            member_id=member.pk,
            has_program=False,
            basis=None,
            window=None,
            window_months=None,
            window_start=None,
            window_end=now,
            ranking=0,
            tier=TierInfo.of(tier),
            since=state.since if state else None,
            earned_tier=None,
            hold=hold,
            hold_reference=TierInfo.of(reference),
            next_tier=None,
            missing=0,
            last_change=last_change,
        )
    tiers = tiers_of(member.merchant_id)
    start = upgrade_window_start(program, state, now, member.merchant.tz)
    ranking = ranking_of(member=member, program=program, start=start, end=now)
    floor = rank_of(reference) if hold == Hold.MANUAL_DOWNGRADE else rank_of(tier)
    next_tier = next((t for t in tiers if t.rank > floor), None)
    held_until = (
        state.held_until if state is not None and state.held_until and state.held_until > now else None
    )
    outlook = _drop_outlook(member, program, state, tiers, now) if state is not None and state.tier else None
    return TierStatus(
        member_id=member.pk,
        has_program=True,
        basis=Basis(program.basis),
        window=Window(program.window),
        window_months=program.window_months if program.window != Window.CALENDAR_YEAR else None,
        window_start=start,
        window_end=now,
        ranking=ranking,
        tier=TierInfo.of(tier),
        since=state.since if state else None,
        earned_tier=TierInfo.of(tier_for(tiers, ranking)),
        hold=hold,
        hold_reference=TierInfo.of(reference),
        next_tier=TierInfo.of(next_tier),
        missing=max(next_tier.threshold - ranking, 0) if next_tier is not None else 0,
        last_change=last_change,
        review=Review(program.review),
        downgrade=Downgrade(program.downgrade),
        hold_months=program.hold_months,
        held_until=held_until,
        drop_review_at=outlook.at if outlook else None,
        drop_ranking=outlook.ranking if outlook else 0,
        will_drop=outlook is not None and outlook.drops,
        drops_to=TierInfo.of(outlook.to_tier) if outlook else None,
    )


@dataclass(frozen=True)
class _Outlook:
    at: datetime
    ranking: int
    drops: bool
    to_tier: Tier | None


def _drop_outlook(
    member: Member, program: TierProgram, state: MemberTier, tiers: Sequence[Tier], now: datetime
) -> _Outlook | None:
    """The first review that may lower the member's tier, what it would count of the ranking as it
    stands, and whether and where it would lower the tier; None while a manual change holds the tier.
    As `services.review_program` decides: after the hold, with the review's window."""
    if state.hold or state.tier is None:
        return None
    tz = member.merchant.tz
    not_before = state.held_until
    if program.window == Window.SINCE_LAST_CHANGE:
        eligible = months_later(state.window_start, program.window_months, tz)
        not_before = max(not_before, eligible) if not_before is not None else eligible
    at = may_drop_at(program, not_before, now)
    start = review_window_start(program, at, tz)
    if program.window == Window.SINCE_LAST_CHANGE:
        start = state.window_start
    ranking = ranking_of(member=member, program=program, start=start, end=now)
    earned = tier_for(tiers, ranking)
    if rank_of(earned) >= rank_of(state.tier):
        return _Outlook(at=at, ranking=ranking, drops=False, to_tier=None)
    return _Outlook(
        at=at, ranking=ranking, drops=True, to_tier=lowered_tier(tiers, state.tier, earned, program.downgrade)
    )
