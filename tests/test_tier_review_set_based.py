"""Issue 16: the tier review, set-based per chunk, decides and writes what the per-member code did.

`_review_program_per_member` below is the code `tessera.tiers.services.review_program` replaced (a
`MemberTier` object per member, the decision in Python, a `TierChange` object per change), kept as
the oracle. Both run on the same randomised members — spend and points in and out of the window,
returns, spend of sales without points, tier rewards (not ranking points), holds running and ended,
manual holds, replaced and erased accounts — under every window, both downgrade policies and both
bases, the oracle inside a transaction rolled back; every row they write and every event they
publish is compared.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tessera.core.events import event_recorded
from tessera.ledger import services as ledger
from tessera.ledger.models import AccountKind, EntryKind
from tessera.members.models import Member
from tessera.tiers.models import (
    ChangeReason,
    Downgrade,
    Hold,
    MemberTier,
    RankingSpend,
    Review,
    TierChange,
    TierProgram,
    Window,
)
from tessera.tiers.selectors import (
    lowered_tier,
    months_later,
    rank_of,
    rankings,
    review_window_start,
    tier_for,
    tiers_of,
)
from tessera.tiers.services import ReviewResult, _announce, review_program, save_tier
from tessera.tiers.tasks import run_tier_jobs
from tessera.tiers.tests.factories import program, spend
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db(transaction=False)

NOW = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)


def _review_program_per_member(*, program: TierProgram, now: datetime, chunk_size: int) -> ReviewResult:
    """The per-member review as it was before issue 16 (the oracle)."""
    merchant = program.merchant
    tiers = tiers_of(merchant.pk)
    by_id = {t.pk: t for t in tiers}
    start = review_window_start(program, now, merchant.tz)
    since_change = program.window == Window.SINCE_LAST_CHANGE
    candidates = MemberTier.objects.of(merchant).filter(
        Q(held_until__isnull=True) | Q(held_until__lte=now), hold="", tier__isnull=False
    )
    live = Member.objects.of(merchant).filter(superseded_by__isnull=True, erased_at__isnull=True)
    if since_change:
        candidates = candidates.filter(
            window_start__lte=months_later(now, -program.window_months, merchant.tz)
        )
    reviewed = downgraded = renewed = 0
    last_member = 0
    while True:
        with transaction.atomic():
            chunk = list(
                candidates.filter(
                    member_id__gt=last_member, member__in=live.filter(pk__gt=last_member).values("pk")
                )
                .order_by("member_id")
                .select_for_update()[:chunk_size]
            )
            if not chunk:
                break
            last_member = chunk[-1].member_id
            found = rankings(
                merchant_id=merchant.pk,
                basis=program.basis,
                start=start,
                end=now,
                members=Q(account__member_id__gte=chunk[0].member_id, account__member_id__lte=last_member),
                from_window_start=since_change,
            )
            changes: list[TierChange] = []
            lowered: dict[int | None, list[int]] = defaultdict(list)
            windows_renewed: list[int] = []
            for state in chunk:
                ranking = found.get(state.member_id, 0)
                earned = tier_for(tiers, ranking)
                current = by_id[state.tier_id] if state.tier_id else None
                if rank_of(earned) < rank_of(current):
                    target = lowered_tier(tiers, current, earned, program.downgrade)
                    changes.append(
                        TierChange(
                            merchant_id=merchant.pk,
                            member_id=state.member_id,
                            from_tier=current,
                            to_tier=target,
                            reason=ChangeReason.DOWNGRADE,
                            ranking=ranking,
                            at=now,
                        )
                    )
                    lowered[target.pk if target else None].append(state.pk)
                elif since_change:
                    windows_renewed.append(state.pk)
                    renewed += 1
            for tier_id, pks in lowered.items():
                MemberTier.objects.filter(pk__in=pks).update(
                    tier_id=tier_id, since=now, window_start=now, held_until=None, updated_at=now
                )
            if windows_renewed:
                MemberTier.objects.filter(pk__in=windows_renewed).update(window_start=now, updated_at=now)
            TierChange.objects.bulk_create(changes)
            for change in changes:
                _announce(change)
            reviewed += len(chunk)
            downgraded += len(changes)
    TierProgram.objects.filter(pk=program.pk).update(last_reviewed_at=now)
    return ReviewResult(reviewed=reviewed, downgraded=downgraded, renewed=renewed)


def _members(merchant: Any, rng: random.Random, count: int) -> None:
    """`count` members with a random past: sales (some returned in part), sales without points, bonus
    points and tier rewards, and a tier state in any of the situations a review meets."""
    tiers = tiers_of(merchant.pk)
    members = [MemberFactory(merchant=merchant) for _ in range(count)]
    for member in members:
        for _ in range(rng.randint(0, 4)):
            at = NOW - timedelta(days=rng.randint(1, 800), hours=rng.randint(0, 23))
            entry = spend(member, rng.choice([300_000, 900_000, 2_000_000, 4_000_000, 9_000_000]), at)
            if rng.random() < 0.3:
                ledger.reverse(entry=entry, amount=rng.randint(1, entry.amount), now=at + timedelta(days=2))
        if rng.random() < 0.3:
            RankingSpend.objects.create(
                merchant=merchant,
                member=member,
                amount=rng.choice([500_000, 3_000_000]),
                occurred_at=NOW - timedelta(days=rng.randint(1, 500)),
                source=f"sale:{member.pk}",
                cause=f"sale:{member.pk}",
            )
        if rng.random() < 0.3:
            account = ledger.open_account(merchant=merchant, kind=AccountKind.POINTS, member=member)
            ledger.credit(
                account=account,
                amount=rng.choice([50, 400]),
                kind=EntryKind.BONUS,
                source=rng.choice(["birthday", f"tier:{tiers[1].pk}"]),
                now=NOW - timedelta(days=rng.randint(1, 300)),
            )
        tier = rng.choice([None, *tiers, *tiers])
        if tier is None and rng.random() < 0.5:
            continue
        since = NOW - timedelta(days=rng.randint(1, 700))
        hold = rng.choice([Hold.NONE] * 4 + [Hold.MANUAL_UPGRADE, Hold.MANUAL_DOWNGRADE])
        MemberTier.objects.create(
            merchant=merchant,
            member=member,
            tier=tier,
            since=since,
            window_start=since,
            held_until=rng.choice([None, None, NOW - timedelta(days=3), NOW + timedelta(days=3), NOW]),
            hold=hold,
            hold_reference=tier or tiers[0] if hold else None,
        )
    replaced, erased, successor = members[0], members[1], members[2]
    Member.objects.filter(pk=replaced.pk).update(superseded_by=successor)
    Member.objects.filter(pk=erased.pk).update(erased_at=NOW - timedelta(days=1))


def _written() -> dict[str, Any]:
    """Every row a review writes or changes, without the ids a rolled-back run may not reuse."""
    return {
        "states": sorted(
            MemberTier.objects.values_list(
                "member_id",
                "merchant_id",
                "tier_id",
                "since",
                "window_start",
                "held_until",
                "hold",
                "hold_reference_id",
                "updated_at",
            )
        ),
        "changes": sorted(
            TierChange.objects.values_list(
                "member_id",
                "merchant_id",
                "from_tier_id",
                "to_tier_id",
                "reason",
                "ranking",
                "voucher_code",
                "note",
                "at",
                "created_by_id",
                "updated_by_id",
            )
        ),
        "reviewed_at": list(TierProgram.objects.order_by("pk").values_list("pk", "last_reviewed_at")),
    }


class _RolledBack(Exception):
    pass


def _events() -> tuple[list[dict[str, Any]], Any]:
    seen: list[dict[str, Any]] = []

    def receiver(sender: Any, *, merchant_id: int, type: str, payload: dict[str, Any], **kwargs: Any) -> None:
        seen.append({"merchant_id": merchant_id, "type": type, **payload})

    return seen, receiver


@pytest.mark.parametrize(
    ("seed", "fields"),
    [
        (1, {"window": Window.ROLLING_MONTHS, "window_months": 12}),
        (2, {"window": Window.ROLLING_MONTHS, "window_months": 6, "downgrade": Downgrade.ONE_TIER}),
        (3, {"window": Window.CALENDAR_YEAR, "review": Review.YEARLY}),
        (4, {"window": Window.SINCE_LAST_CHANGE, "window_months": 12}),
        (5, {"window": Window.SINCE_LAST_CHANGE, "window_months": 3, "downgrade": Downgrade.ONE_TIER}),
        (6, {"window": Window.ROLLING_MONTHS, "window_months": 12, "basis": "points"}),
        (7, {"window": Window.SINCE_LAST_CHANGE, "window_months": 6, "basis": "points"}),
    ],
)
def test_issue_16_set_based_review_decides_and_writes_what_the_per_member_code_did(
    merchant, other_merchant, seed, fields
):
    rng = random.Random(seed)
    tiered = program(merchant, **fields)
    if fields.get("basis") == "points":
        for tier, threshold in zip(tiers_of(merchant.pk), [100, 500, 2_000], strict=True):
            tier.threshold = threshold
            save_tier(tier=tier)
    program(other_merchant)
    _members(merchant, rng, 24)
    _members(other_merchant, rng, 4)
    tiered.refresh_from_db()
    before = _written()

    oracle_events, oracle_receiver = _events()
    event_recorded.connect(oracle_receiver)
    try:
        with transaction.atomic():
            oracle_result = _review_program_per_member(program=tiered, now=NOW, chunk_size=5)
            oracle = _written()
            raise _RolledBack
    except _RolledBack:
        pass
    finally:
        event_recorded.disconnect(oracle_receiver)
    assert _written() == before

    events, receiver = _events()
    event_recorded.connect(receiver)
    try:
        result = review_program(program=tiered, now=NOW, chunk_size=5)
    finally:
        event_recorded.disconnect(receiver)

    assert result == oracle_result
    assert result.downgraded > 0
    assert _written() == oracle
    assert sorted(events, key=lambda e: e["member_id"]) == sorted(oracle_events, key=lambda e: e["member_id"])


def test_issue_16_a_review_that_stopped_half_way_is_resumed_without_a_second_step_down(merchant):
    """One tier at a time, monthly: a run that crashed after its first chunks is run again later in the
    month; who was taken down a tier is not taken down another, the rest are reviewed."""
    tiered = program(merchant, window_months=1, downgrade=Downgrade.ONE_TIER)
    diamond = tiers_of(merchant.pk)[2]
    members = [MemberFactory(merchant=merchant) for _ in range(4)]
    for member in members:
        MemberTier.objects.create(
            merchant=merchant, member=member, tier=diamond, since=NOW - timedelta(days=90), window_start=NOW
        )
    first = review_program(program=tiered, now=NOW, chunk_size=2)
    assert (first.reviewed, first.downgraded) == (4, 4)
    # The crash: the first run wrote its chunks, but not that the program was reviewed.
    TierChange.objects.filter(member__in=members[2:]).delete()
    MemberTier.objects.filter(member__in=members[2:]).update(tier=diamond)
    TierProgram.objects.filter(pk=tiered.pk).update(last_reviewed_at=None)

    again = review_program(program=tiered, now=NOW + timedelta(hours=2), chunk_size=2)

    assert (again.reviewed, again.downgraded) == (2, 2)
    codes = [MemberTier.objects.get(member=m).tier.code for m in members]
    assert codes == ["gold"] * 4
    assert timezone.is_aware(TierChange.objects.latest("at").at)


def test_issue_16_the_review_reads_the_configuration_once_not_per_downgrade(
    merchant, django_capture_on_commit_callbacks
):
    """The webhook outbox's receiver of `member.tier_changed` reads the merchant's endpoints from the
    cache during the scheduled review, as during one request (so does the notices' receiver after each
    chunk's commit; here the test's transaction runs it after the review)."""
    program(merchant, window_months=1)
    diamond = tiers_of(merchant.pk)[2]
    for _ in range(6):
        MemberTier.objects.create(
            merchant=merchant,
            member=MemberFactory(merchant=merchant),
            tier=diamond,
            since=NOW - timedelta(days=90),
            window_start=NOW,
        )
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        runs = run_tier_jobs(NOW)
    assert runs[merchant.pk].review == ReviewResult(reviewed=6, downgraded=6, renewed=0)
    assert len([q for q in queries if 'FROM "integrations_webhookendpoint"' in q["sql"]]) == 1
