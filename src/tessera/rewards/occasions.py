"""Occasion discounts at the till (issue 15 §3): which apply to a sale, how they meet the tier discount,
and how the uses per member are counted.

**When.** Every date is the sale's local date in its store's zone (the merchant's when the store has
none), at the moment the sale is made (a sale created at 23:59 on the birthday and confirmed after
midnight keeps its discount). Each discount may be bounded by `starts_on`/`ends_on` (included).
- Birthday: the member's birthday this year, or that day's week (Monday to Sunday) or month. A
  birthday on 29 February is kept on **28 February** in a year without one (so its month stays
  February). A week may span the new year: the birthday of 31 December 2026 gives its week
  (28 December 2026 – 3 January 2027) in January 2027 too.
- Membership anniversary: the same windows around the day the member joined (their account's creation,
  in the store's zone), from the first anniversary on: the joining day itself is not one.
- Date range: every day from `starts_on` to `ends_on`. Weekday: every chosen day of the week.
Only an active, current member (like the tier's perks) gets an occasion discount.

**How much.** The occasion's discount is floor(total × percent ÷ 100), at most `max_discount`. The
tier's is floor(total × tier percent ÷ 100). Against it, the occasion's `stacking`:
- `best_of`: the larger of the two applies, alone; equal amounts keep the tier discount (and so use
  nothing of the occasion's limit);
- `add`: both apply (the occasion's part is cut so the two never pass the total);
- `only_one`: the occasion's discount applies **instead of** the tier discount, even when smaller: a
  sale gets one discount, and on the occasion it is this one.
When several occasions apply, one does: the one giving the sale the largest total discount (the
first configured, on a tie). Without any occasion the tier discount applies as before.

**Uses.** With `max_uses`, a member's confirmed sales may use the discount that many times per
occasion (one birthday window, one anniversary window, the range, one weekday date). The quote leaves
out a discount already used up; the confirmation counts the use (`record_uses`: one upsert that
refuses to pass the limit, exact under concurrent sales); a void of the confirmed sale, or the refund
that completes its return, gives the use back (`release_uses`); a partial refund keeps it.

**Cost.** Configuration is read through `tenancy.config.cached`. A sale to which no limited occasion
applies reads nothing more; one that gets a limited occasion's discount costs one statement more in
the quote (the uses read), in create (its quote), in confirm (the upsert), and in the void or the
completing refund (the give-back).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from django.db import connection
from django.db.models import F, Field, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from tessera.core.errors import Conflict
from tessera.members.models import Member, MemberStatus
from tessera.rewards.models import OccasionDiscount, OccasionKind, OccasionPeriod, OccasionUse, Stacking
from tessera.rules.explain import Money, Why, loaded, stored
from tessera.tenancy import config
from tessera.tenancy.models import Store
from tessera.tiers.benefits import TierBenefits

_WHEN: dict[tuple[str, str], str] = {
    (OccasionKind.BIRTHDAY, OccasionPeriod.DAY): gettext_noop("birthday today (%(date)s)"),
    (OccasionKind.BIRTHDAY, OccasionPeriod.WEEK): gettext_noop("birthday this week (%(date)s)"),
    (OccasionKind.BIRTHDAY, OccasionPeriod.MONTH): gettext_noop("birthday this month (%(date)s)"),
    (OccasionKind.ANNIVERSARY, OccasionPeriod.DAY): gettext_noop("membership anniversary today (%(date)s)"),
    (OccasionKind.ANNIVERSARY, OccasionPeriod.WEEK): gettext_noop(
        "membership anniversary this week (%(date)s)"
    ),
    (OccasionKind.ANNIVERSARY, OccasionPeriod.MONTH): gettext_noop(
        "membership anniversary this month (%(date)s)"
    ),
}
_RANGE = gettext_noop("from %(start)s to %(end)s")
_WEEKDAY = gettext_noop("every %(day)s")
#: Django's own catalogue words them in every language.
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_OFF = gettext_noop("%(percent)s%% off %(total)s")
_OCCASION = gettext_noop("%(off)s: %(when)s")
_CAPPED = gettext_noop("%(why)s, capped at %(cap)s")
_INSTEAD = gettext_noop("%(why)s, instead of the tier discount (%(tier)s)")
_CUT = gettext_noop("%(why)s, cut to %(amount)s so the sale is not given away")


@dataclass(frozen=True)
class Discount:
    """One discount a sale gets: its tier's (`occasion` None) or an occasion's, and why.
    `max_uses`/`period_start`: the occasion's limit and the occasion it counts against."""

    name: str
    percent: Decimal
    amount: int
    explanation: Why
    occasion: int | None = None
    period_start: date | None = None
    max_uses: int | None = None

    def stored(self) -> dict[str, Any]:
        """The JSON form a sale keeps (`Transaction.discount_parts`)."""
        return {
            "name": self.name,
            "percent": str(self.percent),
            "amount": self.amount,
            "explanation": stored(self.explanation),
            "occasion": self.occasion,
            "period_start": self.period_start.isoformat() if self.period_start else None,
            "max_uses": self.max_uses,
        }


@dataclass(frozen=True)
class StoredDiscount:
    """A sale's discount as kept (`Discount.stored`), read back for receipts and answers."""

    name: str
    percent: Decimal
    amount: int
    explanation: Why | str
    occasion: int | None
    period_start: date | None
    max_uses: int | None


def stored_discounts(parts: list[dict[str, Any]]) -> list[StoredDiscount]:
    return [
        StoredDiscount(
            name=str(part.get("name", "")),
            percent=Decimal(part.get("percent") or 0),
            amount=int(part.get("amount") or 0),
            explanation=loaded(part.get("explanation")),
            occasion=part.get("occasion"),
            period_start=date.fromisoformat(part["period_start"]) if part.get("period_start") else None,
            max_uses=part.get("max_uses"),
        )
        for part in parts
    ]


def occasions_of(merchant_id: int) -> list[OccasionDiscount]:
    """The merchant's active occasion discounts, first configured first; from the configuration cache."""
    return config.cached(
        merchant_id,
        "rewards.occasions",
        lambda: list(OccasionDiscount.objects.filter(merchant_id=merchant_id, is_active=True).order_by("pk")),
    )


def _in_year(day: date, year: int) -> date:
    """`day`'s month and day in `year`; 29 February is 28 February in a year without it."""
    if day.month == 2 and day.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return day.replace(year=year)


def _window(day: date, period: str) -> tuple[date, date]:
    if period == OccasionPeriod.WEEK:
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    if period == OccasionPeriod.MONTH:
        return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])
    return day, day


def _yearly(anchor: date, period: str, today: date, *, after_year: int | None = None) -> date | None:
    """The first day of the window around `anchor`'s yearly return that contains `today`, if any.
    Last year's and next year's returns too: a week may cross the new year."""
    for year in (today.year - 1, today.year, today.year + 1):
        if after_year is not None and year <= after_year:
            continue
        start, end = _window(_in_year(anchor, year), period)
        if start <= today <= end:
            return start
    return None


def occasion_on(occasion: OccasionDiscount, member: Member, today: date, store: Store) -> date | None:
    """The occasion `today` (a local date) belongs to, as its first day; None when it is not one."""
    if (occasion.starts_on and today < occasion.starts_on) or (occasion.ends_on and today > occasion.ends_on):
        return None
    if occasion.kind == OccasionKind.BIRTHDAY:
        return _yearly(member.birthday, occasion.period, today) if member.birthday else None
    if occasion.kind == OccasionKind.ANNIVERSARY:
        joined = member.created_at.astimezone(store.tz).date()
        return _yearly(joined, occasion.period, today, after_year=joined.year)
    if occasion.kind == OccasionKind.DATE_RANGE:
        return occasion.starts_on
    if occasion.kind == OccasionKind.WEEKDAY:
        return today if str(today.isoweekday()) in occasion.weekdays else None
    return None


def _when(occasion: OccasionDiscount, member: Member, store: Store, period_start: date) -> Why:
    if occasion.kind == OccasionKind.BIRTHDAY and member.birthday:
        return Why(_WHEN[(occasion.kind, occasion.period)], {"date": member.birthday.strftime("%d/%m")})
    if occasion.kind == OccasionKind.ANNIVERSARY:
        joined = member.created_at.astimezone(store.tz).date()
        return Why(_WHEN[(occasion.kind, occasion.period)], {"date": joined.isoformat()})
    if occasion.kind == OccasionKind.WEEKDAY:
        return Why(_WEEKDAY, {"day": Why(_DAY_NAMES[period_start.weekday()], {})})
    return Why(_RANGE, {"start": str(occasion.starts_on), "end": str(occasion.ends_on)})


def _percent(percent: Decimal) -> str:
    """10.00 → "10", 7.50 → "7.5" (never "1E+1")."""
    return f"{percent.normalize():f}"


def _percent_of(total: int, percent: Decimal) -> int:
    return int((Decimal(total) * percent / 100).to_integral_value(rounding=ROUND_FLOOR))


def _used_up(candidates: list[tuple[OccasionDiscount, date]], member: Member) -> set[int]:
    """The limited candidates the member has already used as often as allowed (one read)."""
    limited = [(occasion, start) for occasion, start in candidates if occasion.max_uses]
    if not limited:
        return set()
    which = Q()
    for occasion, start in limited:
        which |= Q(occasion_id=occasion.pk, period_start=start)
    used = dict(
        OccasionUse.objects.filter(which, member_id=member.pk).values_list("occasion_id", "uses").order_by()
    )
    return {
        occasion.pk for occasion, _start in limited if used.get(occasion.pk, 0) >= (occasion.max_uses or 0)
    }


_NOT_TODAY = gettext_noop("not an occasion on %(date)s")
_USED_UP = gettext_noop("already used %(uses)s time(s) this occasion, the most allowed")
_TIER_LARGER = gettext_noop("best of: the tier discount (%(tier)s) is at least as large")
_NOTHING = gettext_noop("gives nothing more on this sale")
_OTHER_LARGER = gettext_noop("“%(other)s” gives the sale a larger discount")
_CHOSEN = gettext_noop("applies: %(why)s")


@dataclass(frozen=True)
class Considered:
    """An active occasion discount as the sale's decision saw it: whether it applies, and why not."""

    occasion: OccasionDiscount
    #: The first day of the occasion the sale belongs to; None when the sale's date is not one.
    period_start: date | None
    chosen: bool
    #: Why it applies or not, in the reader's language when worded.
    explanation: Why


@dataclass(frozen=True)
class DiscountDecision:
    """The discounts a sale gets (`chosen`, what the quote applies) and every active occasion's outcome."""

    chosen: list[Discount]
    considered: list[Considered]


def discounts_for(
    *, member: Member, store: Store, at: datetime, total: int, perks: TierBenefits, currency: str
) -> list[Discount]:
    """The discounts a basket of `total` gets at `at`: the tier's and at most one occasion's (see the
    module docstring), in the order they apply."""
    return decide_discounts(
        member=member, store=store, at=at, total=total, perks=perks, currency=currency
    ).chosen


def decide_discounts(
    *, member: Member, store: Store, at: datetime, total: int, perks: TierBenefits, currency: str
) -> DiscountDecision:
    """`discounts_for`, with the outcome of each active occasion: the one decision the quote applies and
    the simulator explains (issue 15 §3). No statement more than the quote's."""
    tier: list[Discount] = []
    if perks.discount_percent:
        tier = [
            Discount(
                name=perks.tier_name,
                percent=perks.discount_percent,
                amount=_percent_of(total, perks.discount_percent),
                explanation=Why(
                    _OFF, {"percent": _percent(perks.discount_percent), "total": Money(total, currency)}
                ),
            )
        ]
    occasions = occasions_of(member.merchant_id)
    if not occasions or member.status != MemberStatus.ACTIVE or not member.is_current:
        return DiscountDecision(chosen=tier, considered=[])
    today = at.astimezone(store.tz).date()
    starts = {occasion.pk: occasion_on(occasion, member, today, store) for occasion in occasions}
    candidates = [(occasion, start) for occasion in occasions if (start := starts[occasion.pk]) is not None]
    used_up = _used_up(candidates, member)
    best: list[Discount] | None = None
    outcomes: dict[int, list[Discount]] = {}
    for occasion, start in candidates:
        if occasion.pk in used_up:
            continue
        outcome = outcomes[occasion.pk] = _with_occasion(
            occasion, start, tier, member, store, total, currency
        )
        if best is None or sum(d.amount for d in outcome) > sum(d.amount for d in best):
            best = outcome
    chosen = tier if best is None else best
    mine = next((d for d in chosen if d.occasion is not None), None)
    considered = []
    for occasion in occasions:
        start = starts[occasion.pk]
        found = outcomes.get(occasion.pk)
        if start is None:
            why = Why(_NOT_TODAY, {"date": today.isoformat()})
        elif found is None:
            why = Why(_USED_UP, {"uses": occasion.max_uses or 0})
        elif mine is not None and mine.occasion == occasion.pk:
            why = Why(_CHOSEN, {"why": mine.explanation})
        elif found == tier:
            best_of = tier and occasion.stacking == Stacking.BEST_OF
            why = Why(_TIER_LARGER, {"tier": tier[0].name}) if best_of else Why(_NOTHING, {})
        else:
            why = Why(_OTHER_LARGER, {"other": mine.name if mine else ""})
        considered.append(
            Considered(
                occasion=occasion,
                period_start=start,
                chosen=mine is not None and mine.occasion == occasion.pk,
                explanation=why,
            )
        )
    return DiscountDecision(chosen=chosen, considered=considered)


def _with_occasion(
    occasion: OccasionDiscount,
    start: date,
    tier: list[Discount],
    member: Member,
    store: Store,
    total: int,
    currency: str,
) -> list[Discount]:
    """The discounts of the sale with this occasion's, by its stacking."""
    off = Why(_OFF, {"percent": _percent(occasion.percent), "total": Money(total, currency)})
    why = Why(_OCCASION, {"off": off, "when": _when(occasion, member, store, start)})
    amount = _percent_of(total, occasion.percent)
    if occasion.max_discount is not None and amount > occasion.max_discount:
        amount = occasion.max_discount
        why = Why(_CAPPED, {"why": why, "cap": Money(occasion.max_discount, currency)})
    tier_amount = sum(d.amount for d in tier)
    if occasion.stacking == Stacking.ADD:
        if tier_amount + amount > total:
            amount = total - tier_amount
            why = Why(_CUT, {"why": why, "amount": Money(amount, currency)})
        kept = tier
    elif occasion.stacking == Stacking.BEST_OF and amount <= tier_amount:
        return tier
    else:
        if tier:
            why = Why(_INSTEAD, {"why": why, "tier": tier[0].name})
        kept = []
    if amount <= 0:
        return tier
    mine = Discount(
        name=occasion.name,
        percent=occasion.percent,
        amount=amount,
        explanation=why,
        occasion=occasion.pk,
        period_start=start,
        max_uses=occasion.max_uses,
    )
    return [*kept, mine]


class OccasionUsedUp(Conflict):
    """The sale's occasion discount was used as often as allowed since it was quoted (another sale of
    the member confirmed first): void this sale and make it again, without the discount."""

    code = "occasion_discount_used_up"


def _column(name: str) -> str:
    field = OccasionUse._meta.get_field(name)
    assert isinstance(field, Field) and field.column
    return field.column


def record_uses(*, merchant_id: int, member_id: int, parts: list[StoredDiscount], now: datetime) -> None:
    """Count the use of each limited occasion discount of a sale being confirmed, or refuse
    (`OccasionUsedUp`) when it would pass the limit: one upsert per discount, whose row lock makes
    concurrent confirmations count one after the other."""
    meta = OccasionUse._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    columns = {name: quote(_column(name)) for name in ("occasion", "member", "uses")}
    sql = (
        f"INSERT INTO {table} (merchant_id, {columns['occasion']}, {columns['member']}, period_start, "  # noqa: S608 (names from the model, values are parameters)
        f"{columns['uses']}, updated_at) VALUES (%s, %s, %s, %s, 1, %s) "
        f"ON CONFLICT ({columns['occasion']}, {columns['member']}, period_start) DO UPDATE SET "
        f"{columns['uses']} = {table}.{columns['uses']} + 1, updated_at = excluded.updated_at "
        f"WHERE {table}.{columns['uses']} < %s RETURNING {columns['uses']}"
    )
    for part in parts:
        if part.occasion is None or not part.max_uses or part.period_start is None:
            continue
        with connection.cursor() as cursor:
            cursor.execute(
                sql,
                [
                    merchant_id,
                    part.occasion,
                    member_id,
                    connection.ops.adapt_datefield_value(part.period_start),
                    connection.ops.adapt_datetimefield_value(now),
                    part.max_uses,
                ],
            )
            counted = cursor.fetchone()
        if counted is None:
            raise OccasionUsedUp(
                _("“%(name)s” was already used as often as allowed: void this sale and make it again.")
                % {"name": part.name},
                occasion=part.occasion,
            )


def release_uses(*, member_id: int, parts: list[StoredDiscount]) -> None:
    """Give back the uses a confirmed sale counted (its void, or the refund completing its return)."""
    for part in parts:
        if part.occasion is None or not part.max_uses or part.period_start is None:
            continue
        OccasionUse.objects.filter(
            occasion_id=part.occasion, member_id=member_id, period_start=part.period_start, uses__gt=0
        ).update(uses=F("uses") - 1)
