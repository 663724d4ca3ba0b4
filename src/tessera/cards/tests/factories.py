"""Factories for card tests."""

from __future__ import annotations

import factory
from tests.factories import MerchantFactory

from tessera.cards.models import CardKind, CardType


class CardTypeFactory(factory.django.DjangoModelFactory[CardType]):
    class Meta:
        model = CardType

    merchant = factory.SubFactory(MerchantFactory)
    name = factory.Sequence(lambda n: f"Card type {n}")
    kind = CardKind.POINTS
    number_prefix = "8868"
