"""Back office for rewards (E6, E7, E8, B1, B2): scoped lists, fulfil/cancel actions, gift stock edits,
code search, the "Top up a card" page; another merchant's rows are 404."""

from __future__ import annotations

import pytest
from django.urls import reverse
from tests.factories import MemberFactory, StoreFactory, staff_user

from tessera.ledger.models import Account
from tessera.rewards import services
from tessera.rewards.models import Gift, GiftRedemption, RedemptionStatus
from tessera.rewards.tests.conftest import give_points, points_of
from tessera.rewards.tests.factories import GiftFactory, PromoCodeOfferFactory, TopUpBonusRuleFactory
from tessera.sales import stored_value
from tessera.sales.models import TopUp
from tessera.sales.tests.conftest import active_card

pytestmark = pytest.mark.django_db

TOP_UP = reverse("admin:sales_top_up")


@pytest.fixture
def theirs(other_merchant):
    """One of each row for another merchant."""
    store = StoreFactory(merchant=other_merchant)
    member = MemberFactory(merchant=other_merchant, phone="+8613800138000")
    give_points(member, store, 1000)
    gift = GiftFactory(merchant=other_merchant, name="别人的礼物")
    offer = PromoCodeOfferFactory(merchant=other_merchant, amount=500)
    card = active_card(member, kind="stored_value")
    return {
        "gift": gift,
        "giftredemption": services.request_gift(member=member, gift=gift),
        "promocodeoffer": offer,
        "promocode": services.redeem_points_for_code(member=member, offer=offer),
        "topupbonusrule": TopUpBonusRuleFactory(merchant=other_merchant, bonus_value=1),
        "topup": stored_value.top_up(card=card, amount=1000, payment_method="cash", store=store),
        "card": card,
    }


@pytest.mark.parametrize(
    ("app", "model"),
    [
        ("rewards", "gift"),
        ("rewards", "giftredemption"),
        ("rewards", "promocodeoffer"),
        ("rewards", "promocode"),
        ("rewards", "topupbonusrule"),
        ("sales", "topup"),
    ],
)
def test_a1_every_rewards_page_hides_another_merchants_rows(client, merchant, theirs, app, model):
    client.force_login(staff_user(merchant, "merchant_admin").user)

    listing = client.get(reverse(f"admin:{app}_{model}_changelist"))
    detail = client.get(reverse(f"admin:{app}_{model}_change", args=[theirs[model].pk]))

    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == []
    assert detail.status_code == 404


def test_e7_staff_fulfil_and_cancel_redemptions_from_the_list(client, merchant, store, member):
    give_points(member, store, 1000)
    gift = GiftFactory(merchant=merchant, points_cost=100, stock=5)
    handed, returned = (services.request_gift(member=member, gift=gift) for _i in range(2))
    client.force_login(staff_user(merchant, "store_manager").user)
    changelist = reverse("admin:rewards_giftredemption_changelist")

    client.post(changelist, {"action": "fulfil_selected", "_selected_action": [handed.pk]})
    client.post(changelist, {"action": "cancel_selected", "_selected_action": [returned.pk]})

    assert GiftRedemption.objects.get(pk=handed.pk).status == RedemptionStatus.FULFILLED
    assert GiftRedemption.objects.get(pk=returned.pk).status == RedemptionStatus.CANCELLED
    assert points_of(member) == 900
    assert Gift.objects.get(pk=gift.pk).stock == 4


def test_e7_a_cashier_cannot_cancel_redemptions(client, merchant, store, member):
    give_points(member, store, 1000)
    redemption = services.request_gift(member=member, gift=GiftFactory(merchant=merchant))
    client.force_login(staff_user(merchant, "cashier").user)

    client.post(
        reverse("admin:rewards_giftredemption_changelist"),
        {"action": "cancel_selected", "_selected_action": [redemption.pk]},
    )

    assert GiftRedemption.objects.get(pk=redemption.pk).status == RedemptionStatus.REQUESTED


def test_e7_editing_a_gift_adds_to_the_stock_left_instead_of_overwriting_it(client, merchant, store, member):
    gift = GiftFactory(merchant=merchant, name="Mug", points_cost=100, stock=5)
    give_points(member, store, 100)
    client.force_login(staff_user(merchant, "marketing").user)
    page = reverse("admin:rewards_gift_change", args=[gift.pk])
    client.get(page)  # the form is read while stock is 5 …
    services.request_gift(member=member, gift=gift)  # … a member takes one meanwhile …

    saved = client.post(page, {"name": "Mug", "points_cost": 120, "stock_change": 10, "is_active": "on"})

    assert saved.status_code == 302, saved.context["adminform"].form.errors if saved.context else saved
    gift.refresh_from_db()
    assert (gift.stock, gift.points_cost, gift.updated_by.username) == (
        14,
        120,
        saved.wsgi_request.user.username,
    )


def test_e7_a_new_gift_belongs_to_the_staff_members_merchant(client, merchant):
    client.force_login(staff_user(merchant, "marketing").user)

    client.post(
        reverse("admin:rewards_gift_add"),
        {"name": "Túi vải", "points_cost": 300, "stock_change": 20, "is_active": "on"},
    )

    gift = Gift.objects.get()
    assert (gift.merchant, gift.stock, gift.points_cost) == (merchant, 20, 300)


def test_e8_codes_are_found_by_code_as_printed(client, merchant, store, member):
    give_points(member, store, 1000)
    code = services.redeem_points_for_code(member=member, offer=PromoCodeOfferFactory(merchant=merchant))
    other = services.redeem_points_for_code(member=member, offer=PromoCodeOfferFactory(merchant=merchant))
    client.force_login(staff_user(merchant, "cashier").user)
    printed = f"{code.code[:4].lower()}-{code.code[4:]}"

    found = client.get(reverse("admin:rewards_promocode_changelist"), {"q": printed})

    assert [row.pk for row in found.context["cl"].result_list] == [code.pk]
    assert other.pk != code.pk


def test_e6_staff_top_up_a_card_from_the_back_office(client, merchant, store, member):
    TopUpBonusRuleFactory(merchant=merchant, min_amount=1_000_000, bonus_value=100_000)
    card = active_card(member, kind="stored_value")
    cashier = staff_user(merchant, "cashier", stores=[store]).user
    client.force_login(cashier)
    assert client.get(TOP_UP).status_code == 200
    assert client.get(reverse("admin:sales_topup_add")).status_code == 200

    done = client.post(
        TOP_UP,
        {
            "card_number": card.number,
            "amount": 1_000_000,
            "payment_method": "cash",
            "store": store.pk,
            "invoice": "NT-7",
        },
    )

    assert done.status_code == 302
    record = TopUp.objects.get()
    assert (record.amount, record.bonus_value, record.created_by) == (1_000_000, 100_000, cashier)
    card.refresh_from_db()
    assert Account.objects.get(pk=card.account_id).balance == 1_100_000


def test_a1_the_top_up_page_cannot_reach_another_merchants_card_or_store(client, merchant, store, theirs):
    client.force_login(staff_user(merchant, "merchant_admin").user)
    other_store = theirs["topup"].store

    foreign_card = client.post(
        TOP_UP,
        {"card_number": theirs["card"].number, "amount": 1000, "payment_method": "cash", "store": store.pk},
    )
    foreign_store = client.post(
        TOP_UP,
        {
            "card_number": theirs["card"].number,
            "amount": 1000,
            "payment_method": "cash",
            "store": other_store.pk,
        },
    )

    assert foreign_card.status_code == 200
    assert "card_number" in foreign_card.context["form"].errors
    assert "store" in foreign_store.context["form"].errors
    assert TopUp.objects.count() == 1  # theirs only


def test_b1_staff_without_the_right_cannot_open_the_top_up_page(client, merchant):
    client.force_login(staff_user(merchant, "marketing").user)

    assert client.get(TOP_UP).status_code == 403


def test_e6_the_top_up_page_shows_why_it_refused(client, merchant, store, member):
    points_card = active_card(member)
    client.force_login(staff_user(merchant, "cashier").user)

    refused = client.post(
        TOP_UP,
        {"card_number": points_card.number, "amount": 1000, "payment_method": "cash", "store": store.pk},
    )

    assert refused.status_code == 200
    assert refused.context["form"].non_field_errors()
    assert not TopUp.objects.exists()
