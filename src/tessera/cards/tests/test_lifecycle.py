"""D5: report lost, cancel the report, replace, recycle, supplementary sub-cards."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from tessera.cards import selectors, services
from tessera.cards.models import Card, CardEventKind, CardStatus
from tessera.cards.tests.helpers import active_card, stock_card
from tessera.core.errors import Conflict, PermissionDenied, ValidationFailed

pytestmark = pytest.mark.django_db


def test_a_lost_card_is_found_but_refused_until_the_report_is_cancelled_D5(merchant, points_type, manager):
    card = active_card(points_type)

    services.report_lost(card=card, actor=manager, note="Khách báo mất")
    found = selectors.find_card(merchant=merchant, code=card.number)
    assert found.status == CardStatus.LOST
    with pytest.raises(Conflict) as error:
        services.ensure_usable(found)
    assert error.value.code == "card_not_usable"

    services.cancel_loss_report(card=card, actor=manager)
    found = selectors.find_card(merchant=merchant, code=card.number)
    services.ensure_usable(found)
    assert (found.status, found.lost_at) == (CardStatus.ACTIVE, None)
    assert list(found.events.order_by("pk").values_list("kind", flat=True))[-2:] == [
        CardEventKind.LOST,
        CardEventKind.LOSS_CANCELLED,
    ]
    assert found.events.get(kind=CardEventKind.LOST).note == "Khách báo mất"


def test_stock_and_unconfirmed_cards_are_not_usable_D4(points_type):
    with pytest.raises(Conflict) as error:
        services.ensure_usable(stock_card(points_type))
    assert error.value.code == "card_not_usable"


def test_only_an_active_card_can_be_reported_lost_D5(points_type):
    with pytest.raises(Conflict) as error:
        services.report_lost(card=stock_card(points_type))
    assert error.value.code == "invalid_transition"


def test_a_cashier_cannot_report_a_card_lost_B1(points_type, cashier):
    card = active_card(points_type)
    with pytest.raises(PermissionDenied) as error:
        services.report_lost(card=card, actor=cashier)
    assert error.value.code == "permission_denied"


def test_replacing_a_lost_card_gives_a_new_number_to_the_same_member_and_blocks_the_old_D5(
    merchant, points_type, manager
):
    card = active_card(points_type)
    services.report_lost(card=card, actor=manager)

    new = services.replace_card(card=card, actor=manager)

    card.refresh_from_db()
    assert new.number != card.number
    assert (new.status, new.member, new.type) == (CardStatus.ACTIVE, card.member, points_type)
    assert (card.status, card.replaced_by) == (CardStatus.BLOCKED, new)
    assert selectors.find_card(merchant=merchant, code=new.number) == new
    assert card.events.filter(kind=CardEventKind.REPLACED, data__new_number=new.number).exists()
    assert new.events.filter(kind=CardEventKind.ISSUED_AS_REPLACEMENT, data__old_number=card.number).exists()
    with pytest.raises(Conflict) as error:
        services.ensure_usable(card)
    assert error.value.code == "card_not_usable"


def test_a_replacement_can_be_a_pre_printed_card_from_stock_D5(points_type, manager):
    card = active_card(points_type)
    spare = stock_card(points_type)

    new = services.replace_card(
        card=card, actor=manager, new_number=f" {spare.number[:4]}-{spare.number[4:]} "
    )

    assert new.pk == spare.pk
    assert (new.status, new.member) == (CardStatus.ACTIVE, card.member)


def test_a_replacement_must_be_an_unused_stock_card_D5(points_type, manager):
    card = active_card(points_type)
    other = active_card(points_type, phone="0912 345 678")
    with pytest.raises(ValidationFailed) as error:
        services.replace_card(card=card, actor=manager, new_number=other.number)
    assert error.value.code == "replacement_not_in_stock"


def test_sub_cards_follow_the_main_card_to_its_replacement_D5(points_type, manager):
    main = active_card(points_type)
    sub = services.issue_sub_card(main_card=main, actor=manager)

    new = services.replace_card(card=main, actor=manager)

    sub.refresh_from_db()
    assert sub.parent == new


def test_a_sub_card_shares_the_main_cards_member_D5(points_type, manager):
    main = active_card(points_type)

    sub = services.issue_sub_card(main_card=main, actor=manager)

    assert sub.number != main.number
    assert (sub.parent, sub.member, sub.account_id, sub.status) == (
        main,
        main.member,
        main.account_id,
        CardStatus.ACTIVE,
    )
    assert main.events.filter(kind=CardEventKind.SUB_CARD_ISSUED, data__sub_number=sub.number).exists()
    with pytest.raises(ValidationFailed) as error:
        services.issue_sub_card(main_card=sub, actor=manager)
    assert error.value.code == "not_a_main_card"


def test_a_lost_card_gets_no_sub_cards_D5(points_type, manager):
    main = active_card(points_type)
    services.report_lost(card=main, actor=manager)
    with pytest.raises(Conflict) as error:
        services.issue_sub_card(main_card=main, actor=manager)
    assert error.value.code == "card_not_usable"


def test_a_recycled_number_goes_to_a_new_owner_while_the_old_history_stays_D5(merchant, points_type, manager):
    card = active_card(points_type)
    old_member = card.member
    services.report_lost(card=card, actor=manager)

    fresh = services.recycle_card(card=card, actor=manager)

    card.refresh_from_db()
    assert (card.status, card.member, card.recycled_at is not None) == (CardStatus.RECYCLED, old_member, True)
    assert [e.kind for e in card.events.order_by("pk")] == [
        CardEventKind.GENERATED,
        CardEventKind.ACTIVATED,
        CardEventKind.LOST,
        CardEventKind.RECYCLED,
    ]
    assert (fresh.number, fresh.member, fresh.status) == (card.number, None, CardStatus.INITIALISED)
    assert selectors.find_card(merchant=merchant, code=card.number) == fresh

    reissued = services.activate_card(card=fresh, phone="0912 345 678")
    assert reissued.member != old_member
    assert [e.kind for e in reissued.events.order_by("pk")] == [
        CardEventKind.GENERATED,
        CardEventKind.ACTIVATED,
    ]
    assert Card.objects.of(merchant).filter(number=card.number).count() == 2


def test_a_number_is_unique_per_merchant_among_cards_not_recycled_D2(merchant, points_type):
    card = stock_card(points_type)
    with pytest.raises(IntegrityError), transaction.atomic():
        Card.objects.create(merchant=merchant, type=points_type, number=card.number)


def test_a_card_with_live_sub_cards_is_not_recycled_D5(points_type, manager):
    main = active_card(points_type)
    services.issue_sub_card(main_card=main, actor=manager)
    with pytest.raises(Conflict) as error:
        services.recycle_card(card=main, actor=manager)
    assert error.value.code == "has_sub_cards"


def test_stock_cards_are_not_recycled_D5(points_type, manager):
    with pytest.raises(Conflict) as error:
        services.recycle_card(card=stock_card(points_type), actor=manager)
    assert error.value.code == "invalid_transition"


def test_a_cashier_of_another_store_cannot_touch_a_stores_card_B2(merchant, points_type, store, store2):
    from tests.factories import staff_user

    other_manager = staff_user(merchant, "store_manager", stores=[store2]).user
    card = active_card(points_type, store=store)
    with pytest.raises(PermissionDenied) as error:
        services.report_lost(card=card, actor=other_manager)
    assert error.value.code == "wrong_store"
