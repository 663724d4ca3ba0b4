"""Tiers at the till and in the back office: upgrade on a confirmed sale, the quote's discount, the
member tier API and the "why" page — never across merchants (E1, F1, F2, A1)."""

from __future__ import annotations

import pytest
from django.utils import timezone
from tests.factories import MemberFactory, StoreFactory, staff_user

from tessera.ledger.models import Entry, EntryKind
from tessera.members.services import set_member_pin
from tessera.sales import services as sales
from tessera.sales.services import SaleLine
from tessera.sales.tests.conftest import PIN, Pos
from tessera.tenancy.services import create_api_key
from tessera.tiers import services
from tessera.tiers.models import ChangeReason, MemberTier, Tier, TierChange
from tessera.tiers.tests.factories import GOLD, program, spend, tier

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(merchant):
    return StoreFactory(merchant=merchant, code="hoan-kiem", name="Hoàn Kiếm")


@pytest.fixture
def pos(merchant, store):
    return Pos(create_api_key(merchant=merchant, name="POS 1", store=store).raw_key)


@pytest.fixture
def other_pos(other_merchant):
    other_store = StoreFactory(merchant=other_merchant, code="main", name="Other")
    return Pos(create_api_key(merchant=other_merchant, name="POS B", store=other_store).raw_key)


@pytest.fixture
def member(merchant):
    member = MemberFactory(merchant=merchant, phone="+84903123456", full_name="Nguyễn Văn An")
    set_member_pin(member=member, pin=PIN)
    return member


def test_f1_a_purchase_entered_by_hand_that_reaches_gold_upgrades_at_once(merchant, store, member):
    """E4 + F1: points added for an amount spent count toward the ranking like a confirmed sale."""
    program(merchant)

    sales.add_points(member=member, store=store, actor=None, amount_spent=GOLD, note="paper receipt")

    assert MemberTier.objects.get(member=member).tier.code == "gold"


def test_f1_a_confirmed_sale_that_reaches_gold_upgrades_at_once_and_grants_the_reward(
    merchant, store, member
):
    program(merchant)
    sale = sales.create_transaction(
        merchant=merchant,
        store=store,
        member=member,
        lines=[SaleLine(name="Áo dài", quantity=1, unit_price=GOLD)],
    )
    assert not MemberTier.objects.filter(member=member).exists()  # pending: nothing counts yet

    sales.confirm_transaction(transaction=sale, method="pin", pin=PIN)

    state = MemberTier.objects.get(member=member)
    change = TierChange.objects.get(member=member)
    assert (state.tier.code, change.reason, change.ranking) == ("gold", ChangeReason.UPGRADE, GOLD)
    assert list(
        Entry.objects.filter(account__member=member, kind=EntryKind.BONUS).values_list("amount", "source")
    ) == [(100, f"tier:{tier(merchant, 'gold').pk}")]


def test_e1_quote_returns_the_tier_discount_percent(pos, merchant, member):
    program(merchant)
    spend(member, GOLD, timezone.now())
    services.evaluate_upgrade(member=member)

    response = pos.post(
        "/quote",
        {"member_id": member.pk, "lines": [{"name": "Phở bò", "quantity": 2, "unit_price": 100_000}]},
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["tier"], body["discount_percent"], body["discount_amount"], body["amount_due"]) == (
        "gold",
        "5.00",
        10_000,
        190_000,
    )
    assert {b["code"] for b in body["benefits"]} == {"tier_discount", "tier_earning_multiplier"}


def test_f1_member_tier_api_shows_tier_progress_and_whats_missing(pos, merchant, member):
    program(merchant)
    spend(member, 6_000_000, timezone.now())
    services.evaluate_upgrade(member=member)

    response = pos.get(f"/tiers/members/{member.pk}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (
        body["tier"]["code"],
        body["ranking"],
        body["next_tier"]["code"],
        body["missing"],
        body["hold"],
    ) == (
        "gold",
        6_000_000,
        "diamond",
        14_000_000,
        "",
    )
    assert [t["code"] for t in pos.get("/tiers").json()] == ["silver", "gold", "diamond"]


def test_a1_member_tier_api_of_another_merchants_member_is_404(other_pos, member):
    response = other_pos.get(f"/tiers/members/{member.pk}")

    assert response.status_code == 404
    assert response.json()["code"] == "member_not_found"


def test_f1_why_page_shows_ranking_hold_next_tier_and_missing(client, merchant, member):
    program(merchant)
    spend(member, 6_000_000, timezone.now())
    services.evaluate_upgrade(member=member)
    services.set_tier_manually(member=member, tier=tier(merchant, "silver"), voucher_code="ADJ-7")
    client.force_login(staff_user(merchant, "store_manager").user)

    page = client.get(f"/admin/tiers/membertier/{member.pk}/why/")

    assert page.status_code == 200
    status = page.context["status"]
    assert (status.tier.code, status.ranking, status.hold, status.hold_reference.code) == (
        "silver",
        6_000_000,
        "manual_downgrade",
        "gold",
    )
    assert (status.next_tier.code, status.missing) == ("diamond", 14_000_000)
    html = page.content.decode()
    assert 'data-value="6000000"' in html and 'data-value="14000000"' in html
    assert html.count('class="tier-change"') == 2 and "ADJ-7" in html


def test_a1_why_page_of_another_merchants_member_is_404(client, merchant, other_merchant, member):
    program(merchant)
    client.force_login(staff_user(other_merchant, "merchant_admin").user)

    assert client.get(f"/admin/tiers/membertier/{member.pk}/why/").status_code == 404
    assert client.get("/admin/tiers/membertier/").status_code == 200
    assert client.get(f"/admin/tiers/tier/{tier(merchant, 'gold').pk}/change/").status_code == 404


def test_b1_why_page_needs_the_view_permission(client, merchant, member):
    from tessera.tenancy.services import add_staff

    nobody = add_staff(
        merchant=merchant, username="nobody", password="correct horse battery staple", roles=[]
    )
    client.force_login(nobody.user)

    assert client.get(f"/admin/tiers/membertier/{member.pk}/why/").status_code == 403


def test_f1_tier_admin_refuses_a_threshold_out_of_order(client, merchant):
    program(merchant)
    client.force_login(staff_user(merchant, "merchant_admin").user)

    response = client.post(
        "/admin/tiers/tier/add/",
        {
            "code": "bronze",
            "name": "Bronze",
            "rank": 4,
            "threshold": 10,
            "discount_percent": "0",
            "earning_multiplier": "1",
            "reward_points": 0,
            "description": "",
        },
    )

    assert response.status_code == 200  # the form again, with the error
    assert not Tier.objects.filter(merchant=merchant, code="bronze").exists()
