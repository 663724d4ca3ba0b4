"""Every write of the tiers app (F1, F2): programs and tiers, upgrades, reviews, manual changes.

- `evaluate_upgrade` runs after each confirmed sale (sales calls it in the confirming transaction) and
  after an adjustment voucher's points: a member moves up as soon as the ranking reaches a higher tier.
- `review_program` lowers tiers on the program's schedule (the `reevaluate_tiers` task), a chunk of
  members per transaction, with set-based ranking queries, so it scales to millions of members.
- `set_tier_manually` is the adjustment voucher's tier step; it sets a hold (see `MemberTier`).
- `record_spend` / `return_spend`: sales call them for a sale that earned no points, so its spend
  still counts toward the ranking (`RankingSpend`).
- `record_downgrade_notices` forecasts, `downgrade_notice_days` before a review, who that review will
  lower, for the "your tier will drop on …" notice (issue 15 §2).

Holds and downgrades (issue 15 §2): reaching a higher tier (by ranking or by hand) starts the program's
hold, `held_until` = `hold_months` later on the local calendar; no review lowers the tier before then,
whatever the ranking window says. A review lowers a tier to the one the ranking supports, or one tier
at a time (`Downgrade`); a tier reached by a downgrade has no hold.

Tier rewards: the tier's `reward_points` are credited (ledger BONUS) the first time a member reaches
the tier, by ranking or by hand; never again for that member and tier, nor for the new account after
a phone change if an earlier account of the person got it (C3). Skipping tiers rewards only the tier
reached. Every change is a `TierChange` row and a `member.tier_changed` event.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db import connection
from django.db.models import Exists, Max, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tessera.core.bulk import id_list
from tessera.core.errors import ValidationFailed
from tessera.core.events import publish, publish_many
from tessera.core.limits import MAX_SAFE_INTEGER
from tessera.core.prepared import Prepared
from tessera.core.progress import SILENT, Progress
from tessera.core.sums import NUMERIC
from tessera.core.transactions import atomic
from tessera.ledger import services as ledger
from tessera.ledger.models import AccountKind, EntryKind
from tessera.ledger.reasons import Reason
from tessera.members.models import Member, MemberStatus
from tessera.points.policy import lot_dates, policy_of
from tessera.tenancy.permissions import as_user, authorise
from tessera.tiers.models import (
    ChangeReason,
    Downgrade,
    DowngradeNotice,
    Hold,
    MemberTier,
    RankingSpend,
    Review,
    Tier,
    TierChange,
    TierProgram,
    TierReward,
    Window,
)
from tessera.tiers.selectors import (
    REWARD_SOURCE_PREFIX,
    changed_since,
    last_review,
    lowered_tier,
    may_drop_at,
    months_later,
    next_review,
    points_account_of,
    program_of,
    rank_of,
    ranking_of,
    ranking_parts,
    rankings,
    review_window_start,
    tier_for,
    tiers_of,
    upgrade_window_start,
)

#: Members per transaction in a review: a few statements per chunk whatever its size (issue 16), its
#: member ids held in memory, its tier states locked until it commits (about half a second).
REVIEW_CHUNK = 10_000
#: Members per round of downgrade notices (Python objects per member; an `IN` list of their ids).
NOTICE_CHUNK = 1000
#: Members per transaction of an incremental review: ids far apart, named in `IN` lists of placeholders
#: (a few lists per chunk; SQLite allows 32,766 placeholders a statement, PostgreSQL 65,535).
INCREMENTAL_CHUNK = 1000


# --- configuration ------------------------------------------------------------------------------------


@atomic()
def save_program(*, program: TierProgram, actor: Any = None) -> TierProgram:
    """Create or change the merchant's tier program (one per merchant)."""
    perm = "tiers.add_tierprogram" if program._state.adding else "tiers.change_tierprogram"
    authorise(actor, perm, merchant=program.merchant_id)
    if program.window_months < 1:
        raise ValidationFailed(_("The window needs at least one month."), code="invalid_window")
    if TierProgram.objects.of(program.merchant_id).exclude(pk=program.pk).exists():
        raise ValidationFailed(_("This merchant already has a tier program."), code="program_exists")
    if program.review == Review.YEARLY:
        try:
            datetime(2024, program.review_month, program.review_day)  # a leap year: 29 February is valid
        except ValueError:
            raise ValidationFailed(_("The review date does not exist."), code="invalid_review_date") from None
    program.reviewed_through = None  # the continuous review's next run reviews everyone again
    program.stamp(actor)
    program.save()
    return program


@atomic()
def save_tier(*, tier: Tier, actor: Any = None) -> Tier:
    """Create or change a tier. A higher rank must need a higher threshold, so ranking orders tiers."""
    perm = "tiers.add_tier" if tier._state.adding else "tiers.change_tier"
    authorise(actor, perm, merchant=tier.merchant_id)
    check_tier(tier, lock=True)
    tier.stamp(actor)
    tier.save()
    # A threshold or rank changes who a review lowers: the continuous review's next run reviews everyone.
    TierProgram.objects.filter(merchant_id=tier.merchant_id).update(reviewed_through=None)
    return tier


def check_tier(tier: Tier, *, lock: bool = False) -> None:
    """ValidationFailed unless the tier's rank and code are free and its threshold fits between its
    neighbours' (a higher rank needs a higher threshold, so ranking orders tiers)."""
    others = Tier.objects.of(tier.merchant_id).exclude(pk=tier.pk)
    for other in others.select_for_update() if lock else others:
        if other.rank == tier.rank:
            raise ValidationFailed(
                _("Tier “%(name)s” already has rank %(rank)s.") % {"name": other.name, "rank": tier.rank},
                code="rank_taken",
            )
        if other.code == tier.code:
            raise ValidationFailed(_("Another tier has this code."), code="code_taken")
        if (other.rank < tier.rank) != (other.threshold < tier.threshold):
            raise ValidationFailed(
                _("A higher tier needs a higher threshold than “%(name)s” (%(threshold)s).")
                % {"name": other.name, "threshold": other.threshold},
                code="threshold_order",
            )


# --- changes ------------------------------------------------------------------------------------------


def _lock_state(member: Member) -> MemberTier | None:
    return MemberTier.objects.select_for_update().filter(member_id=member.pk).first()


def _record(
    *,
    member: Member,
    state: MemberTier | None,
    to_tier: Tier | None,
    reason: ChangeReason,
    ranking: int,
    now: datetime,
    actor: Any,
    hold: Hold = Hold.NONE,
    hold_reference: Tier | None = None,
    voucher_code: str = "",
    note: str = "",
) -> TierChange:
    """Move the member to `to_tier`: state, history row, reward, event. Moving up starts the program's
    hold (`held_until`); moving down ends any."""
    from_tier = state.tier if state is not None else None
    if state is None:
        state = MemberTier(merchant_id=member.merchant_id, member=member)
    up = to_tier is not None and rank_of(to_tier) > rank_of(from_tier)
    program = program_of(member.merchant_id)
    state.held_until = (
        months_later(now, program.hold_months, member.merchant.tz)
        if up and program is not None and program.hold_months
        else None
    )
    state.tier = to_tier
    state.since = now
    state.window_start = now
    state.hold = hold
    state.hold_reference = hold_reference
    state.stamp(actor)
    state.save()
    change = TierChange(
        merchant_id=member.merchant_id,
        member=member,
        from_tier=from_tier,
        to_tier=to_tier,
        reason=reason,
        ranking=ranking,
        voucher_code=voucher_code,
        note=note[:300],
        at=now,
    )
    change.stamp(actor)
    change.save()
    if up and to_tier is not None:
        _reward(member=member, tier=to_tier, change=change, actor=actor, now=now)
    _announce(change)
    return change


def _announce(change: TierChange) -> None:
    publish(
        merchant_id=change.merchant_id,
        type=TIER_CHANGED,
        payload=_tier_changed_payload(
            change.member_id, change.from_tier, change.to_tier, change.reason, change.at, change.voucher_code
        ),
    )


TIER_CHANGED = "member.tier_changed"


def _tier_changed_payload(
    member_id: int,
    from_tier: Tier | None,
    to_tier: Tier | None,
    reason: str,
    at: datetime,
    voucher_code: str = "",
) -> dict[str, Any]:
    return {
        "member_id": member_id,
        "from": from_tier.code if from_tier else None,
        "to": to_tier.code if to_tier else None,
        "reason": reason,
        "voucher_code": voucher_code,
        "at": at.isoformat(),
    }


def _earlier_accounts(member: Member) -> list[int]:
    """This account and the accounts it replaced after phone changes: one person (C3)."""
    ids, frontier = [member.pk], [member.pk]
    while frontier:
        frontier = list(Member.objects.filter(superseded_by_id__in=frontier).values_list("pk", flat=True))
        ids.extend(frontier)
    return ids


def _reward(*, member: Member, tier: Tier, change: TierChange, actor: Any, now: datetime) -> None:
    if tier.reward_points <= 0:
        return
    if TierReward.objects.filter(member_id__in=_earlier_accounts(member), tier=tier).exists():
        return
    dates = lot_dates(policy_of(member.merchant), earned_at=now, tz=member.merchant.tz)
    account = ledger.open_account(merchant=member.merchant, kind=AccountKind.POINTS, member=member)
    entry = ledger.credit(
        account=account,
        amount=tier.reward_points,
        kind=EntryKind.BONUS,
        actor=actor,
        source=f"{REWARD_SOURCE_PREFIX}{tier.pk}",
        reason=Reason("tier_reward", {"tier": tier.name}),
        available_at=dates.available_at,
        expires_at=dates.expires_at,
        now=now,
    )
    # Changes of one member are serialised by the MemberTier row lock; the constraint is the backstop.
    TierReward.objects.create(
        merchant_id=member.merchant_id,
        member=member,
        tier=tier,
        points=tier.reward_points,
        entry=entry,
        change=change,
        created_by=as_user(actor),
        updated_by=as_user(actor),
    )


def evaluate_upgrade(*, member: Member, actor: Any = None, now: datetime | None = None) -> TierChange | None:
    """Move the member up now if the ranking reaches a higher tier (F1), or past a hold (F2).

    Called by sales after each confirmed sale, in its transaction. Never lowers a tier. Returns the
    change, or None. Members who are not active (C2) and replaced accounts are not evaluated.
    """
    now = now or timezone.now()
    program = program_of(member.merchant_id)
    if (
        program is None
        or not program.is_active
        or not member.is_current
        or member.status != MemberStatus.ACTIVE
    ):
        return None
    if program.window != Window.SINCE_LAST_CHANGE and not _may_rise(member, program, now):
        return None
    with atomic():
        state = _lock_state(member)
        tiers = tiers_of(member.merchant_id)
        start = upgrade_window_start(program, state, now, member.merchant.tz)
        ranking = ranking_of(member=member, program=program, start=start, end=now)
        earned = tier_for(tiers, ranking)
        current = state.tier if state is not None else None
        floor = state.hold_reference if state is not None and state.hold else current
        if earned is None or rank_of(earned) <= rank_of(floor):
            return None
        return _record(
            member=member,
            state=state,
            to_tier=earned,
            reason=ChangeReason.UPGRADE,
            ranking=ranking,
            now=now,
            actor=actor,
        )


#: `_may_rise`'s statement, compiled once per process, basis and kind of window (core.prepared; issue
#: 13: building its aggregates was most of the CPU of points added with a tier program), with the names
#: of the ranking's parts it annotates.
_GLANCES: dict[tuple[str, bool], tuple[Prepared[Member], tuple[str, ...]]] = {}


def _glance(basis: str, *, windowed: bool) -> tuple[Prepared[Member], tuple[str, ...]]:
    known = _GLANCES.get((basis, windowed))
    if known is not None:
        return known

    def build(merchant_id: int, member_id: int, end: datetime, start: datetime | None = None) -> Any:
        parts = ranking_parts(
            merchant_id=merchant_id,
            basis=basis,
            start=start,
            end=end,
            members=Q(account__member_id=OuterRef("pk")),
            points_account=points_account_of(merchant_id, member_id),
        )
        sums = {
            f"part_{index}": Subquery(
                part.queryset.order_by()
                .values(part.member_field)
                .annotate(total=part.total)
                .values("total")[:1]
            )
            for index, part in enumerate(parts)
        }
        # Only the columns the answer needs: the tiers themselves come from the configuration cache.
        return (
            Member.objects.filter(pk=member_id)
            .select_related("tier_state")
            .only("pk", "tier_state__tier", "tier_state__hold", "tier_state__hold_reference")
            .annotate(**sums)
            .order_by("pk")[:1]
        )

    kinds: dict[str, type] = {"merchant_id": int, "member_id": int, "end": datetime}
    if windowed:
        kinds["start"] = datetime
    prepared = Prepared(build, **kinds)
    # How many parts the basis adds up (spend: sales, returns, sales without points; points: two).
    count = len(ranking_parts(merchant_id=0, basis=basis, start=None, end=timezone.now(), members=Q()))
    known = _GLANCES[basis, windowed] = (prepared, tuple(f"part_{index}" for index in range(count)))
    return known


def _may_rise(member: Member, program: TierProgram, now: datetime) -> bool:
    """Whether the ranking reaches a tier above the member's floor, at a glance: the tier state and the
    ranking in one statement, nothing locked (issue 13). Most sales move nobody; only when this says yes
    is the state locked and the decision taken again (`evaluate_upgrade`).

    Nothing is lost by not locking here: the entries the ranking adds up are written under the member's
    points account lock, which the caller holds (a confirmed sale, points added), so they are all seen;
    what the lock would add is waiting for a review or a manual change of this very member committing
    in the same instant, which the member's next sale sees. A window that starts at the member's own
    last change is not glanced at (the locked path reads it)."""
    start = upgrade_window_start(program, None, now, member.merchant.tz)
    values: dict[str, Any] = {"merchant_id": member.merchant_id, "member_id": member.pk, "end": now}
    if start is not None:
        values["start"] = start
    glance, parts = _glance(program.basis, windowed=start is not None)
    found = glance(**values)
    row = found[0] if found else None
    if row is None:
        return False
    ranking = min(sum(int(getattr(row, name) or 0) for name in parts), MAX_SAFE_INTEGER)
    state: MemberTier | None = getattr(row, "tier_state", None)
    tiers = tiers_of(member.merchant_id)
    by_id: dict[int | None, Tier] = {tier.pk: tier for tier in tiers}
    # A tier the cache does not know ranks 0: the answer errs towards yes, and the locked path decides.
    current = by_id.get(state.tier_id) if state is not None else None
    floor = by_id.get(state.hold_reference_id) if state is not None and state.hold else current
    earned = tier_for(tiers, ranking)
    return earned is not None and rank_of(earned) > rank_of(floor)


def set_tier_manually(
    *,
    member: Member,
    tier: Tier,
    actor: Any = None,
    voucher_code: str = "",
    note: str = "",
    now: datetime | None = None,
) -> TierChange | None:
    """The adjustment voucher's tier step (F2); the voucher service has authorised the actor.

    Up: the member keeps `tier` until the ranking earns a higher one; the reward is granted as for an
    automatic upgrade. Down: the member keeps `tier` until the ranking earns a tier above the one held
    before. Either way no review lowers the tier meanwhile. The same tier: nothing changes (None).
    """
    if tier.merchant_id != member.merchant_id:
        raise ValidationFailed(_("The tier belongs to another merchant."), code="cross_merchant")
    now = now or timezone.now()
    with atomic():
        state = _lock_state(member)
        current = state.tier if state is not None else None
        if current is not None and current.pk == tier.pk:
            return None
        program = program_of(member.merchant_id)
        ranking = 0
        if program is not None:
            start = upgrade_window_start(program, state, now, member.merchant.tz)
            ranking = ranking_of(member=member, program=program, start=start, end=now)
        up = rank_of(tier) > rank_of(current)
        return _record(
            member=member,
            state=state,
            to_tier=tier,
            reason=ChangeReason.MANUAL_UPGRADE if up else ChangeReason.MANUAL_DOWNGRADE,
            ranking=ranking,
            now=now,
            actor=actor,
            hold=Hold.MANUAL_UPGRADE if up else Hold.MANUAL_DOWNGRADE,
            hold_reference=tier if up else current,
            voucher_code=voucher_code,
            note=note,
        )


# --- scheduled review (downgrades) --------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewResult:
    reviewed: int
    downgraded: int
    renewed: int
    #: Only the members `selectors.changed_since` the last continuous run were reviewed.
    incremental: bool = False


def review_due(program: TierProgram, now: datetime) -> bool:
    """True when the program has not been reviewed since the start of the current period (merchant's
    time zone): today, this month or this year since its review date; a continuous review, always."""
    if not program.is_active:
        return False
    if program.last_reviewed_at is None:
        return True
    return program.last_reviewed_at < last_review(program, now)


# The review's per-chunk statements, the same text on PostgreSQL and SQLite (>= 3.35: RETURNING,
# UPDATE … FROM) but for `{ids}` (core.bulk: the chunk's member ids, one bound value) and `{ranked}`,
# each member's ranking (`_ranked`, compiled by the ORM).
#: The downgrades of a chunk, decided and written as history in one statement: each member's ranking
#: (capped like `selectors.rankings`), the highest tier it reaches (`tier_for`: thresholds rise with
#: rank), the tier it lowers to (`lowered_tier`: `{target}` is the earned rank, or with one tier at a
#: time the higher of it and the rank just below the current one).
_REVIEW_DOWNGRADES = """INSERT INTO tiers_tierchange (created_at, updated_at, merchant_id, member_id,
        from_tier_id, to_tier_id, reason, ranking, voucher_code, note, at)
    WITH ranked (member_id, total) AS ({ranked}),
    chunk AS (
        SELECT s.member_id, s.tier_id, cur.rank AS current_rank,
            CASE WHEN COALESCE(r.total, 0) > %s THEN %s ELSE CAST(COALESCE(r.total, 0) AS BIGINT) END
                AS ranking
        FROM tiers_membertier s JOIN tiers_tier cur ON cur.id = s.tier_id
        LEFT JOIN ranked r ON r.member_id = s.member_id
        WHERE s.member_id {ids}),
    decided AS (
        SELECT c.member_id, c.tier_id, c.current_rank, c.ranking,
            COALESCE((SELECT MAX(t.rank) FROM tiers_tier t
                WHERE t.merchant_id = %s AND t.threshold <= c.ranking), 0) AS earned_rank,
            COALESCE((SELECT MAX(t.rank) FROM tiers_tier t
                WHERE t.merchant_id = %s AND t.rank < c.current_rank), 0) AS step_rank
        FROM chunk c)
    SELECT %s, %s, %s, d.member_id, d.tier_id, target.id, %s, d.ranking, '', '', %s
    FROM decided d LEFT JOIN tiers_tier target ON target.merchant_id = %s AND target.rank = {target}
    WHERE d.earned_rank < d.current_rank
    ORDER BY d.member_id
    RETURNING id, member_id, from_tier_id, to_tier_id"""
_EARNED_RANK = "d.earned_rank"
_ONE_TIER_RANK = "CASE WHEN d.step_rank > d.earned_rank THEN d.step_rank ELSE d.earned_rank END"
#: The lowered members' state, from the history rows just written. The states are found by their
#: member ids too: joined only through `c.member_id`, PostgreSQL hash-joined the history rows against
#: a sequential scan of every member's state, for every chunk (42 ms per chunk at 100,000 members).
_REVIEW_LOWER = """UPDATE tiers_membertier SET tier_id = c.to_tier_id, since = %s, window_start = %s,
        held_until = NULL, updated_at = %s
    FROM tiers_tierchange c
    WHERE c.id {ids} AND tiers_membertier.member_id {ids} AND tiers_membertier.member_id = c.member_id"""
#: "Since the last change": the members who qualified again start a new window.
_REVIEW_RENEW = "UPDATE tiers_membertier SET window_start = %s, updated_at = %s WHERE member_id {ids}"


def _ranked(
    *, merchant_id: int, program: TierProgram, start: datetime | None, end: datetime, members: Q
) -> tuple[str, tuple[Any, ...]]:
    """(member id, ranking) of the tier states `members` (a Q on `MemberTier`) picks, the statement
    and its parameters: each part of the ranking (`selectors.ranking_parts`) a correlated subquery on
    the member, so each chunk reads only its own members' accounts and entries through their indexes.
    Before, the parts were one `UNION ALL` of aggregates joined to the chunk by its range of member
    ids, and PostgreSQL read them by a hash join against every entry of the window and a sequential
    scan of `ledger_entry` for the returns — for every chunk (issue 16: 45 of the 70 ms of a chunk of
    1,000 members at 100,000, growing with the ledger)."""
    parts = ranking_parts(
        merchant_id=merchant_id,
        basis=program.basis,
        start=start,
        end=end,
        members=Q(account__member_id=OuterRef("member_id")),
        from_window_start=program.window == Window.SINCE_LAST_CHANGE,
    )
    total: Any = None
    for part in parts:
        summed = Coalesce(
            Subquery(
                part.queryset.order_by().values(part.member_field).annotate(total=part.total).values("total")
            ),
            Value(0),
            output_field=NUMERIC,
        )
        total = summed if total is None else total + summed
    query = (
        MemberTier.objects.filter(members, merchant_id=merchant_id)
        .order_by()
        .annotate(ranking=total)
        .values_list("member_id", "ranking")
    )
    return query.query.sql_with_params()


def review_program(
    *,
    program: TierProgram,
    now: datetime | None = None,
    chunk_size: int = REVIEW_CHUNK,
    progress: Progress = SILENT,
    full: bool = False,
) -> ReviewResult:
    """Lower the tier of every member whose ranking no longer holds it (F1), to the tier the ranking
    supports or one tier at a time (the program's `downgrade`).

    Held members are left alone: by a manual change (F2), or within the hold after reaching their tier
    (`held_until` after `now`). "Since the last change": a member is reviewed once their window
    is `window_months` old; qualified again, the window restarts (renewed), else the tier is lowered
    to what the ranking earns. Rolling window and calendar year: the tier becomes the one the review
    window earns, if lower.

    Set-based (issue 16): each chunk of members is one transaction of three or four statements
    whatever its size — lock the chunk's tier states (ids only), decide and write the history
    (`INSERT … SELECT … RETURNING`), lower the states (`UPDATE … FROM` the history rows), renew the
    windows of the others — and one `member.tier_changed` event per change. A crash loses at most the
    chunk in flight; a re-run reviews the rest (a lowered member is not lowered again by the same
    ranking), and the program is marked reviewed only at the end.

    Incremental (issue 15 §2): a continuous review that ran before (`reviewed_through`, its watermark)
    reviews only the members `selectors.changed_since` that run, and decides for them exactly as a full
    review would; the others would be kept. The watermark moves to `now` only once every chunk has
    committed, so a run that stopped half-way leaves it where it was and the next run looks from there.
    `full`, an `as of` instant before the watermark, or a watermark cleared by a change of the program
    or its tiers, review everyone. Scheduled reviews are always full.
    """
    now = now or timezone.now()
    merchant = program.merchant
    tiers = tiers_of(merchant.pk)
    by_id = {t.pk: t for t in tiers}
    start = review_window_start(program, now, merchant.tz)
    since_change = program.window == Window.SINCE_LAST_CHANGE
    continuous = program.review == Review.CONTINUOUS
    incremental = (
        not full and continuous and program.reviewed_through is not None and program.reviewed_through <= now
    )
    # The chunk query filters MemberTier alone and asks for current members through a semi-join: joining
    # members_member made PostgreSQL scan members from the first one for every chunk (540 ms per chunk
    # half-way through 10^6 members, against 1.3 ms now) and lock the member rows as well.
    candidates = MemberTier.objects.of(merchant).filter(
        Q(held_until__isnull=True) | Q(held_until__lte=now), hold="", tier__isnull=False
    )
    live = Member.objects.of(merchant).filter(superseded_by__isnull=True, erased_at__isnull=True)
    if since_change:
        candidates = candidates.filter(
            window_start__lte=months_later(now, -program.window_months, merchant.tz)
        )
    if program.downgrade == Downgrade.ONE_TIER and not continuous:
        # A run that stopped half-way (the program is marked reviewed only at the end) is resumed by the
        # next: who this period's review already took down a tier is not taken down another.
        candidates = candidates.exclude(
            Exists(
                TierChange.objects.filter(
                    member_id=OuterRef("member_id"),
                    reason=ChangeReason.DOWNGRADE,
                    at__gte=last_review(program, now),
                )
            )
        )
    # Incremental: the members to review, found once (one statement), then locked a chunk at a time.
    pending: list[int] | None = None
    if incremental:
        assert program.reviewed_through is not None
        changed = candidates.filter(changed_since(program, program.reviewed_through, now))
        pending = list(changed.order_by("member_id").values_list("member_id", flat=True))
    advance = progress.task(
        gettext("Tier review of %(merchant)s (members)") % {"merchant": merchant.name},
        candidates.filter(member__in=live.values("pk")).count if pending is None else partial(len, pending),
    )
    ids = id_list()
    target = _ONE_TIER_RANK if program.downgrade == Downgrade.ONE_TIER else _EARNED_RANK
    at = connection.ops.adapt_datetimefield_value(now)
    reviewed = downgraded = renewed = 0
    last_member = 0
    while True:
        with atomic():
            if pending is None:
                scope = candidates.filter(
                    member_id__gt=last_member, member__in=live.filter(pk__gt=last_member).values("pk")
                )
            elif pending:
                size = min(chunk_size, INCREMENTAL_CHUNK)
                batch, pending = pending[:size], pending[size:]
                scope = candidates.filter(
                    member_id__in=batch, member__in=live.filter(pk__in=batch).values("pk")
                )
            else:
                break
            chunk = list(
                scope.order_by("member_id")
                .select_for_update()
                .values_list("member_id", flat=True)[:chunk_size]
            )
            if not chunk:
                if pending is None:
                    break
                continue
            last_member = chunk[-1]
            ranked, ranked_params = _ranked(
                merchant_id=merchant.pk,
                program=program,
                start=start,
                end=now,
                # A full review's chunk is a range of ids; an incremental one's, a few ids far apart.
                members=Q(member_id__in=chunk)
                if incremental
                else Q(member_id__gte=chunk[0], member_id__lte=last_member),
            )
            written = connection.ops.adapt_datetimefield_value(timezone.now())
            with connection.cursor() as cursor:
                if connection.vendor == "postgresql":
                    # The chunk's statement is estimated dear (a correlated subquery per part of the
                    # ranking, per member) and so JIT-compiled: 445 ms of compiling for a 10,000-member
                    # chunk that executes in about 150 ms. For this transaction only.
                    cursor.execute("SET LOCAL jit = off")
                cursor.execute(
                    _REVIEW_DOWNGRADES.format(ranked=ranked, ids=ids.sql, target=target),
                    [
                        *ranked_params,
                        MAX_SAFE_INTEGER,
                        MAX_SAFE_INTEGER,
                        ids.param(chunk),
                        merchant.pk,
                        merchant.pk,
                        written,
                        written,
                        merchant.pk,
                        ChangeReason.DOWNGRADE.value,
                        at,
                        merchant.pk,
                    ],
                )
                changes: list[tuple[int, int, int, int | None]] = cursor.fetchall()
                if changes:
                    cursor.execute(
                        _REVIEW_LOWER.format(ids=ids.sql),
                        [at, at, at, ids.param([c[0] for c in changes]), ids.param([c[1] for c in changes])],
                    )
                if since_change:
                    lowered = {member_id for _pk, member_id, _from, _to in changes}
                    kept = [member_id for member_id in chunk if member_id not in lowered]
                    if kept:
                        cursor.execute(_REVIEW_RENEW.format(ids=ids.sql), [at, at, ids.param(kept)])
                    renewed += len(kept)
            # One `member.tier_changed` per change, the payload `_announce` publishes, sent after the
            # commit from one callback per chunk.
            publish_many(
                merchant_id=merchant.pk,
                type=TIER_CHANGED,
                payloads=[
                    _tier_changed_payload(
                        member_id,
                        by_id[from_id],
                        by_id[to_id] if to_id is not None else None,
                        ChangeReason.DOWNGRADE,
                        now,
                    )
                    for _pk, member_id, from_id, to_id in changes
                ],
            )
            reviewed += len(chunk)
            downgraded += len(changes)
        advance(len(chunk))
    watermark = now if continuous else None
    TierProgram.objects.filter(pk=program.pk).update(last_reviewed_at=now, reviewed_through=watermark)
    program.last_reviewed_at, program.reviewed_through = now, watermark
    return ReviewResult(reviewed=reviewed, downgraded=downgraded, renewed=renewed, incremental=incremental)


# --- downgrade notices --------------------------------------------------------------------------------


def record_downgrade_notices(
    *, program: TierProgram, now: datetime | None = None, chunk_size: int = NOTICE_CHUNK
) -> int:
    """Forecast, `downgrade_notice_days` before a review, whom it will lower, and record a
    `DowngradeNotice` for each (the marketing app messages them). Returns how many were recorded.

    The forecast is the review's own decision on the ranking as it stands now: what the window of the
    review holds of it (entries that will have left the window by then no longer count), nothing
    spent meanwhile. A scheduled review is forecast once (`notices_recorded_for`). A continuous review
    lowers a tier when its hold ends, so the members whose hold ends within the notice days are
    forecast at that instant, each once (the notice's unique constraint). Members whose tier is held
    past the review get their notice before the review that follows their hold.
    """
    now = now or timezone.now()
    if not program.is_active or program.downgrade_notice_days <= 0:
        return 0
    merchant = program.merchant
    horizon = now + timedelta(days=program.downgrade_notice_days)
    continuous = program.review == Review.CONTINUOUS
    candidates = MemberTier.objects.of(merchant).filter(hold="", tier__isnull=False)
    review_at = next_review(program, now)
    if continuous:
        candidates = candidates.filter(held_until__gt=now, held_until__lte=horizon).exclude(
            Exists(
                DowngradeNotice.objects.filter(
                    member_id=OuterRef("member_id"), review_at=OuterRef("held_until")
                )
            )
        )
    else:
        if review_at > horizon or program.notices_recorded_for == review_at:
            return 0
        candidates = candidates.filter(Q(held_until__isnull=True) | Q(held_until__lte=review_at))
    since_change = program.window == Window.SINCE_LAST_CHANGE
    if since_change and not continuous:
        candidates = candidates.filter(
            window_start__lte=months_later(review_at, -program.window_months, merchant.tz)
        )
    live = Member.objects.of(merchant).filter(superseded_by__isnull=True, erased_at__isnull=True)
    tiers = tiers_of(merchant.pk)
    by_id = {t.pk: t for t in tiers}
    recorded = 0
    last_member = 0
    while True:
        chunk = list(
            candidates.filter(
                member_id__gt=last_member, member__in=live.filter(pk__gt=last_member).values("pk")
            )
            .order_by("member_id")
            .values_list("member_id", "tier_id", "held_until", "window_start")[:chunk_size]
        )
        if not chunk:
            break
        last_member = chunk[-1][0]
        by_review: dict[datetime, list[int]] = defaultdict(list)
        for member_id, _tier, held_until, window_start in chunk:
            at = may_drop_at(program, held_until, now) if continuous else review_at
            if (
                since_change
                and continuous
                and window_start > months_later(at, -program.window_months, merchant.tz)
            ):
                continue  # qualified again at that instant: the window renews, nothing drops
            by_review[at].append(member_id)
        found: dict[tuple[int, datetime], int] = {}
        for at, member_ids in by_review.items():
            for member_id, ranking in rankings(
                merchant_id=merchant.pk,
                basis=program.basis,
                start=review_window_start(program, at, merchant.tz),
                end=now,
                members=Q(account__member_id__in=member_ids),
                from_window_start=since_change,
            ).items():
                found[member_id, at] = ranking
        notices = []
        for at, member_ids in by_review.items():
            tier_ids = {member_id: tier_id for member_id, tier_id, _held, _start in chunk}
            for member_id in member_ids:
                ranking = found.get((member_id, at), 0)
                current = by_id[tier_ids[member_id]]
                earned = tier_for(tiers, ranking)
                if rank_of(earned) >= rank_of(current):
                    continue
                target = lowered_tier(tiers, current, earned, program.downgrade)
                notices.append(
                    DowngradeNotice(
                        merchant_id=merchant.pk,
                        member_id=member_id,
                        tier=current,
                        to_tier=target,
                        review_at=at,
                        ranking=ranking,
                    )
                )
        recorded += len(DowngradeNotice.objects.bulk_create(notices, ignore_conflicts=True))
    if not continuous:
        TierProgram.objects.filter(pk=program.pk).update(notices_recorded_for=review_at)
        program.notices_recorded_for = review_at
    return recorded


# --- spend of sales that earned no points -------------------------------------------------------------


def record_spend(*, member: Member, amount: int, source: str, now: datetime) -> None:
    """A confirmed sale that earned no points (so no EARN entry): its spend still counts toward the
    ranking. Sales call it in the confirming transaction; one INSERT while the merchant has a tier
    program, nothing otherwise."""
    if amount <= 0 or program_of(member.merchant_id) is None:
        return
    RankingSpend.objects.create(
        merchant_id=member.merchant_id,
        member=member,
        amount=amount,
        occurred_at=now,
        source=source,
        cause=source,
    )


def return_spend(*, member: Member, source: str, cause: str, amount: int | None) -> None:
    """A void or return of a sale `record_spend` counted takes back `amount` of its spend (None: all
    that is left), dated like the sale so a return never lowers a later window. Two statements, only
    while the merchant has a tier program."""
    if program_of(member.merchant_id) is None:
        return
    counted = RankingSpend.objects.filter(merchant_id=member.merchant_id, source=source).aggregate(
        left=Sum("amount"), at=Max("occurred_at")
    )
    left = int(counted["left"] or 0)
    taken = left if amount is None else min(amount, left)
    if taken <= 0:
        return
    RankingSpend.objects.create(
        merchant_id=member.merchant_id,
        member=member,
        amount=-taken,
        occurred_at=counted["at"],
        source=source,
        cause=cause,
    )
