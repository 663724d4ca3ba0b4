"""D3: an anonymous card handed out is activated later and bound to the member with a phone."""

from __future__ import annotations

import pytest
from tests.factories import MemberFactory

from tessera.cards import services
from tessera.cards.models import CardEventKind, CardStatus
from tessera.cards.tests.helpers import stock_card
from tessera.core.errors import Conflict, PermissionDenied
from tessera.members.models import Member

pytestmark = pytest.mark.django_db


def test_activating_a_card_registers_a_new_member_by_phone_D3(merchant, points_type, cashier, store):
    card = stock_card(points_type)

    services.activate_card(card=card, phone="0903 123 456", actor=cashier, store=store)

    card.refresh_from_db()
    member = Member.objects.of(merchant).get(phone="+84903123456")
    assert (card.status, card.member, card.store) == (CardStatus.ACTIVE, member, store)
    event = card.events.get(kind=CardEventKind.ACTIVATED)
    assert (event.actor, event.store, event.data) == (cashier, store, {"member": member.pk})


def test_activating_a_card_binds_an_existing_member_D3(merchant, points_type):
    member = MemberFactory(merchant=merchant, phone="+84903123456")
    card = services.activate_card(card=stock_card(points_type), phone="0903123456")

    assert card.member == member
    assert Member.objects.of(merchant).count() == 1


def test_activating_again_with_the_same_phone_changes_nothing_but_another_phone_is_refused_D3(
    merchant, points_type
):
    card = services.activate_card(card=stock_card(points_type), phone="0903 123 456")
    again = services.activate_card(card=card, phone="+84903123456")

    assert again.member == card.member
    assert card.events.filter(kind=CardEventKind.ACTIVATED).count() == 1
    with pytest.raises(Conflict) as error:
        services.activate_card(card=card, phone="0912 345 678")
    assert error.value.code == "invalid_transition"


def test_a_card_type_sold_under_control_cannot_be_simply_activated_D4(prepaid_type):
    card = stock_card(prepaid_type)
    with pytest.raises(Conflict) as error:
        services.activate_card(card=card, phone="0903 123 456")
    assert error.value.code == "sale_required"
    card.refresh_from_db()
    assert (card.status, card.member_id) == (CardStatus.GENERATED, None)


def test_a_cashier_activates_merchant_wide_stock_but_not_another_stores_cards_B2(
    merchant, points_type, finance, finance2, admin_user, store, cashier2
):
    merchant_wide = stock_card(points_type)
    services.activate_card(card=merchant_wide, phone="0903 123 456", actor=cashier2)
    merchant_wide.refresh_from_db()
    assert merchant_wide.status == CardStatus.ACTIVE

    batch = services.generate_batch(merchant=merchant, card_type=points_type, quantity=1, actor=finance)
    services.initialise_batch(batch=batch, actor=finance2)
    services.assign_to_store(batch=batch, store=store, actor=admin_user)
    store_card = batch.cards.get()
    with pytest.raises(PermissionDenied) as error:
        services.activate_card(card=store_card, phone="0912 345 678", actor=cashier2)
    assert error.value.code == "wrong_store"


def test_a_store_api_key_cannot_activate_another_stores_stock_B2(
    merchant, points_type, finance, finance2, admin_user, store, store2
):
    batch = services.generate_batch(merchant=merchant, card_type=points_type, quantity=1, actor=finance)
    services.initialise_batch(batch=batch, actor=finance2)
    services.assign_to_store(batch=batch, store=store, actor=admin_user)

    with pytest.raises(PermissionDenied) as error:
        services.activate_card(card=batch.cards.get(), phone="0903 123 456", store=store2)
    assert error.value.code == "wrong_store"


def test_a_marketing_user_cannot_activate_cards_B1(merchant, points_type):
    from tests.factories import staff_user

    marketer = staff_user(merchant, "marketing").user
    with pytest.raises(PermissionDenied) as error:
        services.activate_card(card=stock_card(points_type), phone="0903 123 456", actor=marketer)
    assert error.value.code == "permission_denied"
