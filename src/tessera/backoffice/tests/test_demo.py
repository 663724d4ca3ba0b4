"""The demo gives the back-office pages something to show: cards, a month of sales, points added,
deducted and expired, and stored value — built through the services, with a ledger that adds up."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from tessera.backoffice.selectors import Scope, dashboard_figures
from tessera.cards.models import Card, CardStatus
from tessera.ledger.selectors import verify_ledger
from tessera.sales.models import Transaction, TransactionStatus
from tessera.tenancy.models import Merchant

pytestmark = pytest.mark.django_db


def test_the_demo_has_cards_sales_and_figures_and_is_seeded_once():
    call_command("seed_demo", stdout=StringIO())
    pho = Merchant.objects.get(slug="pho-ha-noi")
    sales = Transaction.objects.of(pho).count()

    month = timezone.localdate(timezone=pho.tz) - timedelta(days=29)
    figures = dashboard_figures(scope=Scope(merchant=pho), start=month)  # the demo's month of sales

    assert Card.objects.of(pho).filter(status=CardStatus.ACTIVE).count() == 35
    assert sales == Transaction.objects.of(pho).filter(status=TransactionStatus.CONFIRMED).count() > 60
    assert figures.sales_count == sales and figures.points_spent > 0 and figures.points_expired > 0
    assert figures.stored_value_outstanding == 4 * 500_000
    assert verify_ledger() == []

    call_command("seed_demo", stdout=StringIO())

    assert Transaction.objects.of(pho).count() == sales
