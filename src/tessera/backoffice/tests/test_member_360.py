"""The member 360 page: profile, preferences first, cards, balances, lots with expiry, transactions, tier,
and the actions the user is allowed (C1, C2, D5, E10, B1, B2); another merchant's member is a 404."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from tests.factories import MemberFactory, staff_user

from tessera.backoffice.tests.shop import confirmed_sale, shop
from tessera.sales import services as sales

pytestmark = pytest.mark.django_db


@pytest.fixture
def bình(merchant):
    s = shop(merchant)
    admin = staff_user(merchant, "merchant_admin").user
    sales.add_points(member=s.member, store=s.store_a, actor=admin, points=30, note="welcome")
    confirmed_sale(member=s.member, store=s.store_a, amount=250_000, external_ref="HD-A")
    confirmed_sale(member=s.member, store=s.store_b, amount=120_000, external_ref="HD-B")
    return s


def _client(staff) -> Client:
    client = Client()
    client.force_login(staff.user)
    return client


def _url(member) -> str:
    return reverse("backoffice:member_360", args=[member.pk])


def test_member_360_shows_profile_preferences_cards_balances_lots_and_transactions(bình):
    response = _client(staff_user(bình.merchant, "merchant_admin")).get(_url(bình.member))

    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="member-name">Trần Thị Bình<' in body
    assert 'id="member-preferences"' in body and "Không ăn hành" in body and "Khách quen" in body
    assert 'id="points-balance">67<' in body  # 30 + 25 + 12
    assert bình.card.number in body
    view = response.context["view"]
    assert [(lot.amount, lot.remaining) for lot in view.lots] == [(30, 30), (25, 25), (12, 12)]
    assert all(lot.expires_at is not None for lot in view.lots)
    assert [t.external_ref for t in view.transactions] == ["HD-B", "HD-A"]
    assert view.entries.paginator.count == 3


def test_a_store_scoped_cashier_sees_only_their_stores_transactions(bình):
    cashier = staff_user(bình.merchant, "cashier", stores=[bình.store_a])

    view = _client(cashier).get(_url(bình.member)).context["view"]

    assert [t.external_ref for t in view.transactions] == ["HD-A"]
    assert {e.store_id for e in view.entries} == {bình.store_a.pk}


def test_another_merchants_member_is_not_found(bình, other_merchant):
    theirs = MemberFactory(merchant=other_merchant, phone="+8613812345678")

    response = _client(staff_user(bình.merchant, "merchant_admin")).get(_url(theirs))

    assert response.status_code == 404


def test_a_user_without_the_view_permission_is_refused(bình):
    nobody = staff_user(bình.merchant)

    assert _client(nobody).get(_url(bình.member)).status_code == 403


def test_actions_follow_the_users_permissions(bình):
    admin_actions = _client(staff_user(bình.merchant, "merchant_admin")).get(_url(bình.member))
    cashier_actions = _client(staff_user(bình.merchant, "cashier", stores=[bình.store_a])).get(
        _url(bình.member)
    )

    def urls(response):
        return {a["url"].split("?")[0] for a in response.context["actions"]}

    erase = reverse("admin:members_member_erase_page", args=[bình.member.pk])
    exclude = reverse("admin:members_member_exclude_page", args=[bình.member.pk])
    cashier = reverse("backoffice:cashier")
    assert {erase, exclude, cashier} <= urls(admin_actions)
    assert cashier in urls(cashier_actions)
    assert erase not in urls(cashier_actions) and exclude not in urls(cashier_actions)
    # A member who is already active is not offered "activate" (the member admin decides).
    activate = reverse("admin:members_member_activate_page", args=[bình.member.pk])
    assert activate not in urls(admin_actions)
    # Card operations (D5) link to the card admin's guided pages.
    lost = reverse("admin:cards_card_report_lost", args=[bình.card.pk])
    assert lost in admin_actions.content.decode()
    assert lost not in cashier_actions.content.decode()


def test_the_member_admin_page_links_to_member_360(bình):
    client = _client(staff_user(bình.merchant, "merchant_admin"))

    body = client.get(reverse("admin:members_member_change", args=[bình.member.pk])).content.decode()

    assert f'href="{_url(bình.member)}"' in body


def test_an_operator_sees_any_merchants_member(bình, django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "x"))

    response = client.get(_url(bình.member))

    assert response.status_code == 200 and response.context["view"].member == bình.member


def test_the_tier_and_why_the_member_holds_it(merchant):
    """F1: 1,200,000 đồng of ranking spend reach Silver (1,000,000); Gold (5,000,000) is 3,800,000 away."""
    from tessera.tiers import services as tiers
    from tessera.tiers.tests.factories import program

    program(merchant)
    s = shop(merchant)
    confirmed_sale(member=s.member, store=s.store_a, amount=1_200_000)
    tiers.evaluate_upgrade(member=s.member)

    response = _client(staff_user(merchant, "merchant_admin")).get(_url(s.member))

    status = response.context["view"].tier
    assert (status.tier.name, status.ranking, status.next_tier.name, status.missing) == (
        "Silver",
        1_200_000,
        "Gold",
        3_800_000,
    )
    body = response.content.decode()
    assert 'id="member-tier">Silver<' in body
    assert "3.800.000\xa0₫" in body and 'id="tier-why"' in body
