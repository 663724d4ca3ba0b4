"""Factories for rewards tests."""

from __future__ import annotations

import factory
from tests.factories import MerchantFactory

from tessera.rewards.models import CodeValueKind, Gift, PromoCodeOffer, TopUpBonusRule


class GiftFactory(factory.django.DjangoModelFactory[Gift]):
    class Meta:
        model = Gift

    merchant = factory.SubFactory(MerchantFactory)
    name = factory.Sequence(lambda n: f"Gift {n}")
    points_cost = 100
    stock = 10


class PromoCodeOfferFactory(factory.django.DjangoModelFactory[PromoCodeOffer]):
    class Meta:
        model = PromoCodeOffer

    merchant = factory.SubFactory(MerchantFactory)
    name = factory.Sequence(lambda n: f"Offer {n}")
    points_cost = 200
    value_kind = CodeValueKind.AMOUNT
    amount = 50_000
    validity_days = 30
    usage_limit = 1


class TopUpBonusRuleFactory(factory.django.DjangoModelFactory[TopUpBonusRule]):
    class Meta:
        model = TopUpBonusRule

    merchant = factory.SubFactory(MerchantFactory)
    name = factory.Sequence(lambda n: f"Bonus {n}")
    min_amount = 5000
