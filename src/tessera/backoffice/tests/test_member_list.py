"""The member list's columns: points balance, tier and card, in the list's own statement (no query per
row), and the name opening the member 360 page, with an edit link beside it (issue 14, C6, B2)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from tests.factories import MemberFactory, staff_user

from tessera.backoffice.tests.shop import shop
from tessera.sales import services as sales
from tessera.tiers import services as tiers
from tessera.tiers.tests.factories import program, tier

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/members/member/"


def _row(page: str, name: str) -> str:
    """The list row that holds `name`."""
    return next(row for row in re.findall(r"<tr.*?</tr>", page, flags=re.S) if name in row)


def test_the_member_list_shows_points_tier_and_card_and_the_name_opens_the_360_page(client, merchant):
    s = shop(merchant)
    admin = staff_user(merchant, "merchant_admin")
    program(merchant)
    tiers.set_tier_manually(member=s.member, tier=tier(merchant, "gold"))
    sales.add_points(member=s.member, store=s.store_a, actor=admin.user, points=1_500)
    MemberFactory(merchant=merchant, full_name="Chưa Có Thẻ")
    client.force_login(admin.user)

    page = client.get(CHANGELIST).content.decode()

    row = _row(page, "Trần Thị Bình")
    assert f'href="{reverse("backoffice:member_360", args=[s.member.pk])}"' in row
    assert f'href="{reverse("admin:members_member_change", args=[s.member.pk])}"' in row
    # Gold's reward (100 points) came with the tier.
    assert "1.600" in row and "Gold" in row and s.card.number in row
    bare = _row(page, "Chưa Có Thẻ")
    assert ">0<" in bare and "—" in bare


def _list_statements(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(CHANGELIST)
    assert response.status_code == 200
    return len(queries)


def test_the_member_list_costs_the_same_statements_for_2_or_12_members(client, merchant):
    admin = staff_user(merchant, "merchant_admin")
    s = shop(merchant)
    program(merchant)
    client.force_login(admin.user)
    sales.add_points(member=s.member, store=s.store_a, actor=admin.user, points=10)
    MemberFactory(merchant=merchant)
    _list_statements(client)  # warms the caches a first page fills (permissions, settings)
    few = _list_statements(client)

    for n in range(10):
        member = MemberFactory(merchant=merchant, phone=f"+8490300{n:04d}")
        sales.add_points(member=member, store=s.store_a, actor=admin.user, points=n + 1)
        tiers.set_tier_manually(member=member, tier=tier(merchant, "silver"))
    many = _list_statements(client)

    assert many == few, f"{few} statements for 2 members, {many} for 12"


def test_a_replaced_member_has_no_edit_link(client, merchant):
    member = MemberFactory(merchant=merchant, full_name="Người Cũ")
    newer = MemberFactory(merchant=merchant, full_name="Người Mới", phone="+84903000999")
    member.superseded_by = newer
    member.save(update_fields=["superseded_by"])
    client.force_login(staff_user(merchant, "merchant_admin").user)

    row = _row(client.get(CHANGELIST).content.decode(), "Người Cũ")

    assert reverse("backoffice:member_360", args=[member.pk]) in row
    assert reverse("admin:members_member_change", args=[member.pk]) not in row
