"""E7: members exchange points for gifts from a catalogue with stock and per-member limits."""

from __future__ import annotations

import pytest
from tests.factories import MemberFactory, staff_user

from tessera.core.errors import DomainError
from tessera.ledger.models import Entry, EntryKind
from tessera.members.models import MemberStatus
from tessera.rewards import selectors, services
from tessera.rewards.models import Gift, GiftRedemption, RedemptionStatus
from tessera.rewards.tests.conftest import give_points, points_of
from tessera.rewards.tests.factories import GiftFactory

pytestmark = pytest.mark.django_db


def test_e7_redeeming_a_gift_spends_its_points_and_takes_it_from_stock(merchant, store, member):
    give_points(member, store, 500)
    gift = GiftFactory(merchant=merchant, name="Bình giữ nhiệt", points_cost=150, stock=3)

    redemption = services.request_gift(member=member, gift=gift, quantity=2, store=store)

    assert (redemption.status, redemption.points, redemption.quantity) == (RedemptionStatus.REQUESTED, 300, 2)
    assert points_of(member) == 200
    assert Gift.objects.get(pk=gift.pk).stock == 1
    assert (redemption.entry.kind, redemption.entry.amount, redemption.entry.source) == (
        EntryKind.SPEND,
        -300,
        f"gift:{redemption.pk}",
    )


def test_e7_short_points_change_nothing(merchant, store, member):
    give_points(member, store, 99)
    gift = GiftFactory(merchant=merchant, points_cost=100, stock=5)

    with pytest.raises(DomainError) as refused:
        services.request_gift(member=member, gift=gift)

    assert refused.value.code == "insufficient_balance"
    assert (Gift.objects.get(pk=gift.pk).stock, GiftRedemption.objects.count(), points_of(member)) == (
        5,
        0,
        99,
    )


def test_e7_a_gift_out_of_stock_is_refused(merchant, store, member):
    give_points(member, store, 1000)
    gift = GiftFactory(merchant=merchant, points_cost=100, stock=1)
    services.request_gift(member=member, gift=gift)

    with pytest.raises(DomainError) as refused:
        services.request_gift(member=member, gift=gift)

    assert refused.value.code == "out_of_stock"
    assert points_of(member) == 900


def test_e7_per_member_limit_counts_what_the_member_holds(merchant, store, member):
    give_points(member, store, 1000)
    gift = GiftFactory(merchant=merchant, points_cost=100, stock=10, per_member_limit=2)
    first = services.request_gift(member=member, gift=gift)
    services.request_gift(member=member, gift=gift)

    with pytest.raises(DomainError) as refused:
        services.request_gift(member=member, gift=gift)
    assert refused.value.code == "gift_limit_reached"
    assert refused.value.detail == {"limit": 2, "redeemed": 2}

    services.cancel_gift_redemption(redemption=first)
    services.request_gift(member=member, gift=gift)  # a cancelled one frees its place
    other = MemberFactory(merchant=merchant)
    give_points(other, store, 100)
    services.request_gift(member=other, gift=gift)  # the limit is per member
    assert Gift.objects.get(pk=gift.pk).stock == 7


def test_e7_cancelling_gives_the_points_and_the_stock_back(merchant, store, member):
    give_points(member, store, 500)
    gift = GiftFactory(merchant=merchant, points_cost=200, stock=4)
    redemption = services.request_gift(member=member, gift=gift)
    assert points_of(member) == 300

    services.cancel_gift_redemption(redemption=redemption, reason="Changed their mind")

    assert redemption.status == RedemptionStatus.CANCELLED
    assert points_of(member) == 500
    assert Gift.objects.get(pk=gift.pk).stock == 4
    reversal = Entry.objects.get(reverses=redemption.entry)
    assert (reversal.kind, reversal.amount) == (EntryKind.REVERSAL, 200)
    assert redemption.reversal_entry == reversal
    with pytest.raises(DomainError) as again:
        services.cancel_gift_redemption(redemption=redemption)
    assert again.value.code == "not_requested"
    assert points_of(member) == 500


def test_e7_a_fulfilled_redemption_cannot_be_cancelled(merchant, store, member):
    give_points(member, store, 500)
    redemption = services.request_gift(member=member, gift=GiftFactory(merchant=merchant))
    cashier = staff_user(merchant, "cashier").user

    services.fulfil_gift_redemption(redemption=redemption, actor=cashier)

    assert (redemption.status, redemption.updated_by) == (RedemptionStatus.FULFILLED, cashier)
    with pytest.raises(DomainError) as refused:
        services.cancel_gift_redemption(redemption=redemption)
    assert refused.value.code == "not_requested"
    assert points_of(member) == 400


def test_e7_cashiers_may_not_cancel_redemptions(merchant, store, member):
    give_points(member, store, 500)
    redemption = services.request_gift(member=member, gift=GiftFactory(merchant=merchant))

    with pytest.raises(DomainError) as refused:
        services.cancel_gift_redemption(redemption=redemption, actor=staff_user(merchant, "cashier").user)

    assert refused.value.code == "permission_denied"


def test_c2_an_excluded_member_cannot_redeem(merchant, store, member):
    give_points(member, store, 500)
    member.status = MemberStatus.EXCLUDED
    member.save(update_fields=["status"])

    with pytest.raises(DomainError) as refused:
        services.request_gift(member=member, gift=GiftFactory(merchant=merchant))

    assert refused.value.code == "member_not_active"


def test_e7_inactive_gifts_and_other_merchants_gifts_are_refused(merchant, other_merchant, store, member):
    give_points(member, store, 500)

    with pytest.raises(DomainError) as inactive:
        services.request_gift(member=member, gift=GiftFactory(merchant=merchant, is_active=False))
    with pytest.raises(DomainError) as foreign:
        services.request_gift(member=member, gift=GiftFactory(merchant=other_merchant))

    assert (inactive.value.code, foreign.value.code) == ("gift_unavailable", "not_found")
    assert points_of(member) == 500


def test_e7_gifts_for_a_member_shows_what_they_already_hold(merchant, other_merchant, store, member):
    give_points(member, store, 500)
    mug = GiftFactory(merchant=merchant, name="Mug", points_cost=100, per_member_limit=3)
    GiftFactory(merchant=merchant, name="Sold out", stock=0)
    GiftFactory(merchant=other_merchant, name="Theirs")
    services.request_gift(member=member, gift=mug, quantity=2)

    listed = {gift.name: gift.redeemed_by_member for gift in selectors.gifts_for(member)}

    assert listed == {"Mug": 2}
