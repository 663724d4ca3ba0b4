"""E5 over the API: POST /rules/simulate and the breakdown in the POS quote; never across merchants (A1)."""

from __future__ import annotations

from datetime import date

import pytest
from tests.factories import StoreFactory

from tessera.core.models import IdempotencyRecord
from tessera.rules.tests.factories import make_rule
from tessera.sales.models import Transaction
from tessera.sales.tests.conftest import Pos
from tessera.tenancy.services import create_api_key

pytestmark = pytest.mark.django_db

LINES = [
    {"sku": "PHO-BO", "name": "Phở bò", "quantity": 2, "unit_price": 65000},
    {"sku": "TRA-DA", "name": "Trà đá", "quantity": 4, "unit_price": 5000},
]  # 150,000 đồng, 6 items


@pytest.fixture
def rules(merchant):
    base = make_rule(merchant, "Base", points=1, priority=1)
    double = make_rule(merchant, "Double Monday", effect="multiplier", multiplier=2, weekdays=[1], priority=2)
    weekend = make_rule(merchant, "Weekend", effect="fixed", bonus_points=5, weekdays=[6, 7], priority=3)
    return base, double, weekend


def test_e5_simulate_returns_the_points_and_which_rule_gave_which_part(pos, member, rules):
    base, double, weekend = rules

    response = pos.post(
        "/rules/simulate", {"phone": "0903123456", "amount": 150000, "at": "2026-03-02T19:30:00+07:00"}
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["points"] == 30
    assert [(p["rule_id"], p["version_id"], p["points"]) for p in body["parts"]] == [
        (base.pk, base.current_version_id, 15),
        (double.pk, double.current_version_id, 15),
    ]
    assert body["parts"][1]["explanation"] == "×2 on the 15 point(s) before it, rounded down"
    assert body["skipped"] == [{"rule_id": weekend.pk, "name": "Weekend", "reason": "not on Monday"}]


def test_e5_simulate_reads_a_time_without_offset_as_store_time_and_totals_the_lines(pos, member, merchant):
    make_rule(merchant, "Items", effect="formula", formula="items * 10 + (hour == 23) * 100")

    response = pos.post(
        "/rules/simulate", {"member_id": member.pk, "lines": LINES, "at": "2026-03-02T23:30:00"}
    )

    assert response.status_code == 200, response.content
    assert response.json()["points"] == 160


def test_e5_simulate_changes_nothing_and_needs_no_idempotency_key(pos, member, rules):
    """A simulation only reads (issue 13 item 7): a key is accepted and ignored, none is stored."""
    body = {"phone": "0903123456", "amount": 150000, "at": "2026-03-02T12:00:00+07:00"}
    first = pos.post("/rules/simulate", body, key="sim-1")
    again = pos.post("/rules/simulate", body, key="sim-1")
    missing = pos.post("/rules/simulate", body, key=None)

    assert first.status_code == again.status_code == missing.status_code == 200
    assert first.json() == again.json() == missing.json()
    assert "Idempotent-Replayed" not in again
    assert not Transaction.objects.exists()
    assert not IdempotencyRecord.objects.exists()


def test_e5_the_pos_quote_includes_the_earning_breakdown(pos, member, merchant):
    member.birthday = date(1990, 1, 1)
    member.save()
    base = make_rule(merchant, "Base", points=1)

    response = pos.post("/quote", {"member_id": member.pk, "lines": LINES})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["points_to_earn"] == 15
    assert body["earning"] == [
        {
            "rule_id": base.pk,
            "version_id": base.current_version_id,
            "name": "Base",
            "points": 15,
            "explanation": "1 point(s) per ₫10,000 on ₫150,000, rounded down",
        }
    ]
    assert body["earn_explanation"] == "Base: 1 point(s) per ₫10,000 on ₫150,000, rounded down"


def test_e5_a_sale_created_through_the_api_records_its_rule_versions(pos, member, merchant):
    base = make_rule(merchant, "Base", points=2)

    response = pos.post("/transactions", {"member_id": member.pk, "lines": LINES})

    assert response.status_code == 201, response.content
    sale = Transaction.objects.get(pk=response.json()["id"])
    assert [(p["version_id"], p["points"]) for p in sale.earning_parts] == [(base.current_version_id, 30)]


def test_a1_another_merchants_key_cannot_simulate_with_our_member_or_store(
    merchant, other_merchant, member, store, other_pos, rules
):
    by_member = other_pos.post("/rules/simulate", {"member_id": member.pk, "amount": 150000})
    by_phone = other_pos.post("/rules/simulate", {"phone": "+84903123456", "amount": 150000})
    wide = Pos(create_api_key(merchant=other_merchant, name="B wide").raw_key)
    StoreFactory(merchant=other_merchant, code="b-1")
    their_member = wide.post("/rules/simulate", {"member_id": member.pk, "store_code": "b-1", "amount": 1})
    our_store = wide.post("/rules/simulate", {"member_id": member.pk, "store_code": store.code, "amount": 1})

    assert (by_member.status_code, by_member.json()["code"]) == (404, "member_not_found")
    assert (by_phone.status_code, by_phone.json()["code"]) == (404, "member_not_found")
    assert their_member.status_code == 404
    assert our_store.status_code == 404
    assert "Base" not in by_member.content.decode()


def test_e5_simulate_refuses_a_moment_out_of_range(pos, member):
    response = pos.post("/rules/simulate", {"member_id": member.pk, "amount": 1, "at": "0001-01-01T00:00:00"})

    assert (response.status_code, response.json().get("code")) == (422, "invalid_time"), response.content
