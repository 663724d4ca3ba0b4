"""Bonus budgets and limits under load (issue 15 §5): events posted at once through the API by many
tills never give more than the budget, nor a member more than a limit.

PostgreSQL only: SQLite serialises every writer, so there is no race to lose there.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Sum
from tests.factories import MemberFactory

from tessera.ledger.selectors import verify_ledger
from tessera.rewards import bonuses
from tessera.rewards.models import BonusBudgetShard, BonusGrant, BonusKind, BonusRule
from tessera.rewards.tests.conftest import points_of
from tessera.rewards.tests.test_concurrency import THREADS, run_together

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks"),
]

EVENTS_PER_THREAD = 5


def test_concurrent_events_spend_a_sharded_budget_exactly_and_never_beyond(pos, merchant, store):
    # 4 shards of 16 grants: 64 grants for 100 events of 100 members.
    rule = bonuses.save_bonus_rule(
        rule=BonusRule(
            merchant=merchant,
            name="App",
            kind=BonusKind.EVENT,
            event_type="app_installed",
            points=10,
            budget=640,
        )
    )
    assert BonusBudgetShard.objects.filter(rule=rule).count() == 4
    people = [
        MemberFactory(merchant=merchant, phone=f"+8490300{i:04d}") for i in range(THREADS * EVENTS_PER_THREAD)
    ]

    def post(index: int) -> list[int]:
        mine = people[index * EVENTS_PER_THREAD : (index + 1) * EVENTS_PER_THREAD]
        return [
            pos.post("/events", {"member_id": person.pk, "type": "app_installed"}).status_code
            for person in mine
        ]

    answers = run_together(post)

    assert all(isinstance(a, list) and set(a) == {201} for a in answers), answers[:3]
    assert BonusGrant.objects.filter(rule=rule).count() == 64
    assert BonusGrant.objects.filter(rule=rule).aggregate(total=Sum("points"))["total"] == 640
    assert sum(points_of(person) for person in people) == 640
    assert list(BonusBudgetShard.objects.filter(rule=rule).values_list("given", flat=True)) == [160] * 4
    assert verify_ledger(merchant) == []


def test_concurrent_events_of_one_member_keep_the_daily_limit(pos, merchant, store, member):
    bonuses.save_bonus_rule(
        rule=BonusRule(
            merchant=merchant,
            name="Check-in",
            kind=BonusKind.EVENT,
            event_type="check_in",
            points=5,
            per_day=2,
            budget=100_000,
        )
    )

    answers = run_together(lambda _i: pos.post("/events", {"member_id": member.pk, "type": "check_in"}))

    assert [a.status_code for a in answers] == [201] * THREADS
    assert sorted(a.json()["points"] for a in answers) == [0] * (THREADS - 2) + [5, 5]
    assert points_of(member) == 10
    assert verify_ledger(merchant) == []
