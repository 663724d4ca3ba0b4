"""Factories of the marketing tests."""

from __future__ import annotations

import factory
from tests.factories import MerchantFactory

from tessera.marketing.models import ChannelKind, MessageTemplate


class TemplateFactory(factory.django.DjangoModelFactory[MessageTemplate]):
    class Meta:
        model = MessageTemplate

    merchant = factory.SubFactory(MerchantFactory)
    name = factory.Sequence(lambda n: f"Template {n}")
    channel = ChannelKind.SMS
    body_vi = "Chào {{ name }}, bạn có {{ points }} điểm."
    body_en = "Hi {{ name }}, you have {{ points }} points."
