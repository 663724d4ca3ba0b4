"""Multipliers that stack (E5, issue 14): two ×2 rules on the same day give ×4. Saving such a rule says
so (the rule is saved all the same), and the simulator shows the combined multiplier and its rules."""

from __future__ import annotations

from datetime import datetime

import pytest
from tests.factories import MemberFactory, StoreFactory, staff_user

from tessera.rules.models import EarningRule
from tessera.rules.simulator import RuleSpec, overlap
from tessera.rules.tests.factories import make_rule
from tessera.rules.tests.test_admin import ADD, SIMULATOR, form_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_of(client, merchant):
    merchant.default_language = "en"
    merchant.save()
    staff = staff_user(merchant, "merchant_admin")
    client.force_login(staff.user)
    return staff


def multiplier(**fields: object) -> dict[str, object]:
    return form_data(name="Saturday double", effect="multiplier", multiplier="2", formula="", **fields)


def test_e5_saving_a_second_x2_on_the_same_day_warns_that_together_they_make_x4(client, merchant, admin_of):
    make_rule(merchant, "Cuối tuần nhân đôi", effect="multiplier", multiplier=2, weekdays=[6, 7])

    response = client.post(ADD, multiplier(days=["6"]), follow=True)

    assert EarningRule.objects.of(merchant).filter(name="Saturday double").exists()  # saved all the same
    warnings = [str(m) for m in response.context["messages"]]
    assert "This rule and “Cuối tuần nhân đôi” both multiply on Saturday: together ×4" in warnings


def test_e5_multipliers_that_never_meet_give_no_warning(client, merchant, admin_of, store):
    make_rule(merchant, "Weekend double", effect="multiplier", multiplier=2, weekdays=[6, 7])
    make_rule(
        merchant,
        "Other store triple",
        effect="multiplier",
        multiplier=3,
        store_ids=[StoreFactory(merchant=merchant).pk],
    )

    response = client.post(ADD, multiplier(days=["1", "2"], stores=[str(store.pk)]), follow=True)

    assert response.status_code == 200
    assert not [m for m in response.context["messages"] if "multiply" in str(m)]


def test_e5_overlap_reads_stores_tiers_hours_and_validity(merchant, store):
    base = make_rule(
        merchant, "A", effect="multiplier", multiplier=2, tier_codes=["GOLD"], hour_from=8, hour_until=12
    )
    spec = RuleSpec.of(base.current_version)
    night = make_rule(merchant, "B", effect="multiplier", multiplier=2, hour_from=22, hour_until=9)
    silver = make_rule(merchant, "C", effect="multiplier", multiplier=2, tier_codes=["silver"])
    later = make_rule(
        merchant,
        "D",
        effect="multiplier",
        multiplier=2,
        valid_until=datetime.fromisoformat("2020-01-01T00:00+07:00"),
    )

    assert overlap(spec, RuleSpec.of(night.current_version)) == frozenset(range(1, 8))  # 8–9 o'clock
    assert overlap(spec, RuleSpec.of(silver.current_version)) is None
    assert overlap(RuleSpec.of(later.current_version), spec) is not None  # A has no validity limits


def test_e5_the_simulator_shows_the_rules_that_stacked_and_their_combined_multiplier(
    client, merchant, admin_of, store
):
    MemberFactory(merchant=merchant, phone="+84903123456")
    make_rule(merchant, "Base", points=1, priority=1)
    make_rule(merchant, "Weekend double", effect="multiplier", multiplier=2, weekdays=[6, 7], priority=2)
    make_rule(merchant, "Saturday double", effect="multiplier", multiplier=2, weekdays=[6], priority=3)

    response = client.post(
        SIMULATOR,
        {
            "amount": "150.000",
            "phone": "0903123456",
            "store": str(store.pk),
            "date": "2026-03-07",
            "time": "12:00",
        },
    )

    result = response.context["result"]
    assert result.points == 60  # 15 × 2 × 2
    assert result.stacked.multiplier == 4
    assert "“Weekend double”, “Saturday double” stacked: ×4 together" in response.content.decode()
