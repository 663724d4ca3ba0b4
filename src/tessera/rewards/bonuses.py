"""Points without a purchase (issue 15 §5): sign-up, first purchase, completed profile, referral and
custom events, each given by a `BonusRule` within its limits and its budget.

Who calls what:
- `members` announces a registration and a profile change (`members.signals`); `receivers` connects them
  to `on_registered` and `on_profile_changed`.
- `sales` calls `reward_first_purchase` at a confirmation that is the member's first purchase, and
  `take_back` when the sale is voided or refunded in full (`sales.bonuses` decides when).
- The API's `POST /events` calls `record_event`.

The rules. Every grant is a ledger credit (kind `bonus`) dated by `points.policy.lot_dates`, with a
reason code naming the rule; a purchase's bonuses (first purchase, referral) follow the sale's pending
period, since a return can take them back. A once-kind (`ONCE_KINDS`) is given at most once per member
and rule (a referrer: once per friend), which a unique index keeps. Limits per member count the rule's
grants not taken back, per calendar day, week (Monday to Sunday) and month in the merchant's zone, and
in all. The member's points account is locked before the limits are counted, so two events of one
member at once never both pass a limit.

The budget is split over `BonusBudgetShard` rows (up to `SHARDS`); a grant takes its points from its
member's shard with one conditional UPDATE (`given + points <= cap`), or, when that shard is spent, from
another that has room. Grants to different members mostly touch different rows, so they do not wait on
each other, and nothing but a grant touches them (a sale without a bonus never does). The rule gives
nothing once no shard has room for the grant: at most `shards × (points − 1)` short of the budget, and
the shard count is chosen so that is under 1/16 of it. A grant taken back gives its points back to
its shard.

Partial refunds keep a purchase's bonus: only a void or the refund that completes the return of every
line takes it back. What the member already spent of it is the ledger's shortfall, as for earned points.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tessera.core.errors import NotFound
from tessera.core.transactions import atomic
from tessera.ledger import services as ledger
from tessera.ledger.locks import mark_locked
from tessera.ledger.models import Account, AccountKind, EntryKind
from tessera.ledger.reasons import Reason
from tessera.members.models import Member, MemberStatus
from tessera.members.services import ensure_can_transact
from tessera.points.policy import lot_dates, policy_of
from tessera.rewards.models import (
    ONCE_KINDS,
    PURCHASE_KINDS,
    BonusBudgetShard,
    BonusGrant,
    BonusKind,
    BonusRule,
)
from tessera.tenancy import config
from tessera.tenancy.models import Merchant, Store
from tessera.tenancy.permissions import authorise

#: The most rows a budget is split over.
SHARDS = 8
#: A shard holds at least this many of the rule's largest grants (so a budget stops < 1/16 short).
GRANTS_PER_SHARD = 16

_REASONS = {
    BonusKind.SIGN_UP: "sign_up_bonus",
    BonusKind.FIRST_PURCHASE: "first_purchase_bonus",
    BonusKind.PROFILE_COMPLETED: "profile_bonus",
    BonusKind.REFERRAL: "referral_bonus",
    BonusKind.EVENT: "event_bonus",
}


@dataclass(frozen=True)
class Awarded:
    rule_id: int
    rule: str
    member_id: int
    points: int


@dataclass(frozen=True)
class NotAwarded:
    """A rule that applied but gave nothing: `code` is `already_given`, `limit_per_day`,
    `limit_per_week`, `limit_per_month`, `limit_per_member` or `budget_spent`."""

    rule_id: int
    rule: str
    member_id: int
    code: str


@dataclass(frozen=True)
class Outcome:
    awarded: list[Awarded]
    not_awarded: list[NotAwarded]

    @property
    def points(self) -> int:
        return sum(grant.points for grant in self.awarded)


# --- configuration ----------------------------------------------------------------------------------


def rules_of(merchant_id: int) -> tuple[BonusRule, ...]:
    """Every bonus rule of the merchant, active or not (a purchase's bonus is taken back even after its
    rule was switched off), from the configuration cache on the API's requests."""
    return config.cached(
        merchant_id, "rewards.bonus_rules", lambda: tuple(BonusRule.objects.filter(merchant_id=merchant_id))
    )


def _in_force(rule: BonusRule, now: datetime) -> bool:
    return (
        rule.is_active
        and (rule.valid_from is None or rule.valid_from <= now)
        and (rule.valid_until is None or now < rule.valid_until)
    )


def rules_in_force(merchant_id: int, kinds: frozenset[str] | set[str], now: datetime) -> list[BonusRule]:
    return [rule for rule in rules_of(merchant_id) if rule.kind in kinds and _in_force(rule, now)]


def has_purchase_bonuses(merchant_id: int) -> bool:
    """Whether a sale's confirmation, void or full refund has bonuses to look at (no query when cached)."""
    return any(rule.kind in PURCHASE_KINDS for rule in rules_of(merchant_id))


def _shard_count(rule: BonusRule) -> int:
    largest = max(rule.points, rule.referrer_points, 1)
    return max(1, min(SHARDS, (rule.budget or 0) // (largest * GRANTS_PER_SHARD)))


@atomic()
def save_bonus_rule(*, rule: BonusRule, actor: Any = None) -> BonusRule:
    """Create or change a rule; its budget is split anew over its shards, keeping what was given."""
    authorise(
        actor, "rewards.change_bonusrule" if rule.pk else "rewards.add_bonusrule", merchant=rule.merchant_id
    )
    if rule.kind != BonusKind.EVENT:
        rule.event_type = ""
    if rule.kind != BonusKind.REFERRAL:
        rule.referrer_points = 0
    rule.stamp(actor)
    rule.full_clean()
    rule.save()
    shards = list(BonusBudgetShard.objects.select_for_update().filter(rule=rule))
    given = sum(shard.given for shard in shards)
    BonusBudgetShard.objects.filter(rule=rule).delete()
    if rule.budget is not None:
        count = _shard_count(rule)
        rows = []
        for number in range(count):
            cap = rule.budget // count + (1 if number < rule.budget % count else 0)
            taken = min(cap, given)
            given -= taken
            rows.append(
                BonusBudgetShard(merchant_id=rule.merchant_id, rule=rule, shard=number, cap=cap, given=taken)
            )
        if given and rows:  # more given than the new budget: the first shard carries the excess
            rows[0].given += given
            rows[0].cap += given
        BonusBudgetShard.objects.bulk_create(rows)
    return rule


def budget_given(rule: BonusRule) -> int:
    return BonusBudgetShard.objects.filter(rule=rule).aggregate(total=Sum("given"))["total"] or 0


# --- granting ---------------------------------------------------------------------------------------


def _locked_points_account(member: Member) -> Account:
    """The member's points account (opened on first use), locked and marked so the credit does not lock it
    again: every grant to this member waits here, so limits are counted one grant after the other."""
    rows = list(
        Account.objects.select_for_update(of=("self",)).filter(
            merchant_id=member.merchant_id, member_id=member.pk, kind=AccountKind.POINTS
        )
    )
    if not rows:
        ledger.open_account(merchant=member.merchant, kind=AccountKind.POINTS, member=member)
        rows = list(
            Account.objects.select_for_update(of=("self",)).filter(
                member_id=member.pk, kind=AccountKind.POINTS
            )
        )
    return mark_locked(rows)[0]


def _windows(tz: Any, now: datetime) -> dict[str, datetime]:
    """Where the merchant's current day, week (from Monday) and month began."""
    local = now.astimezone(tz)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "day": day,
        "week": day - timedelta(days=local.weekday()),
        "month": day.replace(day=1),
    }


def _refusal(rule: BonusRule, member: Member, *, referred: Member | None, now: datetime) -> str | None:
    """Why this grant may not be given (a limit reached, or given before), or None: one query, when the
    rule has anything to count."""
    windows = _windows(member.merchant.tz, now)
    counts: dict[str, Any] = {}
    if rule.kind in ONCE_KINDS:
        counts["once"] = Count("pk", filter=Q(referred=referred) if referred else Q(referred__isnull=True))
    for name, limit in (("day", rule.per_day), ("week", rule.per_week), ("month", rule.per_month)):
        if limit is not None:
            counts[name] = Count("pk", filter=Q(granted_at__gte=windows[name]))
    if rule.per_member is not None:
        counts["member"] = Count("pk")
    if not counts:
        return None
    found = BonusGrant.objects.filter(rule=rule, member=member, taken_back_at__isnull=True).aggregate(
        **counts
    )
    if found.get("once"):
        return "already_given"
    for name, limit in (
        ("day", rule.per_day),
        ("week", rule.per_week),
        ("month", rule.per_month),
        ("member", rule.per_member),
    ):
        if limit is not None and found[name] >= limit:
            return f"limit_per_{name}"
    return None


def _take_budget(rule: BonusRule, member_id: int, points: int) -> int | None:
    """The shard the points were taken from (-1: the rule has no budget); None when it is spent."""
    if rule.budget is None:
        return -1
    shards = BonusBudgetShard.objects.filter(rule=rule, given__lte=F("cap") - points)
    own = member_id % _shard_count(rule)
    if shards.filter(shard=own).update(given=F("given") + points):
        return own
    # The member's shard is spent (near the end of the budget): any other with room.
    for number in shards.exclude(shard=own).values_list("shard", flat=True):
        if shards.filter(shard=number).update(given=F("given") + points):
            return int(number)
    return None


def _grant(
    rule: BonusRule,
    member: Member,
    points: int,
    *,
    reason: Reason,
    now: datetime,
    store: Store | None = None,
    actor: Any = None,
    referred: Member | None = None,
    sale_id: int | None = None,
    event_type: str = "",
) -> Awarded | NotAwarded:
    account = _locked_points_account(member)
    refused = _refusal(rule, member, referred=referred, now=now)
    shard = _take_budget(rule, member.pk, points) if refused is None else None
    if refused is None and shard is None:
        refused = "budget_spent"
    if refused is not None:
        return NotAwarded(rule_id=rule.pk, rule=rule.name, member_id=member.pk, code=refused)
    dates = lot_dates(
        policy_of(member.merchant), earned_at=now, tz=member.merchant.tz, return_window=sale_id is not None
    )
    entry = ledger.credit(
        account=account,
        amount=points,
        kind=EntryKind.BONUS,
        store=store,
        actor=actor,
        source=f"bonus:{rule.pk}",
        reason=reason,
        available_at=dates.available_at,
        expires_at=dates.expires_at,
        now=now,
    )
    BonusGrant.objects.create(
        merchant_id=member.merchant_id,
        rule=rule,
        member=member,
        referred=referred,
        points=points,
        once=rule.kind in ONCE_KINDS,
        sale_id=sale_id,
        event_type=event_type,
        shard=None if shard == -1 else shard,
        entry=entry,
        granted_at=now,
    )
    return Awarded(rule_id=rule.pk, rule=rule.name, member_id=member.pk, points=points)


def _can_earn(member: Member) -> bool:
    return member.status == MemberStatus.ACTIVE and member.is_current


def _outcome(results: list[Awarded | NotAwarded]) -> Outcome:
    return Outcome(
        awarded=[r for r in results if isinstance(r, Awarded)],
        not_awarded=[r for r in results if isinstance(r, NotAwarded)],
    )


def profile_complete(member: Member, rule: BonusRule) -> bool:
    return all(getattr(member, name) not in (None, "") for name in rule.required_fields())


def on_registered(*, member: Member, now: datetime) -> Outcome:
    """Sign-up bonuses, and profile bonuses for a member registered with a complete profile."""
    results: list[Awarded | NotAwarded] = []
    for rule in rules_in_force(member.merchant_id, {BonusKind.SIGN_UP, BonusKind.PROFILE_COMPLETED}, now):
        if rule.kind == BonusKind.PROFILE_COMPLETED and not profile_complete(member, rule):
            continue
        reason = Reason(_REASONS[BonusKind(rule.kind)], {"rule": rule.name})
        results.append(_grant(rule, member, rule.points, reason=reason, now=now, store=member.home_store))
    return _outcome(results)


def on_profile_changed(*, member: Member, now: datetime) -> Outcome:
    """Profile bonuses the change completed (once per rule: a later change gives nothing more)."""
    results: list[Awarded | NotAwarded] = []
    for rule in rules_in_force(member.merchant_id, {BonusKind.PROFILE_COMPLETED}, now):
        if profile_complete(member, rule):
            reason = Reason("profile_bonus", {"rule": rule.name})
            results.append(_grant(rule, member, rule.points, reason=reason, now=now))
    return _outcome(results)


@dataclass(frozen=True)
class PurchaseGrant:
    """A grant a first purchase gives: `points` of `rule` to `member` (the buyer, or their referrer,
    `referred` then naming the buyer)."""

    rule: BonusRule
    member: Member
    points: int
    reason: Reason
    referred: Member | None = None


@dataclass(frozen=True)
class PurchaseSkip:
    """A purchase rule in force that gives nothing to this purchase: `code` is `below_minimum`,
    `not_referred` or `referrer_cannot_earn`."""

    rule: BonusRule
    code: str


def first_purchase_grants(
    *, member: Member, sale_id: int | None, amount: int, now: datetime
) -> tuple[list[PurchaseGrant], list[PurchaseSkip]]:
    """What the member's first purchase of `amount` gives, before limits and budgets: the grants
    `reward_first_purchase` makes (and the simulator shows), and the purchase rules that give nothing."""
    grants: list[PurchaseGrant] = []
    skipped: list[PurchaseSkip] = []
    for rule in rules_in_force(member.merchant_id, PURCHASE_KINDS, now):
        if amount < rule.min_amount:
            skipped.append(PurchaseSkip(rule, "below_minimum"))
            continue
        args = {"rule": rule.name, "sale": sale_id}
        if rule.kind == BonusKind.FIRST_PURCHASE:
            grants.append(PurchaseGrant(rule, member, rule.points, Reason("first_purchase_bonus", args)))
            continue
        referrer = member.referred_by
        if referrer is None:
            skipped.append(PurchaseSkip(rule, "not_referred"))
            continue
        if rule.points:
            grants.append(PurchaseGrant(rule, member, rule.points, Reason("referral_bonus", args)))
        if rule.referrer_points and _can_earn(referrer):
            reason = Reason("referrer_bonus", {"rule": rule.name, "member": member.pk})
            grants.append(PurchaseGrant(rule, referrer, rule.referrer_points, reason, referred=member))
        elif rule.referrer_points:
            skipped.append(PurchaseSkip(rule, "referrer_cannot_earn"))
    return grants, skipped


def refusal_of(grant: PurchaseGrant, *, now: datetime) -> str | None:
    """Why the grant would not be given now (a `NotAwarded` code), or None; reads only: what `_grant`
    decides, for the simulator."""
    refused = _refusal(grant.rule, grant.member, referred=grant.referred, now=now)
    if refused is None and grant.rule.budget is not None:
        room = BonusBudgetShard.objects.filter(rule=grant.rule, given__lte=F("cap") - grant.points)
        if not room.exists():
            refused = "budget_spent"
    return refused


def reward_first_purchase(
    *, member: Member, sale_id: int, amount: int, store: Store, actor: Any = None, now: datetime
) -> Outcome:
    """The member's first purchase (sales decides that it is) of `amount`: first-purchase bonuses and,
    for a referred member, the referral bonuses to them and to their referrer."""
    grants, _skipped = first_purchase_grants(member=member, sale_id=sale_id, amount=amount, now=now)
    return _outcome(
        [
            _grant(
                grant.rule,
                grant.member,
                grant.points,
                reason=grant.reason,
                referred=grant.referred,
                now=now,
                store=store,
                actor=actor,
                sale_id=sale_id,
            )
            for grant in grants
        ]
    )


def take_back(
    *, merchant_id: int, sale_id: int, code: str, store: Store | None = None, actor: Any = None, now: datetime
) -> list[BonusGrant]:
    """Reverse the bonuses `sale_id` earned (`code`: `bonus_voided` or `bonus_refunded`); their budget is
    given back. One query when the sale earned none."""
    grants = list(
        BonusGrant.objects.filter(merchant_id=merchant_id, sale_id=sale_id, taken_back_at__isnull=True)
        .select_related("entry", "rule")
        .select_for_update(of=("self",))
    )
    for grant in grants:
        reversal = ledger.reverse(
            entry=grant.entry,
            store=store,
            actor=actor,
            reason=Reason(code, {"sale": sale_id, "rule": grant.rule.name}),
            now=now,
        )
        grant.taken_back_at = now
        grant.reversal_entry = reversal
        grant.save(update_fields=["taken_back_at", "reversal_entry", "updated_at"])
        if grant.shard is not None:
            BonusBudgetShard.objects.filter(rule_id=grant.rule_id, shard=grant.shard).update(
                given=F("given") - grant.points
            )
    return grants


def record_event(
    *,
    merchant: Merchant,
    member: Member,
    event_type: str,
    store: Store | None = None,
    actor: Any = None,
    now: datetime | None = None,
) -> Outcome:
    """A custom event of the member (`app_installed`, `review_written`, …): the points of every rule in
    force for its type, each within its limits and budget."""
    now = now or timezone.now()
    with atomic():
        authorise(actor, "rewards.add_bonusgrant", merchant=merchant, store=store)
        if member.merchant_id != merchant.pk:
            raise NotFound(_("No such member."), code="member_not_found")
        ensure_can_transact(member)
        results: list[Awarded | NotAwarded] = []
        for rule in rules_in_force(merchant.pk, {BonusKind.EVENT}, now):
            if rule.event_type == event_type:
                reason = Reason("event_bonus", {"rule": rule.name, "event": event_type})
                results.append(
                    _grant(
                        rule,
                        member,
                        rule.points,
                        reason=reason,
                        now=now,
                        store=store,
                        actor=actor,
                        event_type=event_type,
                    )
                )
        return _outcome(results)


# --- the portal's referral panel --------------------------------------------------------------------


@dataclass(frozen=True)
class ReferralSummary:
    referred: int
    points: int


def referral_summary(member: Member) -> ReferralSummary:
    """How many members registered with this member's code, and the referral points it earned them
    (not taken back)."""
    points = BonusGrant.objects.filter(
        merchant_id=member.merchant_id, member=member, referred__isnull=False, taken_back_at__isnull=True
    ).aggregate(total=Sum("points"))["total"]
    referred = Member.objects.filter(merchant_id=member.merchant_id, referred_by=member).count()
    return ReferralSummary(referred=referred, points=points or 0)
