"""Scheduled sales work: abandoned pending sales give their holds back (E2, E11)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tessera.ledger.models import HoldStatus
from tessera.sales.models import TransactionStatus
from tessera.sales.tasks import ABANDONED, void_abandoned_sales
from tessera.sales.tests.test_services import give_points, points, sale

pytestmark = pytest.mark.django_db


def test_e2_a_sale_left_pending_past_the_timeout_is_voided_and_its_points_spendable_again(
    merchant, store, member, settings
):
    settings.SALES_PENDING_TIMEOUT_MINUTES = 30
    give_points(member, store, 300)
    abandoned = sale(merchant, store, member, points_to_spend=100)
    assert points(member).spendable == 200

    voided = void_abandoned_sales(now=timezone.now() + timedelta(minutes=31))

    abandoned.refresh_from_db()
    assert voided == 1
    assert (abandoned.status, abandoned.void_reason) == (TransactionStatus.VOIDED, ABANDONED)
    assert abandoned.points_hold.status == HoldStatus.RELEASED
    assert (points(member).balance, points(member).spendable) == (300, 300)


def test_e2_a_sale_still_within_the_timeout_or_confirmed_is_left_alone(merchant, store, member, settings):
    settings.SALES_PENDING_TIMEOUT_MINUTES = 30
    give_points(member, store, 300)
    fresh = sale(merchant, store, member, points_to_spend=100)

    assert void_abandoned_sales(now=timezone.now() + timedelta(minutes=29)) == 0

    fresh.refresh_from_db()
    assert fresh.status == TransactionStatus.PENDING
    assert points(member).held == 100
