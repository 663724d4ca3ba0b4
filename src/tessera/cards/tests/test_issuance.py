"""D4: controlled issuance — finance initialises, a store receives, a cashier sells, a second person
confirms; nobody makes two steps in a row, and a cashier acts only in their own store."""

from __future__ import annotations

import pytest

from tessera.cards import services
from tessera.cards.models import Card, CardEventKind, CardStatus
from tessera.core.errors import Conflict, PermissionDenied, ValidationFailed
from tessera.members.models import Member

pytestmark = pytest.mark.django_db

SALE = {"phone": "0903 123 456", "payment_method": "cash", "invoice_number": "HD-0042", "amount": 500_000}


@pytest.fixture
def sold_type(points_type):
    points_type.requires_sale = True
    points_type.save()
    return points_type


@pytest.fixture
def batch(merchant, sold_type, finance):
    return services.generate_batch(merchant=merchant, card_type=sold_type, quantity=3, actor=finance)


@pytest.fixture
def assigned(batch, finance2, manager, store):
    services.initialise_batch(batch=batch, actor=finance2)
    services.assign_to_store(batch=batch, store=store, actor=manager)
    return batch


def first_card(batch):
    return Card.objects.filter(batch=batch).order_by("number").first()


def test_four_people_take_a_card_from_batch_to_active_D4(merchant, assigned, store, cashier, finance):
    card = first_card(assigned)
    assert (card.status, card.store) == (CardStatus.ASSIGNED, store)

    services.sell_card(card=card, actor=cashier, store=store, **SALE)
    card.refresh_from_db()
    assert card.status == CardStatus.SOLD
    assert (card.payment_method, card.invoice_number, card.amount) == ("cash", "HD-0042", 500_000)
    assert card.member == Member.objects.of(merchant).get(phone="+84903123456")

    services.confirm_sale(card=card, actor=finance)
    card.refresh_from_db()
    assert card.status == CardStatus.ACTIVE
    assert card.activated_at is not None
    assert list(card.events.order_by("at", "pk").values_list("kind", "actor__username")) == [
        (CardEventKind.GENERATED, "finance-1"),
        (CardEventKind.INITIALISED, "finance-2"),
        (CardEventKind.ASSIGNED, "manager-1"),
        (CardEventKind.SOLD, "cashier-1"),
        (CardEventKind.CONFIRMED, "finance-1"),
    ]
    sold = card.events.get(kind=CardEventKind.SOLD)
    assert sold.data == {
        "member": card.member_id,
        "payment_method": "cash",
        "invoice_number": "HD-0042",
        "amount": 500_000,
    }
    assert sold.store == store


def test_initialise_fixes_the_type_of_every_card_of_the_batch_D4(merchant, batch, finance2, prepaid_type):
    count = services.initialise_batch(batch=batch, actor=finance2, card_type=prepaid_type)

    assert count == 3
    assert set(Card.objects.filter(batch=batch).values_list("status", "type")) == {
        (CardStatus.INITIALISED, prepaid_type.pk)
    }
    batch.refresh_from_db()
    assert batch.type == prepaid_type and batch.initialised_at is not None


def test_the_person_who_generated_a_batch_cannot_initialise_it_D4(batch, finance):
    with pytest.raises(PermissionDenied) as error:
        services.initialise_batch(batch=batch, actor=finance)
    assert error.value.code == "same_person"
    assert set(Card.objects.filter(batch=batch).values_list("status", flat=True)) == {CardStatus.GENERATED}


def test_the_seller_cannot_confirm_their_own_sale_D4(assigned, store, manager, merchant):
    from tests.factories import staff_user

    seller = staff_user(merchant, "store_manager", stores=[store], username="manager-2").user
    card = first_card(assigned)
    services.sell_card(card=card, actor=seller, store=store, **SALE)

    with pytest.raises(PermissionDenied) as error:
        services.confirm_sale(card=card, actor=seller)
    assert error.value.code == "same_person"
    card.refresh_from_db()
    assert card.status == CardStatus.SOLD


def test_the_one_who_assigned_a_card_cannot_also_sell_it_D4(assigned, store, manager):
    with pytest.raises(PermissionDenied) as error:
        services.sell_card(card=first_card(assigned), actor=manager, store=store, **SALE)
    assert error.value.code == "same_person"


def test_a_cashier_cannot_sell_a_card_assigned_to_another_store_B2(assigned, store, store2, cashier2):
    card = first_card(assigned)
    with pytest.raises(PermissionDenied) as error:
        services.sell_card(card=card, actor=cashier2, store=store2, **SALE)
    assert error.value.code == "wrong_store"
    with pytest.raises(PermissionDenied) as error:
        services.sell_card(card=card, actor=cashier2, store=store, **SALE)
    assert error.value.code == "wrong_store"
    card.refresh_from_db()
    assert (card.status, card.member_id) == (CardStatus.ASSIGNED, None)


def test_a_store_manager_cannot_assign_cards_to_a_store_not_theirs_B2(batch, finance2, manager, store2):
    services.initialise_batch(batch=batch, actor=finance2)
    with pytest.raises(PermissionDenied) as error:
        services.assign_to_store(batch=batch, store=store2, actor=manager)
    assert error.value.code == "wrong_store"


def test_steps_cannot_be_skipped_D4(batch, finance2, cashier, store):
    card = first_card(batch)
    with pytest.raises(Conflict) as error:
        services.sell_card(card=card, actor=cashier, store=store, **SALE)
    assert error.value.code == "invalid_transition"
    with pytest.raises(Conflict) as error:
        services.confirm_sale(card=card, actor=finance2)
    assert error.value.code == "invalid_transition"
    services.initialise_batch(batch=batch, actor=finance2)
    with pytest.raises(Conflict) as error:
        services.initialise_batch(batch=batch, actor=finance2)
    assert error.value.code == "invalid_transition"


def test_only_some_cards_of_a_batch_may_go_to_a_store_D4(batch, finance2, admin_user, store, store2):
    services.initialise_batch(batch=batch, actor=finance2)
    numbers = list(Card.objects.filter(batch=batch).order_by("number").values_list("number", flat=True))

    assert services.assign_to_store(batch=batch, store=store, actor=admin_user, numbers=numbers[:2]) == 2
    services_store2 = services.assign_to_store(
        batch=batch, store=store2, actor=admin_user, numbers=numbers[2:]
    )

    assert services_store2 == 1
    assert dict(Card.objects.filter(batch=batch).values_list("number", "store")) == {
        numbers[0]: store.pk,
        numbers[1]: store.pk,
        numbers[2]: store2.pk,
    }
    with pytest.raises(Conflict) as error:
        services.assign_to_store(batch=batch, store=store, actor=admin_user, numbers=[numbers[0]])
    assert error.value.code == "invalid_transition"


def test_each_step_needs_its_permission_B1(batch, cashier, store, merchant):
    with pytest.raises(PermissionDenied) as error:
        services.initialise_batch(batch=batch, actor=cashier)
    assert error.value.code == "permission_denied"


def test_issuance_steps_need_a_signed_in_person_D4(batch):
    with pytest.raises(PermissionDenied) as error:
        services.initialise_batch(batch=batch, actor=None)
    assert error.value.code == "actor_required"


def test_a_sale_records_an_invoice_and_a_known_payment_method_D4(assigned, store, cashier):
    card = first_card(assigned)
    with pytest.raises(ValidationFailed) as error:
        services.sell_card(card=card, actor=cashier, store=store, **{**SALE, "invoice_number": " "})
    assert error.value.code == "invoice_required"
    with pytest.raises(ValidationFailed) as error:
        services.sell_card(card=card, actor=cashier, store=store, **{**SALE, "payment_method": "gold"})
    assert error.value.code == "invalid_payment_method"
    with pytest.raises(ValidationFailed) as error:
        services.sell_card(card=card, actor=cashier, store=store, **{**SALE, "amount": -1})
    assert error.value.code == "invalid_amount"
    card.refresh_from_db()
    assert card.status == CardStatus.ASSIGNED
