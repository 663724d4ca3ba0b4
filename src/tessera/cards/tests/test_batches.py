"""D3, D6: batches of anonymous cards, numbered in sequence, generated in one go."""

from __future__ import annotations

import pytest

from tessera.cards import services
from tessera.cards.models import Card, CardEvent, CardEventKind, CardStatus
from tessera.cards.numbering import compose_number, is_valid_number
from tessera.cards.tests.factories import CardTypeFactory
from tessera.core.errors import PermissionDenied, ValidationFailed

pytestmark = pytest.mark.django_db


def test_generate_batch_creates_anonymous_numbered_cards_with_an_event_each_D3(
    merchant, points_type, finance
):
    batch = services.generate_batch(merchant=merchant, card_type=points_type, quantity=5, actor=finance)

    cards = list(Card.objects.of(merchant).filter(batch=batch).order_by("number"))
    assert [c.number for c in cards] == [compose_number("8868", n) for n in range(1, 6)]
    assert all(is_valid_number(c.number) for c in cards)
    assert {(c.status, c.member_id, c.store_id, c.type_id) for c in cards} == {
        (CardStatus.GENERATED, None, None, points_type.pk)
    }
    assert (batch.quantity, batch.first_number, batch.last_number) == (5, cards[0].number, cards[-1].number)
    events = CardEvent.objects.of(merchant).filter(card__batch=batch)
    assert events.count() == 5
    assert set(events.values_list("kind", "actor_id")) == {(CardEventKind.GENERATED, finance.pk)}


def test_numbers_continue_across_batches_and_each_merchant_counts_alone_D2(
    merchant, other_merchant, points_type, finance
):
    services.generate_batch(merchant=merchant, card_type=points_type, quantity=3, actor=finance)
    second = services.generate_batch(merchant=merchant, card_type=points_type, quantity=2, actor=finance)
    foreign_type = CardTypeFactory(merchant=other_merchant, number_prefix="8868")
    foreign = services.generate_batch(merchant=other_merchant, card_type=foreign_type, quantity=1)

    assert second.first_number == compose_number("8868", 4)
    assert foreign.first_number == compose_number("8868", 1)


def test_batch_prefix_overrides_the_type_prefix_D2(merchant, points_type):
    batch = services.generate_batch(merchant=merchant, card_type=points_type, quantity=1, prefix="12")
    assert batch.first_number == compose_number("12", 1)


def test_ten_thousand_cards_are_generated_in_a_handful_of_queries_D3(
    merchant, points_type, finance, django_assert_max_num_queries
):
    with django_assert_max_num_queries(600):
        batch = services.generate_batch(
            merchant=merchant, card_type=points_type, quantity=10_000, actor=finance
        )

    assert Card.objects.of(merchant).filter(batch=batch).count() == 10_000
    assert CardEvent.objects.of(merchant).filter(card__batch=batch).count() == 10_000
    assert batch.last_number == compose_number("8868", 10_000)


def test_a_card_type_of_another_merchant_is_refused(merchant, other_merchant):
    foreign_type = CardTypeFactory(merchant=other_merchant)
    with pytest.raises(ValidationFailed) as error:
        services.generate_batch(merchant=merchant, card_type=foreign_type, quantity=1)
    assert error.value.code == "cross_merchant"
    assert not Card.objects.exists()


@pytest.mark.parametrize("quantity", [0, -1, 100_001])
def test_batch_quantity_must_be_sensible(merchant, points_type, quantity):
    with pytest.raises(ValidationFailed) as error:
        services.generate_batch(merchant=merchant, card_type=points_type, quantity=quantity)
    assert error.value.code == "invalid_quantity"


def test_a_cashier_cannot_generate_cards_B1(merchant, points_type, cashier):
    with pytest.raises(PermissionDenied) as error:
        services.generate_batch(merchant=merchant, card_type=points_type, quantity=1, actor=cashier)
    assert error.value.code == "permission_denied"
    assert not Card.objects.exists()


def test_staff_of_another_merchant_cannot_generate_cards(merchant, other_merchant, points_type):
    from tests.factories import staff_user

    intruder = staff_user(other_merchant, "merchant_admin").user
    with pytest.raises(PermissionDenied) as error:
        services.generate_batch(merchant=merchant, card_type=points_type, quantity=1, actor=intruder)
    assert error.value.code == "cross_merchant"
